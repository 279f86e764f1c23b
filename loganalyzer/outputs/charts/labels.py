"""What a chart says about a report's rows: place labels, the subtitle, the columns it reads.

:func:`place_label` names a row whatever its keys (a province, a country, a
network, a bucket such as non-public addresses); :func:`subtitle` is the
provenance line under every title (time range, log files, database builds).
Also here: which columns of the rows are places, the time bucket and watched
places.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from loganalyzer import schema as S
from loganalyzer.errors import UsageError
from loganalyzer.outputs.charts.style import _name
from loganalyzer.outputs.render import safe_text

ANONYMIZED = S.REQUESTS_ANONYMIZED
"""Column added by the anonymizer verdicts; when present, bars split direct from anonymized."""

_BUCKETS = {
    "not_public": "(non-public addresses)",
    "not_found": "(not in the database)",
    "invalid_ip": "(not an IP address)",
}


def place_label(row: dict[str, Any]) -> str:
    """A readable label for one report row, whatever its keys.

    Examples:
        >>> place_label({"geo_status": "ok", "country_iso": "CN", "country": "China",
        ...              "region_iso": "CN-LN", "region": "Liaoning"})
        'Liaoning, China (CN-LN)'
        >>> place_label({"geo_status": "ok", "country_iso": "SE", "country": "Sweden",
        ...              "region_iso": None, "region": None})
        'Sweden (SE, province unknown)'
        >>> place_label({"geo_status": "not_public", "country_iso": None, "country": None})
        '(non-public addresses)'
        >>> place_label({"asn": 4837, "as_org": "CHINA UNICOM China169 Backbone"})
        'AS4837 CHINA UNICOM China169 Backbone'
    """
    status = row.get(S.GEO_STATUS)
    if status in _BUCKETS and row.get(S.COUNTRY_ISO) is None and row.get(S.ASN) is None:
        return _BUCKETS[status]
    if S.ASN in row:
        asn = row.get(S.ASN)
        if asn is None:
            return "(no network data)"
        org = _name(row.get(S.AS_ORG), "")
        return f"AS{asn} {org}".strip()
    cc = row.get(S.COUNTRY_ISO)
    country = _name(row.get(S.COUNTRY), cc or "?")
    for code_key, name_key in ((S.SUBREGION_ISO, S.SUBREGION), (S.REGION_ISO, S.REGION)):
        code = row.get(code_key)
        if code_key in row and code is not None:
            name = _name(row.get(name_key), "")
            city = _name(row.get(S.CITY), "") if row.get(S.CITY) else ""
            head = ", ".join(x for x in (city, name, country if name else "") if x)
            return f"{head} ({safe_text(code)})" if head else safe_text(code)
    if cc is not None:
        if country == cc:
            return safe_text(cc)
        # Grouped by province, a country-only row is a place whose province is
        # unknown; a watched country nobody reached from has no province to know.
        absent = row.get(S.WATCHED) and not row.get(S.REQUESTS)
        unknown = ", province unknown" if S.REGION_ISO in row and not absent else ""
        return f"{country} ({safe_text(cc)}{unknown})"
    keys = [k for k in row if k not in _STAT_COLUMNS and k != S.GEO_STATUS]
    parts = [safe_text(str(row[k])) for k in keys if row.get(k) is not None]
    return " · ".join(parts) or "(unknown)"


_STAT_COLUMNS = frozenset(
    {
        S.REQUESTS,
        S.UNIQUE_IPS,
        S.BYTES,
        S.SHARE,
        S.FIRST_SEEN,
        S.LAST_SEEN,
        S.WATCHED,
        *S.ANON_COUNT_COLUMNS,
        *S.STATUS_CLASSES,
    }
)


def _place_keys(rows: pl.DataFrame) -> list[str]:
    skip = _STAT_COLUMNS | {"hour", "day", S.TS, S.LATITUDE, S.LONGITUDE}
    return [c for c in rows.columns if c not in skip]


def _watch_codes(watch: Sequence[str]) -> list[str]:
    return [w.strip().upper() for w in watch if w.strip()]


def _watch_match(row: dict[str, Any], code: str) -> bool:
    if "-" in code:
        return code in (row.get(S.REGION_ISO), row.get(S.SUBREGION_ISO))
    return row.get(S.COUNTRY_ISO) == code


def subtitle(meta: dict[str, Any], *, extra: str = "", watch: Sequence[str] | None = None) -> str:
    """The provenance line under every title: time range, log files, databases.

    Example:
        >>> subtitle({"time_range": {"first": "2026-09-14T07:08:07Z", "last": None},
        ...           "files": [{"path": "/var/log/access.log"}], "databases": []})
        '2026-09-14 07:08 UTC to ? · log: access.log'
    """
    tr = meta.get("time_range") or {}
    parts = []
    if tr.get("first"):
        parts.append(f"{_when(tr.get('first'))} to {_when(tr.get('last'))}")
    else:
        parts.append("no requests in range")
    parts += scope_parts(meta, watch=watch)
    files = _files_text([str(f["path"]) for f in meta.get("files", [])])
    if files:
        parts.append(files)
    dbs = _databases_text(meta)
    if dbs:
        parts.append(dbs)
    if extra:
        parts.append(extra)
    return safe_text(" · ".join(parts))


def scope_parts(meta: dict[str, Any], *, watch: Sequence[str] | None = None) -> list[str]:
    """What narrowed the analysis, in words: every ``--where``, the time window, watched places.

    A chart of one province must say so, or it reads as the whole log.

    Example:
        >>> scope_parts({"filters": ["region_iso=CN-LN"], "since": None,
        ...              "until": "2026-09-16T00:00:00Z", "watch": ["ES"]})
        ['only region_iso=CN-LN', 'until 2026-09-16 00:00 UTC', 'watched: ES']
    """
    out = []
    filters = [str(f) for f in meta.get("filters") or ()]
    if filters:
        out.append("only " + " and ".join(filters))
    since, until = meta.get("since"), meta.get("until")
    if since and until:
        out.append(f"from {_when(since)} until {_when(until)}")
    elif since:
        out.append(f"from {_when(since)}")
    elif until:
        out.append(f"until {_when(until)}")
    # Charts that mark watched places themselves (the timeline) pass them here.
    watched = [str(w) for w in (meta.get("watch") or () if watch is None else watch)]
    if watched:
        out.append("watched: " + ", ".join(watched))
    return out


CATEGORY_WORDS = {
    "tor_exit": "Tor",
    "privacy_relay": "relay",
    "vpn": "VPN",
    "public_proxy": "proxy",
    "residential_proxy": "residential proxy",
    "hosting": "hosting",
}
"""How the anonymizer categories are said in titles, legends and findings."""


def anonymizer_words(row: dict[str, Any]) -> str:
    """What the sources say about a row's requests, split by category; empty without sources.

    Examples:
        >>> anonymizer_words({"requests": 195, "requests_anonymized": 0})
        'all with no anonymizer known'
        >>> anonymizer_words({"requests": 10, "requests_anonymized": 4, "requests_vpn": 3,
        ...                   "requests_tor_exit": 1})
        '4 through anonymizers (3 VPN, 1 Tor), 6 with no anonymizer known'
        >>> anonymizer_words({"requests": 10})
        ''
    """
    if ANONYMIZED not in row:
        return ""
    n, anon = int(row.get(S.REQUESTS) or 0), int(row.get(ANONYMIZED) or 0)
    if not anon:
        return "all with no anonymizer known"
    counts = [(int(row.get(col) or 0), cat) for cat, col in S.CATEGORY_REQUESTS.items()]
    # Largest first; ties in the sources' order of strength (Tor before VPN...).
    ranked = sorted((c for c in counts if c[0]), key=lambda c: -c[0])
    split = [f"{n:,} {CATEGORY_WORDS[cat]}" for n, cat in ranked]
    head = f"{anon:,} through anonymizers" + (f" ({', '.join(split)})" if split else "")
    if anon == n:
        return "all through anonymizers" + (f" ({', '.join(split)})" if split else "")
    return f"{head}, {n - anon:,} with no anonymizer known"


def lead_sentence(row: dict[str, Any], total: int, *, places: int) -> str:
    """A chart's finding: the leading row with its requests, share, addresses and anonymizers.

    Examples:
        >>> row = {"geo_status": "ok", "country_iso": "CN", "country": "China",
        ...        "region_iso": "CN-LN", "region": "Liaoning", "requests": 195,
        ...        "unique_ips": 22, "requests_anonymized": 0}
        >>> lead_sentence(row, 195, places=1)
        'Liaoning, China (CN-LN): 195 requests from 22 addresses, all with no anonymizer known'
        >>> lead_sentence(row, 400, places=9)
        'Liaoning, China (CN-LN) leads: 195 of 400 requests (49%) from 22 addresses, all with no anonymizer known'
    """  # noqa: E501
    n = int(row.get(S.REQUESTS) or 0)
    ips = int(row.get(S.UNIQUE_IPS) or 0)
    who = f"{ips:,} {'address' if ips == 1 else 'addresses'}"
    name = place_label(row)
    if places <= 1 or n == total:
        head = f"{name}: {n:,} {'request' if n == 1 else 'requests'} from {who}"
    else:
        pct = f"{100 * n / total:.0f}%" if total else "0%"
        head = f"{name} leads: {n:,} of {total:,} requests ({pct}) from {who}"
    anon = anonymizer_words(row)
    return f"{head}, {anon}" if anon else head


def _files_text(paths: Sequence[str]) -> str:
    files = [Path(p).name for p in paths]
    if not files:
        return ""
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    return ("logs: " if len(files) > 1 else "log: ") + shown


def _databases_text(meta: dict[str, Any]) -> str:
    dbs = [f"{d['type']} built {d['build_date']}" for d in meta.get("databases", [])]
    return "databases: " + ", ".join(dbs) if dbs else ""


def _when(iso: Any) -> str:
    if not iso:
        return "?"
    return str(iso).replace("T", " ")[:16] + " UTC"


def _group_title(meta: dict[str, Any]) -> str:
    names = meta.get("group_by") or ["region"]
    nouns = {
        "region": "province or region",
        "country": "country",
        "subregion": "province (second level)",
        "city": "city",
        "asn": "network (AS)",
        "ip": "address",
    }
    return " and ".join(nouns.get(n, n.replace("_", " ")) for n in names)


def _bucket_column(rows: pl.DataFrame) -> str:
    for col in ("hour", S.TS, "day"):
        if col in rows.columns:
            return col
    raise UsageError("this chart needs an analysis grouped by hour (by=[..., 'hour'])")


def fit_labels(fig: Any, ax: Any, notes: list[Any]) -> None:
    """Widen the x axis so that every row's label ends inside the axes.

    A label is a fixed width in pixels beside a data position, so the axis must
    reach ``x * width / (width - label)`` for each; the layout moves when the
    limits change, so this runs until it settles (twice, in practice).
    """
    for note in notes:
        # Left to the layout, a long label would squeeze the axes instead of widening them.
        note.set_in_layout(False)
    # Measuring text needs a renderer, and the axes' box the layout: running only
    # the layout engine costs a fraction of drawing the figure (0.3 s a try).
    renderer = fig._get_renderer()  # what tight_layout uses; a base canvas has no renderer
    engine = fig.get_layout_engine()
    for _ in range(6):
        if engine is not None:
            engine.execute(fig)
        box = ax.get_window_extent(renderer)
        lo, hi = ax.get_xlim()
        need = hi
        for note in notes:
            x = float(note.xy[0])
            anchor = ax.transData.transform((x, 0))[0]
            room = box.width - (note.get_window_extent(renderer).x1 - anchor) - 6
            if room > 0:
                need = max(need, lo + (x - lo) * box.width / room)
        if need <= hi:
            return
        # A little more than needed: the layout narrows the axes after each change.
        ax.set_xlim(lo, lo + (need - lo) * 1.03)


__all__ = [
    "ANONYMIZED",
    "CATEGORY_WORDS",
    "anonymizer_words",
    "fit_labels",
    "lead_sentence",
    "place_label",
    "scope_parts",
    "subtitle",
]
