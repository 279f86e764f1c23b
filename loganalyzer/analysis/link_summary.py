"""One sentence per cluster of linked addresses, for a person to read first.

"user j.doe: 2 VPN exits (DE, GB) and 1 address with no anonymizer known in
Catalonia (ES-CT), 2026-03-01 to 2026-03-09": the strongest shared trace, the
anonymized addresses by kind with their exits' countries, the others by place,
and the dates. It names the evidence, never a person.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from loganalyzer import schema as S

_NOUNS = {
    "tor_exit": ("Tor exit", "Tor exits"),
    "privacy_relay": ("privacy relay exit", "privacy relay exits"),
    "vpn": ("VPN exit", "VPN exits"),
    "public_proxy": ("public proxy", "public proxies"),
    "residential_proxy": ("residential proxy", "residential proxies"),
    "hosting": ("hosting address", "hosting addresses"),
}
_LEADS = {"user": "user", "agent": "agent", "paths": "rare paths"}
_LEAD_CHARS = 60


def is_anonymized(verdict: str | None) -> bool:
    """Whether a verdict names an anonymizer (``none_known`` and null do not).

    Example:
        >>> is_anonymized("vpn"), is_anonymized("none_known"), is_anonymized(None)
        (True, False, False)
    """
    return verdict is not None and verdict != S.NONE_KNOWN


def _count(n: int, nouns: tuple[str, str]) -> str:
    return f"{n} {nouns[0] if n == 1 else nouns[1]}"


def _place(row: dict[str, object]) -> str:
    region, code = row.get(S.REGION), row.get(S.REGION_ISO)
    if code:
        return f"{region} ({code})" if region else str(code)
    country, cc = row.get(S.COUNTRY), row.get(S.COUNTRY_ISO)
    if cc:
        return f"{country} ({cc})" if country else str(cc)
    return "an unknown place"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _lead(evidence: pl.DataFrame, key: str | None) -> str:
    """The strongest shared trace: a user name, a key, an agent, rare paths or timing."""
    if evidence.is_empty():
        return "linked"
    top = evidence.row(0, named=True)
    kind, value = top["kind"], str(top["value"])
    if len(value) > _LEAD_CHARS:
        value = value[: _LEAD_CHARS - 1] + "…"
    if kind == "key":
        return f"{key or 'key'} {value}"
    if kind == "timing":
        return "adjacent in time"
    return f"{_LEADS.get(kind, kind)} {value}"


def _dates(clients: pl.DataFrame) -> str:
    first, last = clients[S.FIRST_SEEN].min(), clients[S.LAST_SEEN].max()
    if not isinstance(first, datetime) or not isinstance(last, datetime):
        return "time unknown"
    a, b = f"{first:%Y-%m-%d}", f"{last:%Y-%m-%d}"
    return a if a == b else f"{a} to {b}"


def cluster_summary(clients: pl.DataFrame, evidence: pl.DataFrame, *, key: str | None) -> str:
    """The cluster's one sentence (log-derived text unescaped: escape it where shown).

    Args:
        clients: the cluster's addresses with ``anonymizer``, place columns,
            ``first_seen`` and ``last_seen``.
        evidence: its evidence, strongest kind first.
        key: the ``--key`` field's name, to name key evidence.

    Example:
        >>> import textwrap
        >>> from datetime import UTC, datetime
        >>> t = datetime(2026, 3, 1, tzinfo=UTC)
        >>> c = pl.DataFrame({"anonymizer": ["vpn", "vpn", "none_known"],
        ...     "country_iso": ["DE", "GB", "ES"], "country": ["Germany", "UK", "Spain"],
        ...     "region_iso": [None, None, "ES-CT"], "region": [None, None, "Catalonia"],
        ...     "first_seen": [t, t, t], "last_seen": [t, t, t.replace(day=9)]})
        >>> e = pl.DataFrame({"kind": ["user"], "value": ["j.doe"]})
        >>> print(textwrap.fill(cluster_summary(c, e, key=None), 70))
        user j.doe: 2 VPN exits (DE, GB) and 1 address with no anonymizer
        known in Catalonia (ES-CT), 2026-03-01 to 2026-03-09
    """
    parts = []
    rows = clients.to_dicts()
    for category in S.ANON_CATEGORIES:
        mine = [r for r in rows if r.get(S.ANONYMIZER) == category]
        if mine:
            countries = sorted({str(r.get(S.COUNTRY_ISO) or "?") for r in mine})
            where = "country unknown" if countries == ["?"] else ", ".join(countries)
            parts.append(f"{_count(len(mine), _NOUNS[category])} ({where})")
    direct = [r for r in rows if r.get(S.ANONYMIZER) == S.NONE_KNOWN]
    if direct:
        places = list(dict.fromkeys(_place(r) for r in direct))
        noun = ("address", "addresses")
        parts.append(f"{_count(len(direct), noun)} with no anonymizer known in {_join(places)}")
    unjudged = [r for r in rows if r.get(S.ANONYMIZER) is None]
    if unjudged:
        places = list(dict.fromkeys(_place(r) for r in unjudged))
        parts.append(
            f"{_count(len(unjudged), ('address', 'addresses'))} not checked against "
            f"anonymizer sources in {_join(places)}"
        )
    return f"{_lead(evidence, key)}: {_join(parts)}, {_dates(clients)}"


__all__ = ["cluster_summary", "is_anonymized"]
