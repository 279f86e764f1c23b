"""Charts that carry a slide: regions, timeline, hours, map, networks and changes.

Every function here returns a :class:`matplotlib.figure.Figure` built directly,
never through pyplot, so nothing is shown, nothing is kept in a global figure
registry, and charts can be made from threads and notebooks alike. matplotlib
is imported inside the functions: ``import loganalyzer`` stays light.

Each chart stands on its own: a title that names the subject, a subtitle with
the time range, the log files and the database build dates, labelled axes with
units, thousands separators and the Okabe-Ito colour-blind-safe palette, at
1600x900 pixels.

Log- and database-derived text is attacker-controlled: it is shown with control
characters escaped, ``$`` escaped (matplotlib would otherwise parse it as
mathematics), and names whose script no installed font can draw are replaced
by their code rather than drawn as empty boxes.
"""

from __future__ import annotations

import functools
import io
import os
import tempfile
import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from loganalyzer import schema as S
from loganalyzer.analysis.aggregate import top as keep_top
from loganalyzer.errors import OutputError, UsageError
from loganalyzer.outputs.render import safe_text

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from loganalyzer.analysis.pipeline import Analysis

ChartKind = Literal["regions", "timeline", "hours", "map", "asn", "compare"]
KINDS: tuple[str, ...] = ("regions", "timeline", "hours", "map", "asn", "compare")
Interval = Literal["auto", "hour", "day"]

ANONYMIZED = S.REQUESTS_ANONYMIZED
"""Column added by the anonymizer verdicts; when present, bars split direct from anonymized."""

# Okabe & Ito (2008), "Color Universal Design": distinguishable with any common
# colour-vision deficiency, and in greyscale print by lightness.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
SERIES_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
BAR_COLOR = OKABE_ITO["blue"]
WATCH_COLOR = OKABE_ITO["vermillion"]
BUCKET_COLOR = "#9A9A9A"
ANON_COLOR = OKABE_ITO["sky_blue"]
WATCH_ANON_COLOR = OKABE_ITO["orange"]

WIDTH_PX, HEIGHT_PX, DPI = 1600, 900, 100
MAX_BARS = 40
LABEL_CHARS = 48

_BUCKETS = {
    "not_public": "(non-public addresses)",
    "not_found": "(not in the database)",
    "invalid_ip": "(not an IP address)",
}
# Families tried in order, per glyph (matplotlib >= 3.6 falls back along the
# list). Only installed ones are used, so matplotlib never logs a missing family.
_FONT_CANDIDATES = (
    "DejaVu Sans",
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans CJK KR",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "IPAGothic",
    "Noto Sans",
)


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:  # pragma: no cover - matplotlib is a dependency
        from loganalyzer.errors import MissingDependencyError

        raise MissingDependencyError("charts need matplotlib: pip install matplotlib") from exc


@functools.cache
def _fonts() -> tuple[tuple[str, ...], frozenset[int]]:
    """Installed font families to use, and every code point they can draw."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    files: dict[str, str] = {}
    for entry in font_manager.fontManager.ttflist:
        if entry.style == "normal" and entry.weight in (400, "normal", "regular"):
            files.setdefault(entry.name, entry.fname)
        else:
            files.setdefault(entry.name + "\0any", entry.fname)
    families: list[str] = []
    points: set[int] = set()
    for name in _FONT_CANDIDATES:
        fname = files.get(name) or files.get(name + "\0any")
        if fname is None:
            continue
        families.append(name)
        points.update(FT2Font(fname).get_charmap())
    return tuple(families) or ("DejaVu Sans",), frozenset(points)


def drawable(text: str) -> bool:
    """Whether every character of ``text`` has a glyph in an installed font."""
    points = _fonts()[1]
    return all(ord(c) in points or c.isspace() for c in text)


def _plain(text: str) -> str:
    """Text made safe for a matplotlib label: no controls, no mathtext, no missing glyphs."""
    points = _fonts()[1]
    shown = "".join(c if ord(c) in points or c.isspace() else "?" for c in safe_text(text))
    return shown.replace("$", r"\$")


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _name(value: Any, fallback: str) -> str:
    """A place or organisation name, or ``fallback`` when it cannot be drawn."""
    if value is None:
        return fallback
    text = safe_text(str(value))
    return text if drawable(text) else fallback


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
        # Grouped by province, a country-only row is a place whose province is unknown.
        unknown = ", province unknown" if S.REGION_ISO in row else ""
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


def subtitle(meta: dict[str, Any], *, extra: str = "") -> str:
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
    files = _files_text([str(f["path"]) for f in meta.get("files", [])])
    if files:
        parts.append(files)
    dbs = _databases_text(meta)
    if dbs:
        parts.append(dbs)
    if extra:
        parts.append(extra)
    return safe_text(" · ".join(parts))


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


def _rc() -> dict[str, Any]:
    families, _ = _fonts()
    return {
        "font.family": list(families),
        "font.size": 14,
        "axes.titlesize": 13,
        "axes.labelsize": 14,
        "xtick.labelsize": 13,
        "ytick.labelsize": 13,
        "legend.fontsize": 12,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlelocation": "left",
        # SVG keeps text as text (searchable, accessible); PDF embeds TrueType.
        "svg.fonttype": "none",
        "svg.hashsalt": "loganalyzer",
        "pdf.fonttype": 42,
    }


@contextmanager
def _style() -> Iterator[None]:
    # rc_context restores every setting on exit; tick labels are made at draw
    # time, so saving runs inside it too (see figure_bytes).
    import matplotlib

    with matplotlib.rc_context(_rc()):  # type: ignore[arg-type]
        yield


def _new_figure(title: str, sub: str, *, footnote: str = "") -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")
    fig.suptitle(_plain(title), x=0.01, ha="left", fontsize=22, fontweight="bold")
    ax = fig.add_subplot()
    ax.set_title("\n".join(textwrap.wrap(_plain(sub), 105)), color="#444444", pad=12)
    note = footnote or "IP geolocation is approximate: it places networks, not people."
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    engine = fig.get_layout_engine()
    # Room at the bottom for the footnote, which the layout does not know about.
    if isinstance(engine, ConstrainedLayoutEngine):
        engine.set(rect=(0, 0.035, 1, 0.965))
    fig.text(0.01, 0.008, _plain(note), fontsize=11, color="#555555", ha="left", va="bottom")
    return fig, ax


def _say_empty(ax: Axes, what: str = "No requests in the selected logs and time range.") -> None:
    """An empty chart says so, instead of showing axes that look like data."""
    ax.text(
        0.5, 0.5, what, transform=ax.transAxes, ha="center", va="center", fontsize=20,
        color="#555555",
    )  # fmt: skip


def _thousands(ax_axis: Any) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax_axis.set_major_locator(MaxNLocator(integer=True))
    ax_axis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:,.0f}"))


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


def plot_regions(
    analysis: Analysis,
    *,
    top: int | None = 15,
    title: str | None = None,
) -> Figure:
    """Horizontal bars of requests per place (or network), watched places highlighted.

    When the rows carry ``requests_anonymized`` each bar is split into direct
    and anonymized access; otherwise a bar is all access and the legend says so.

    Args:
        analysis: an :class:`~loganalyzer.analysis.pipeline.Analysis` grouped by region,
            country, city or asn; run it with ``watch=`` to mark watched places.
        top: bars for the first N rows; watched rows are always drawn.
        title: replaces the generated title.

    Returns:
        The figure (1600x900 at 100 dpi). Its axes hold one bar container per
        series, labelled ``direct``/``anonymized`` or ``requests``.
    """
    _require_matplotlib()
    rows = keep_top(analysis.rows, top).head(MAX_BARS)
    records = rows.to_dicts()
    total = int(analysis.meta.get("lines", {}).get("matched") or 0)
    split = ANONYMIZED in rows.columns
    with _style():
        subject = _group_title(analysis.meta)
        every = int(analysis.meta.get("rows_total") or 0)
        shown = f"top {len(records)} of {every:,}" if every > len(records) else "all"
        fig, ax = _new_figure(
            title or f"Where requests came from: requests by {subject} ({shown})",
            subtitle(analysis.meta, extra=f"{total:,} requests in all"),
        )
        labels = [_short(place_label(r)) for r in records]
        watched = [bool(r.get(S.WATCHED)) for r in records]
        by_asn = S.ASN in rows.columns
        bucket = [
            r.get(S.GEO_STATUS) in _BUCKETS or (by_asn and r.get(S.ASN) is None) for r in records
        ]
        requests = [int(r[S.REQUESTS] or 0) for r in records]
        y = list(range(len(records)))
        colors = [
            WATCH_COLOR if w else BUCKET_COLOR if b else BAR_COLOR
            for w, b in zip(watched, bucket, strict=True)
        ]
        if split:
            anon = [int(r.get(ANONYMIZED) or 0) for r in records]
            direct = [n - a for n, a in zip(requests, anon, strict=True)]
            ax.barh(y, direct, color=colors, label="direct")
            anon_colors = [WATCH_ANON_COLOR if w else ANON_COLOR for w in watched]
            ax.barh(y, anon, left=direct, color=anon_colors, hatch="//", label="anonymized")
        else:
            ax.barh(y, requests, color=colors, label="requests")
        ax.set_yticks(y, [_plain(lbl) for lbl in labels])
        ax.invert_yaxis()
        ax.set_xlabel("requests (count)")
        ax.set_ylabel(subject)
        _thousands(ax.xaxis)
        peak = max(requests, default=0) or 1
        ax.set_xlim(0, peak * 1.15)
        anon_counts = [int(r.get(ANONYMIZED) or 0) for r in records] if split else []
        for i, (yi, n) in enumerate(zip(y, requests, strict=True)):
            share = f" ({100 * n / total:.1f}%)" if total else ""
            text = f"{n:,}{share}" if n else "no access"
            if split and n:
                text += f", {anon_counts[i]:,} through anonymizers"
            ax.annotate(
                text, (n, yi), xytext=(5, 0), textcoords="offset points", va="center", fontsize=12
            )
        for tick, w in zip(ax.get_yticklabels(), watched, strict=True):
            if w:
                tick.set_fontweight("bold")
                tick.set_color(WATCH_COLOR)
        _legend(ax, split=split, any_watched=any(watched), any_bucket=any(bucket))
        if not records:
            _say_empty(ax)
    return fig


def _legend(ax: Axes, *, split: bool, any_watched: bool, any_bucket: bool) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(color=BAR_COLOR, label="direct access" if split else "all access")]
    if split:
        handles.append(Patch(facecolor=ANON_COLOR, hatch="//", label="through anonymizers"))
    else:
        handles[0].set_label("all access (no anonymizer verdicts in this analysis)")
    if any_watched:
        handles.append(Patch(color=WATCH_COLOR, label="watched (--watch)"))
    if any_bucket:
        handles.append(Patch(color=BUCKET_COLOR, label="no location or network data"))
    ax.legend(handles=handles, loc="lower right", frameon=False)


def _bucket_column(rows: pl.DataFrame) -> str:
    for col in ("hour", S.TS, "day"):
        if col in rows.columns:
            return col
    raise UsageError("this chart needs an analysis grouped by hour (by=[..., 'hour'])")


def _choose_interval(first: datetime, last: datetime, interval: str) -> str:
    if interval in ("hour", "day"):
        return interval
    if interval != "auto":
        raise UsageError(f"interval must be auto, hour or day, not {interval!r}")
    return "hour" if last - first <= timedelta(days=14) else "day"


def timeline_series(
    analysis: Analysis,
    *,
    watch: Sequence[str] = (),
    top: int = 5,
    interval: Interval = "auto",
) -> tuple[list[datetime], dict[str, list[float]], str]:
    """The numbers behind :func:`plot_timeline`: requests per bucket and place.

    A bucket with no request from anywhere is a gap in the logs, not a quiet
    hour, and is ``nan`` in every series (so the lines break); a bucket where
    others were active but this place was not is ``0``.

    Args:
        analysis: grouped by places and ``hour`` (``by=["region", "hour"]``).
        watch: codes whose series are always drawn (zero when absent).
        top: how many of the busiest places to draw besides the watched ones.
        interval: ``hour``, ``day``, or ``auto`` (hours up to 14 days).

    Returns:
        The bucket starts (UTC), ``{label: values}`` with ``"all requests"``
        first, and the interval used.
    """
    rows = analysis.rows.filter(pl.col(S.REQUESTS) > 0)
    col = _bucket_column(analysis.rows)
    rows = rows.filter(pl.col(col).is_not_null())
    if rows.is_empty():
        return [], {"all requests": []}, "hour"
    first, last = rows[col].min(), rows[col].max()
    assert isinstance(first, datetime)
    assert isinstance(last, datetime)
    every = _choose_interval(first, last, interval)
    rows = rows.with_columns(pl.col(col).dt.truncate("1h" if every == "hour" else "1d").alias("_b"))
    step = timedelta(hours=1) if every == "hour" else timedelta(days=1)
    start = rows["_b"].min()
    end = rows["_b"].max()
    assert isinstance(start, datetime)
    assert isinstance(end, datetime)
    buckets = [start + i * step for i in range(int((end - start) / step) + 1)]
    index = {b: i for i, b in enumerate(buckets)}
    keys = _place_keys(analysis.rows)
    totals = rows.group_by("_b").agg(pl.col(S.REQUESTS).sum())
    all_series = [float("nan")] * len(buckets)
    for b, n in totals.iter_rows():
        all_series[index[b]] = float(n)
    places = (
        rows.group_by(keys)
        .agg(pl.col(S.REQUESTS).sum())
        .sort([S.REQUESTS, *keys], descending=[True, *[False] * len(keys)], nulls_last=True)
    )
    codes = _watch_codes(watch)
    chosen: list[dict[str, Any]] = [r for r in places.head(top).to_dicts()]
    for code in codes:
        matching = [r for r in places.to_dicts() if _watch_match(r, code)]
        if not any(_watch_match(r, code) for r in chosen):
            chosen.extend(matching[:1] if "-" in code else [])
    series: dict[str, list[float]] = {"all requests": all_series}
    for r in chosen:
        cond = pl.all_horizontal(
            [pl.col(k).is_null() if r[k] is None else pl.col(k) == r[k] for k in keys]
        )
        series[place_label(r)] = _fill(rows.filter(cond), index, all_series)
    for code in codes:
        if "-" in code:
            if not any(_watch_match(r, code) for r in chosen):
                series[f"{code} (no access)"] = _fill(rows.clear(), index, all_series)
            continue
        by_country = S.REGION_ISO not in keys and S.CITY not in keys
        if by_country and any(_watch_match(r, code) for r in chosen):
            continue  # already drawn as its own place
        mine = rows.filter(pl.col(S.COUNTRY_ISO) == code) if S.COUNTRY_ISO in keys else rows.clear()
        label = f"{code} (all of the country)" if mine.height else f"{code} (no access)"
        series[label] = _fill(mine, index, all_series)
    return buckets, series, every


def _fill(rows: pl.DataFrame, index: dict[datetime, int], all_series: list[float]) -> list[float]:
    values = [0.0 if v == v else float("nan") for v in all_series]
    for b, n in rows.group_by("_b").agg(pl.col(S.REQUESTS).sum()).iter_rows():
        values[index[b]] = float(n)
    return values


def plot_timeline(
    analysis: Analysis,
    *,
    watch: Sequence[str] = (),
    top: int = 5,
    interval: Interval = "auto",
    title: str | None = None,
) -> Figure:
    """Requests per hour or day for the busiest and the watched places.

    Args:
        analysis: grouped by places and ``hour``, e.g. ``by=["region", "hour"]``.
        watch: country or province codes always drawn (a flat zero line when absent).
        top: how many of the busiest places to draw besides the watched ones.
        interval: ``hour``, ``day`` or ``auto``.
        title: replaces the generated title.

    Returns:
        The figure; each line's label is its place, ``all requests`` is the total.
        Hours with no request at all are gaps (NaN), so a missing log shows.
    """
    _require_matplotlib()
    buckets, series, every = timeline_series(analysis, watch=watch, top=top, interval=interval)
    codes = set(_watch_codes(watch))
    with _style():
        fig, ax = _new_figure(
            title or f"When requests arrived: requests per {every}, busiest and watched places",
            subtitle(analysis.meta),
            footnote="Gaps are periods with no request from anywhere (no log coverage or no "
            "traffic). IP geolocation is approximate.",
        )
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

        for i, (label, values) in enumerate(series.items()):
            is_all = label == "all requests"
            watched = any(label.startswith(c) or f"({c})" in label for c in codes)
            color = (
                "#7A7A7A"
                if is_all
                else WATCH_COLOR
                if watched and len(codes) == 1
                else SERIES_COLORS[(i - 1) % len(SERIES_COLORS)]
            )
            ax.plot(
                buckets,  # type: ignore[arg-type]
                values,
                label=_plain(_short(label) + (" [watched]" if watched else "")),
                color=color,
                linewidth=1.5 if is_all else 2.5 if watched else 2,
                linestyle=":" if is_all else "-",
                marker="o" if len(buckets) <= 80 else None,
                markersize=3,
            )
        ax.set_xlabel(f"time (UTC), one point per {every}")
        ax.set_ylabel(f"requests per {every} (count)")
        if buckets:
            locator = AutoDateLocator()  # type: ignore[no-untyped-call]
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
            ax.set_ylim(bottom=0)
            _thousands(ax.yaxis)
        else:
            _say_empty(ax)
            ax.set_xticks([])
            ax.set_yticks([])
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"--tz {tz!r} is not a time zone; use an IANA name such as UTC, "
            "Asia/Shanghai or Europe/Madrid"
        ) from None


def _whole_hours(zone: ZoneInfo) -> bool:
    """Whether the zone was a whole number of hours from UTC on every month start, 1970-2040."""
    for year in range(1970, 2041):
        for month in range(1, 13):
            off = datetime(year, month, 1, tzinfo=UTC).astimezone(zone).utcoffset()
            if off is not None and off.total_seconds() % 3600:
                return False
    return True


def _zone_words(tz: str) -> str:
    return "UTC" if tz == "UTC" else f"{tz} time"


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def hour_matrix(analysis: Analysis, *, tz: str = "UTC") -> list[list[int]]:
    """Requests by weekday (rows, Monday first) and local hour (columns) in ``tz``.

    Args:
        analysis: grouped by ``hour`` (or ``ts`` for zones whose offset is not
            a whole number of hours), possibly with other keys.
        tz: an IANA time zone.

    Returns:
        A 7x24 list of request counts.

    Raises:
        UsageError: for an unknown zone, or hour buckets that cannot be placed
            in a zone with a half-hour offset (group by ``ts`` then).
    """
    _zone(tz)
    col = _bucket_column(analysis.rows)
    rows = analysis.rows.filter(pl.col(col).is_not_null() & (pl.col(S.REQUESTS) > 0))
    local = rows.select(pl.col(col).dt.convert_time_zone(tz).alias("t"), pl.col(S.REQUESTS))
    if col == "hour" and local.height and bool((local["t"].dt.minute() != 0).any()):
        raise UsageError(
            f"{tz} is not a whole number of hours from UTC; group by ts to place requests"
        )
    counts = local.group_by(
        pl.col("t").dt.weekday().alias("wd"), pl.col("t").dt.hour().alias("h")
    ).agg(pl.col(S.REQUESTS).sum())
    matrix = [[0] * 24 for _ in range(7)]
    for wd, h, n in counts.iter_rows():
        matrix[int(wd) - 1][int(h)] = int(n)
    return matrix


def _offset_text(tz: str, meta: dict[str, Any]) -> str:
    first = (meta.get("time_range") or {}).get("first")
    when = datetime.fromisoformat(first.replace("Z", "+00:00")) if first else datetime.now(UTC)
    off = when.astimezone(_zone(tz)).utcoffset() or timedelta(0)
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def plot_hours(analysis: Analysis, *, tz: str = "UTC", title: str | None = None) -> Figure:
    """Heatmap of requests by local hour of day and weekday in a chosen time zone.

    The view analysts use to see whose working day the activity follows.

    Args:
        analysis: grouped by ``hour`` (see :func:`hour_matrix`).
        tz: the IANA zone to show (``Asia/Shanghai``, ``Europe/Madrid``...).
        title: replaces the generated title.

    Returns:
        The figure; its first axes hold one image whose array is the 7x24 matrix.
    """
    _require_matplotlib()
    matrix = hour_matrix(analysis, tz=tz)
    offset = _offset_text(tz, analysis.meta)
    with _style():
        fig, ax = _new_figure(
            title or f"Hours of activity in {_zone_words(tz)}: requests by hour of day and weekday",
            subtitle(analysis.meta, extra=f"shown in {tz} ({offset} at the start)"),
            footnote="Each cell sums every such weekday hour in the range. "
            "IP geolocation is approximate.",
        )
        peak = max(max(r) for r in matrix) or 1
        # From zero, so the darkest colour always means no request.
        image = ax.imshow(
            matrix, cmap="cividis", aspect="auto", interpolation="nearest", vmin=0, vmax=peak
        )
        ax.set_xticks(range(24), [f"{h:02d}" for h in range(24)])
        ax.set_yticks(range(7), list(WEEKDAYS))
        ax.set_xlabel(f"hour of day in {tz} (local time, {offset})")
        ax.set_ylabel("weekday")
        for wd in range(7):
            for h in range(24):
                n = matrix[wd][h]
                if n:
                    ax.text(
                        h,
                        wd,
                        f"{n:,}",
                        ha="center",
                        va="center",
                        fontsize=10 if n < 10_000 else 8,
                        color="black" if n > peak * 0.6 else "white",
                    )
        if not any(any(r) for r in matrix):
            _say_empty(ax)
        bar = fig.colorbar(image, ax=ax, shrink=0.9, pad=0.01)
        bar.set_label("requests in that hour (count)")
        _thousands(bar.ax.yaxis)
    return fig


def plot_asn(analysis: Analysis, *, top: int | None = 15, title: str | None = None) -> Figure:
    """Top networks (autonomous systems) by requests, with their organisation names.

    Args:
        analysis: grouped by ``asn``.
        top: bars for the first N networks.
        title: replaces the generated title.

    Returns:
        The figure (see :func:`plot_regions`).
    """
    if S.ASN not in analysis.rows.columns:
        raise UsageError("the asn chart needs an analysis grouped by asn (by=['asn'])")
    n = min(top or analysis.rows.height, analysis.rows.height, MAX_BARS)
    every = int(analysis.meta.get("rows_total") or analysis.rows.height)
    shown = f"top {n} of {every:,}" if every > n else f"all {n}"
    return plot_regions(
        analysis,
        top=top,
        title=title or f"Most active networks: requests by autonomous system ({shown})",
    )


@functools.cache
def _world() -> list[list[tuple[float, float]]]:
    """Country outlines (longitude, latitude rings) from the vendored Natural Earth 110m."""
    import json
    from importlib import resources

    raw = (resources.files("loganalyzer") / "data" / "countries-110m.json").read_text("utf-8")
    topo = json.loads(raw)
    sx, sy = topo["transform"]["scale"]
    tx, ty = topo["transform"]["translate"]
    arcs: list[list[tuple[float, float]]] = []
    for arc in topo["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)

    def ring(indexes: list[int]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for i in indexes:
            pts = arcs[i] if i >= 0 else arcs[~i][::-1]
            out.extend(pts if not out else pts[1:])
        return out

    rings: list[list[tuple[float, float]]] = []
    for geom in topo["objects"]["countries"]["geometries"]:
        polys = geom.get("arcs", [])
        if geom.get("type") == "Polygon":
            polys = [polys]
        for poly in polys:
            for r in poly:
                rings.extend(_unwrap(ring(r)))
    return rings


def _unwrap(ring: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """A ring crossing the antimeridian, drawn on both sides (the axes clip the rest).

    Without this, Russia and Fiji draw as stripes across the whole map.
    """
    out = [ring[0]]
    for lon, lat in ring[1:]:
        prev = out[-1][0]
        while lon - prev > 180:
            lon -= 360
        while prev - lon > 180:
            lon += 360
        out.append((lon, lat))
    lons = [p[0] for p in out]
    if min(lons) >= -180 and max(lons) <= 180:
        return [out]
    shift = 360.0 if min(lons) < -180 else -360.0
    return [out, [(lon + shift, lat) for lon, lat in out]]


def _place_labels(
    points: list[tuple[float, float, str]], *, px_per_deg: float, font_px: float = 15
) -> list[tuple[float, float, str, float, float, str]]:
    """Greedy label placement: the first of four offsets that overlaps no earlier label.

    Labels that fit nowhere are left out rather than drawn over each other.
    Returns (lon, lat, text, dx, dy, horizontal alignment) in points offsets.
    """
    boxes: list[tuple[float, float, float, float]] = []
    placed = []
    for lon, lat, text in points:
        w, h = len(text) * font_px * 0.55, font_px
        x, y = lon * px_per_deg, lat * px_per_deg
        for dx, dy, ha in (
            (7, 5, "left"),
            (7, -5 - h, "left"),
            (-7, 5, "right"),
            (-7, -5 - h, "right"),
        ):
            x0 = x + dx if ha == "left" else x + dx - w
            box = (x0, y + dy, x0 + w, y + dy + h)
            if all(box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3] for b in boxes):
                boxes.append(box)
                placed.append((lon, lat, text, dx * 0.75, dy * 0.75, ha))
                break
    return placed


def plot_map(analysis: Analysis, *, top: int = 10, title: str | None = None) -> Figure:
    """A world map with one circle per location, its area proportional to requests.

    Args:
        analysis: grouped with ``latitude`` and ``longitude`` (``by=["region",
            "latitude", "longitude"]``); rows without a location are counted in
            the subtitle, not drawn.
        top: how many of the largest circles get a label.
        title: replaces the generated title.

    Returns:
        The figure; its axes hold one scatter collection whose sizes follow requests.
    """
    _require_matplotlib()
    rows = analysis.rows
    for col in (S.LATITUDE, S.LONGITUDE):
        if col not in rows.columns:
            raise UsageError("the map needs an analysis grouped by latitude and longitude")
    located = rows.filter(
        pl.col(S.LATITUDE).is_not_null()
        & pl.col(S.LONGITUDE).is_not_null()
        & (pl.col(S.REQUESTS) > 0)
    )
    unplaced = int(rows[S.REQUESTS].sum() or 0) - int(located[S.REQUESTS].sum() or 0)
    with _style():
        from matplotlib.collections import PolyCollection

        fig, ax = _new_figure(
            title or "Where requests came from: requests by location",
            subtitle(
                analysis.meta,
                extra=f"{unplaced:,} requests without a location not drawn" if unplaced else "",
            ),
            footnote="Circle area is proportional to requests. Locations are network "
            "centroids from the database, not people. Basemap: Natural Earth (public domain).",
        )
        ax.add_collection(
            PolyCollection(_world(), facecolor="#EDEDED", edgecolor="#B5B5B5", linewidth=0.5)
        )
        records = located.sort(S.REQUESTS, descending=True).to_dicts()
        peak = max((int(r[S.REQUESTS]) for r in records), default=1)
        watched = [bool(r.get(S.WATCHED)) for r in records]
        sizes = [2000 * int(r[S.REQUESTS]) / peak + 8 for r in records]
        ax.scatter(
            [r[S.LONGITUDE] for r in records],
            [r[S.LATITUDE] for r in records],
            s=sizes,
            c=[WATCH_COLOR if w else BAR_COLOR for w in watched],
            alpha=0.6,
            edgecolors="white",
            linewidths=0.8,
            zorder=3,
        )
        # One label per place (a province may have several network locations),
        # at its largest circle, with its total.
        totals: dict[str, int] = {}
        anchor: dict[str, tuple[float, float]] = {}
        marked: set[str] = set()
        for r in records:
            name = _short(place_label(r), 32)
            totals[name] = totals.get(name, 0) + int(r[S.REQUESTS])
            anchor.setdefault(name, (float(r[S.LONGITUDE]), float(r[S.LATITUDE])))
            if r.get(S.WATCHED):
                marked.add(name)
        # Watched places are labelled first, however small; then the largest.
        ranked = sorted(totals, key=lambda n: (n not in marked, -totals[n]))
        ranked = ranked[: top + len(marked)]
        wanted = [(*anchor[n], f"{_plain(n)}: {totals[n]:,}") for n in ranked]
        for lon, lat, text, dx, dy, ha in _place_labels(wanted, px_per_deg=1380 / 360):
            ax.annotate(
                text,
                (lon, lat),
                xytext=(dx, dy),
                textcoords="offset points",
                ha=ha,
                fontsize=11,
                zorder=4,
            )
        if not records:
            _say_empty(ax, "No located requests in the selected logs and time range.")
        ax.set_xlim(-180, 180)
        ax.set_ylim(-60, 85)
        ax.set_aspect("equal")
        ax.set_xlabel("longitude (degrees)")
        ax.set_ylabel("latitude (degrees)")
    return fig


NEW_COLOR = OKABE_ITO["orange"]
GONE_COLOR = OKABE_ITO["purple"]
BASELINE_EDGE = OKABE_ITO["black"]


def compare_subtitle(meta: dict[str, Any]) -> str:
    """The provenance line of a comparison: each period's time range, files and databases.

    Example:
        >>> meta = {"periods": {
        ...     "baseline": {"requests": 8, "until": "2026-09-15T00:00:00Z",
        ...                  "time_range": {"first": "2026-09-14T12:00:00Z",
        ...                                 "last": "2026-09-14T12:07:00Z"}},
        ...     "current": {"requests": 0, "time_range": {"first": None, "last": None}}},
        ...     "files": [{"path": "/var/log/access.log"}], "databases": []}
        >>> compare_subtitle(meta)
        'baseline 2026-09-14 12:00 UTC to 2026-09-14 12:07 UTC (8 requests) · current: no requests · split at 2026-09-15 00:00 UTC · log: access.log'
    """  # noqa: E501
    periods = meta.get("periods") or {}
    parts = []
    for label in ("baseline", "current"):
        p = periods.get(label) or {}
        tr = p.get("time_range") or {}
        n = int(p.get("requests") or 0)
        files = _files_text([str(f) for f in p.get("files") or ()])
        when = f"{_when(tr.get('first'))} to {_when(tr.get('last'))}" if tr.get("first") else ""
        if not when:
            parts.append(f"{label}: no requests" + (f" ({files})" if files else ""))
        else:
            parts.append(f"{label} {when} ({n:,} requests" + (f"; {files})" if files else ")"))
    cut = (periods.get("baseline") or {}).get("until")
    if cut:
        parts.append(f"split at {_when(cut)}")
    if not any((periods.get(k) or {}).get("files") for k in ("baseline", "current")):
        files = _files_text([str(f["path"]) for f in meta.get("files", [])])
        if files:
            parts.append(files)
    dbs = _databases_text(meta)
    if dbs:
        parts.append(dbs)
    return safe_text(" · ".join(parts))


def _change_text(row: dict[str, Any]) -> str:
    change = row["change"]
    base, cur = int(row["requests_baseline"]), int(row["requests_current"])
    if change == "new":
        return f"new: {_count(cur, 'request')} from {_count(row['unique_ips_current'], 'address')}"
    if change == "gone":
        ips = _count(row["unique_ips_baseline"], "address")
        return f"gone: {_count(base, 'request')} from {ips} before"
    if change == "none":
        return "no access in either period"
    # The ranking compares shares, so the share's move is said next to the counts:
    # fewer requests can still be a larger share of a quieter period.
    points = 100 * (float(row["share_current"]) - float(row["share_baseline"]))
    if change == "same" or points == 0:
        return f"{base:,} → {_count(cur, 'request')}, share unchanged"
    # Among thousands of places a share moves by hundredths of a point: keep two digits.
    moved = f"{points:+.1f}" if abs(points) >= 1 else f"{points:+.2g}"
    return f"{base:,} → {_count(cur, 'request')}, share {moved} pts"


def _count(n: Any, word: str) -> str:
    n = int(n)
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}{'es' if word.endswith('s') else 's'}"


def plot_compare(analysis: Analysis, *, top: int | None = 15, title: str | None = None) -> Figure:
    """What changed between two periods: each place's share of requests, baseline and current.

    A dumbbell per row, in the comparison's ranking (new watched places, new
    places, the biggest relative increases, gone last): a hollow circle at the
    baseline share, a filled one at the current share, a star on new places and
    a cross on gone ones; watched places in vermillion. Shares rather than
    counts, so a week compares fairly with a day.

    Args:
        analysis: from :func:`loganalyzer.analysis.compare.compare` (rows with
            ``share_baseline``, ``share_current`` and ``change``).
        top: rows for the first N; watched rows are always drawn.
        title: replaces the generated title.

    Returns:
        The figure; its axes hold scatter collections labelled ``baseline`` and
        ``current`` (x is the share, 0-1, y the row), ``new`` and ``gone``.

    Raises:
        UsageError: for an analysis that is not a comparison.
    """
    _require_matplotlib()
    rows = analysis.rows
    if not {"share_baseline", "share_current", "change"} <= set(rows.columns):
        raise UsageError(
            "the compare chart needs a comparison (loganalyzer.analysis.compare.compare)"
        )
    rows = keep_top(rows, top).head(MAX_BARS)
    keys = [k for k in analysis.meta.get("keys", []) if k in rows.columns]
    records = rows.to_dicts()
    with _style():
        from matplotlib.lines import Line2D
        from matplotlib.ticker import FuncFormatter

        subject = _group_title(analysis.meta)
        every = int(analysis.meta.get("rows_total") or 0)
        shown = f"top {len(records)} of {every:,}" if every > len(records) else "all"
        fig, ax = _new_figure(
            title or f"What changed: share of requests by {subject} ({shown})",
            compare_subtitle(analysis.meta),
            footnote="Share of each period's requests, so periods of different lengths compare "
            "fairly. New: no request in the baseline; gone: none in the current period. "
            "IP geolocation is approximate.",
        )
        y = list(range(len(records)))
        base = [float(r["share_baseline"]) for r in records]
        cur = [float(r["share_current"]) for r in records]
        watched = [bool(r.get(S.WATCHED)) for r in records]
        change = [str(r["change"]) for r in records]
        ax.hlines(
            y, [min(b, c) for b, c in zip(base, cur, strict=True)],
            [max(b, c) for b, c in zip(base, cur, strict=True)],
            color="#B5B5B5", linewidth=3, zorder=1,
        )  # fmt: skip
        ax.scatter(
            base, y, s=90, facecolors="white", edgecolors=BASELINE_EDGE, linewidths=1.8,
            label="baseline", zorder=3,
        )  # fmt: skip
        ax.scatter(
            cur, y, s=110, c=[WATCH_COLOR if w else BAR_COLOR for w in watched], label="current",
            zorder=4,
        )  # fmt: skip
        new = [i for i, c in enumerate(change) if c == "new"]
        gone = [i for i, c in enumerate(change) if c == "gone"]
        ax.scatter(
            [cur[i] for i in new], [y[i] for i in new], marker="*", s=520, c=NEW_COLOR,
            edgecolors="black", linewidths=0.8, label="new", zorder=5,
        )  # fmt: skip
        ax.scatter(
            [base[i] for i in gone], [y[i] for i in gone], marker="X", s=200, c=GONE_COLOR,
            edgecolors="black", linewidths=0.8, label="gone", zorder=5,
        )  # fmt: skip
        labels = [_short(place_label({k: r[k] for k in keys})) for r in records]
        ax.set_yticks(y, [_plain(lbl) for lbl in labels])
        ax.invert_yaxis()
        for tick, w in zip(ax.get_yticklabels(), watched, strict=True):
            if w:
                tick.set_fontweight("bold")
                tick.set_color(WATCH_COLOR)
        peak = max([*base, *cur, 0.0]) or 0.01
        ax.set_xlim(0, peak * 1.45)
        for yi, b, c, r in zip(y, base, cur, records, strict=True):
            ax.annotate(
                _plain(_change_text(r)), (max(b, c), yi), xytext=(14, 0),
                textcoords="offset points", va="center", fontsize=12,
                fontweight="bold" if r["change"] in ("new", "gone") else "normal",
            )  # fmt: skip
        # Three significant digits: shares of a busy log's places are often below 1%.
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{100 * x:.3g}%"))
        ax.set_xlabel("share of the period's requests (%)")
        ax.set_ylabel(subject)
        handles = [
            Line2D([], [], marker="o", linestyle="", markerfacecolor="white",
                   markeredgecolor=BASELINE_EDGE, markersize=10, label="baseline share"),
            Line2D([], [], marker="o", linestyle="", color=BAR_COLOR, markersize=10,
                   label="current share"),
            Line2D([], [], marker="*", linestyle="", color=NEW_COLOR, markeredgecolor="black",
                   markersize=16, label="new (absent from the baseline)"),
            Line2D([], [], marker="X", linestyle="", color=GONE_COLOR, markeredgecolor="black",
                   markersize=12, label="gone (absent now)"),
        ]  # fmt: skip
        if any(watched):
            handles.append(
                Line2D([], [], marker="o", linestyle="", color=WATCH_COLOR, markersize=10,
                       label="watched (--watch)")
            )  # fmt: skip
        # Outside the axes: inside, it would cover the labels of the lowest rows.
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        if not records:
            _say_empty(ax)
    return fig


FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


def figure_format(path: str | Path) -> str:
    """The image format for a file name: png, svg or pdf.

    Raises:
        UsageError: for any other extension.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"{path}: the chart format comes from the extension: .png, .svg or .pdf")
    return FORMATS[suffix]


def figure_bytes(fig: Figure, fmt: str = "png") -> bytes:
    """Render a figure to PNG, SVG or PDF bytes (1600x900 pixels for PNG)."""
    buf = io.BytesIO()
    # Dates in metadata would make every rendering differ.
    metadata: dict[str, dict[str, Any]] = {
        "png": {"Software": "loganalyzer"},
        "svg": {"Date": None},
        "pdf": {"CreationDate": None, "ModDate": None},
    }
    with _style():
        fig.savefig(buf, format=fmt, dpi=DPI, metadata=metadata.get(fmt, {}))
    return buf.getvalue()


def save_figure(fig: Figure, path: str | Path, *, inputs: Sequence[str | Path] = ()) -> Path:
    """Write a figure whole to a temporary file beside ``path``, then rename it.

    Args:
        fig: the chart.
        path: ``.png``, ``.svg`` or ``.pdf``.
        inputs: files that must never be overwritten (the logs and databases).

    Raises:
        UsageError: an unknown extension.
        OutputError: ``path`` is an input, a folder, or in a missing folder.
    """
    target = Path(path)
    data = figure_bytes(fig, figure_format(target))
    write_atomic(target, data, inputs=inputs)
    return target


def write_atomic(target: Path, data: bytes, *, inputs: Sequence[str | Path] = ()) -> None:
    """Write ``data`` to a temporary file beside ``target`` and rename it into place.

    Raises:
        OutputError: ``target`` is one of ``inputs``, a folder, or in a missing folder.
    """
    for name in inputs:
        if str(name) != "-" and target.exists() and Path(name).exists() and target.samefile(name):
            raise OutputError(f"{target}: refusing to overwrite an input file")
    if target.is_dir():
        raise OutputError(f"{target}: is a directory")
    if not target.parent.is_dir():
        raise OutputError(f"{target}: folder {target.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    umask = os.umask(0)
    os.umask(umask)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        Path(tmp).chmod(0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Chart:
    """A chart and the analysis it was drawn from.

    Attributes:
        figure: the matplotlib figure.
        analysis: the rows and provenance behind it.
    """

    figure: Figure
    analysis: Analysis


def chart(
    kind: ChartKind | str,
    paths: Sequence[str | Path],
    *,
    by: str | None = None,
    watch: Sequence[str] = (),
    tz: str = "UTC",
    interval: Interval = "auto",
    top_n: int | None = None,
    baseline_until: datetime | None = None,
    baseline: Sequence[str | Path] = (),
    current: Sequence[str | Path] = (),
    **options: Any,
) -> Chart:
    """Analyse logs and draw one chart kind (the library form of ``loganalyzer plot``).

    Args:
        kind: ``regions``, ``timeline``, ``hours``, ``map``, ``asn`` or ``compare``.
        paths: log files or globs (``-`` for stdin); for ``compare``, the logs
            split at ``baseline_until`` (none with ``baseline``/``current``).
        by: what a place is for regions, timeline and compare: ``region``
            (default), ``country``, ``subregion``, ``city`` or ``asn``.
        watch: country or province codes, highlighted and always shown.
        tz: time zone of the ``hours`` heatmap.
        interval: ``hour``, ``day`` or ``auto`` for the timeline.
        top_n: how many places, networks or lines to draw.
        baseline_until: ``compare``: requests before this time are the baseline.
        baseline: ``compare``: the baseline period's logs (with ``current``).
        current: ``compare``: the current period's logs (with ``baseline``).
        **options: passed to :func:`loganalyzer.analyze` (``city_db``,
            ``asn_db``, ``since``, ``until``, ``where``, ``log_format``, ...)
            or, for ``compare``, to :func:`loganalyzer.analysis.compare.compare`.

    Returns:
        The :class:`Chart`.

    Raises:
        UsageError: an unknown kind, time zone or grouping; periods given for
            another kind than ``compare``, or given both ways.

    Example:
        >>> from loganalyzer import sample_paths
        >>> s = sample_paths()
        >>> c = chart("regions", [s.log], city_db=s.city_db, asn_db=s.asn_db, watch=["CN-LN"])
        >>> c.figure.get_size_inches() * c.figure.dpi
        array([1600.,  900.])
    """
    from loganalyzer.analysis.pipeline import analyze

    place = by or "region"
    if kind == "compare":
        from loganalyzer.analysis.compare import compare

        a = compare(
            paths,
            baseline_until=baseline_until,
            baseline=baseline,
            current=current,
            by=[place],
            watch=watch,
            top_n=top_n or 15,
            **options,
        )
        return Chart(plot_compare(a, top=top_n or 15), a)
    if baseline_until is not None or baseline or current:
        raise UsageError("--baseline-until, --baseline and --current go with --kind compare")
    if kind == "regions":
        a = analyze(paths, by=[place], watch=watch, top_n=top_n or 15, **options)
        return Chart(plot_regions(a, top=top_n or 15), a)
    if kind == "asn":
        a = analyze(paths, by=["asn"], top_n=top_n or 15, **options)
        return Chart(plot_asn(a, top=top_n or 15), a)
    if kind == "timeline":
        a = analyze(paths, by=[place, "hour"], **options)
        return Chart(plot_timeline(a, watch=watch, top=top_n or 5, interval=interval), a)
    if kind == "hours":
        zone = _zone(tz)
        if any(str(p) == "-" for p in paths) and not _whole_hours(zone):
            # Standard input cannot be read twice: place requests one by one at once.
            a = analyze(paths, by=["ts"], **options)
            return Chart(plot_hours(a, tz=tz), a)
        a = analyze(paths, by=["hour"], **options)
        try:
            return Chart(plot_hours(a, tz=tz), a)
        except UsageError:
            if any(str(p) == "-" for p in paths):
                raise
        # A half-hour zone: place each request by its own time. This second pass
        # must not write the rejected lines again, nor advance the progress bar.
        again = {**options, "rejects": None, "on_bytes": None}
        a = analyze(paths, by=["ts"], **again)
        return Chart(plot_hours(a, tz=tz), a)
    if kind == "map":
        a = analyze(paths, by=[place, "latitude", "longitude"], watch=watch, **options)
        return Chart(plot_map(a, top=top_n or 10), a)
    raise UsageError(f"unknown chart kind {kind!r}; use one of {', '.join(KINDS)}")


PLOTTERS: dict[str, Callable[..., Figure]] = {
    "regions": plot_regions,
    "timeline": plot_timeline,
    "hours": plot_hours,
    "map": plot_map,
    "asn": plot_asn,
    "compare": plot_compare,
}

__all__ = [
    "ANONYMIZED",
    "KINDS",
    "OKABE_ITO",
    "Chart",
    "ChartKind",
    "chart",
    "compare_subtitle",
    "drawable",
    "figure_bytes",
    "figure_format",
    "hour_matrix",
    "place_label",
    "plot_asn",
    "plot_compare",
    "plot_hours",
    "plot_map",
    "plot_regions",
    "plot_timeline",
    "save_figure",
    "subtitle",
    "timeline_series",
    "write_atomic",
]
