"""The timeline chart: requests per hour or day for the busiest and the watched places."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from loganalyzer import schema as S
from loganalyzer.errors import UsageError
from loganalyzer.outputs.charts.labels import (
    _bucket_column,
    _place_keys,
    _watch_codes,
    _watch_match,
    place_label,
    subtitle,
)
from loganalyzer.outputs.charts.style import (
    OKABE_ITO,
    SERIES_COLORS,
    WATCH_COLOR,
    _new_figure,
    _plain,
    _require_matplotlib,
    _say_empty,
    _short,
    _style,
    _thousands,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from loganalyzer.analysis.pipeline import Analysis

Interval = Literal["auto", "hour", "day"]
# Lines of places that are not watched never take the watched colour.
PLACE_COLORS = tuple(c for c in SERIES_COLORS if c not in (WATCH_COLOR, "#000000"))
OUTLIER_COLOR = OKABE_ITO["purple"]


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


def timeline_title(
    buckets: list[datetime], series: dict[str, list[float]], every: str, *, outside: int = 0
) -> str:
    """The timeline's finding: the peak bucket and the total, with the span.

    Example:
        >>> t = datetime(2026, 9, 14, 14)
        >>> timeline_title([t, t + timedelta(hours=1)], {"all requests": [58.0, 2.0]}, "hour")
        'Peak: 58 requests in the hour from 2026-09-14 14:00 UTC; 60 in all over 2 hours'
        >>> timeline_title([t], {"all requests": [58.0]}, "hour", outside=12)
        'Peak: 58 requests in the hour from 2026-09-14 14:00 UTC; 58 over 1 hour, 12 more outside it'
    """  # noqa: E501
    values = series.get("all requests") or []
    counted = [(v, b) for v, b in zip(values, buckets, strict=True) if v == v and v > 0]
    if not counted:
        return "No requests over time in the selected logs and time range"
    peak, when = max(counted, key=lambda c: (c[0], -c[1].timestamp()))
    total = int(sum(v for v, _ in counted))
    span = len(buckets)
    unit = every if span == 1 else f"{every}s"
    head = f"Peak: {int(peak):,} requests in the {every} from {when:%Y-%m-%d %H:%M} UTC; "
    if outside:
        return head + f"{total:,} over {span:,} {unit}, {outside:,} more outside it"
    return head + f"{total:,} in all over {span:,} {unit}"


OUTLIER_GAP = timedelta(hours=24)
"""Active hours further apart than this (or a fifth of the whole span) start a new stretch."""
OUTLIER_SHARE = 0.1
"""A stretch holding less than this share of the requests is outlying."""


@dataclass(frozen=True)
class Stretch:
    """A run of active hours: the first and last hour, and the requests in it."""

    first: datetime
    last: datetime
    requests: int


def stretches(analysis: Analysis) -> tuple[list[Stretch], list[Stretch]]:
    """Split the active hours into the main period and outlying stretches.

    The rule, so the chart never guesses: hours with a request are cut into
    stretches wherever two of them are more than :data:`OUTLIER_GAP` (or a fifth
    of the whole span, if longer) apart; a stretch holding less than
    :data:`OUTLIER_SHARE` of the requests is outlying, unless every stretch is.
    The main period runs from the first to the last hour of the others.

    Returns:
        The main stretches and the outlying ones, in time order.
    """
    col = _bucket_column(analysis.rows)
    rows = analysis.rows.filter(pl.col(col).is_not_null() & (pl.col(S.REQUESTS) > 0))
    if rows.is_empty():
        return [], []
    hours = (
        rows.group_by(pl.col(col).dt.truncate("1h").alias("h"))
        .agg(pl.col(S.REQUESTS).sum())
        .sort("h")
    )
    times: list[datetime] = hours["h"].to_list()
    counts: list[int] = [int(n) for n in hours[S.REQUESTS].to_list()]
    gap = max(OUTLIER_GAP, (times[-1] - times[0]) / 5)
    runs: list[Stretch] = []
    start, total = 0, sum(counts)
    for i in range(1, len(times) + 1):
        if i == len(times) or times[i] - times[i - 1] > gap:
            runs.append(Stretch(times[start], times[i - 1], sum(counts[start:i])))
            start = i
    main = [r for r in runs if r.requests >= OUTLIER_SHARE * total]
    if not main:
        return runs, []
    return main, [r for r in runs if r.requests < OUTLIER_SHARE * total]


def outlier_note(out: Sequence[Stretch]) -> str:
    """One sentence for the stretches outside the main period.

    Example:
        >>> t = datetime(2026, 10, 14, 3)
        >>> outlier_note([Stretch(t, t + timedelta(hours=30), 12)])
        '12 requests on 14-15 Oct 2026 outside the main period (inset)'
    """
    parts = []
    for r in out:
        if r.first.date() == r.last.date():
            when = f"{r.first:%-d %b %Y}"
        elif r.first.month == r.last.month:
            when = f"{r.first:%-d}-{r.last:%-d %b %Y}"
        else:
            when = f"{r.first:%-d %b}-{r.last:%-d %b %Y}"
        parts.append(f"{r.requests:,} {'request' if r.requests == 1 else 'requests'} on {when}")
    return "; ".join(parts) + " outside the main period (inset)"


def _within(analysis: Analysis, first: datetime, last: datetime) -> Analysis:
    col = _bucket_column(analysis.rows)
    hour = pl.col(col).dt.truncate("1h")
    rows = analysis.rows.filter(pl.col(col).is_null() | hour.is_between(first, last))
    return replace(analysis, rows=rows)


def _lone(values: list[float]) -> list[int]:
    """The points with no neighbour to draw a line to (a gap, NaN, on each side)."""
    n = len(values)

    def gap(i: int) -> bool:
        return i < 0 or i >= n or values[i] != values[i]

    return [i for i in range(n) if not gap(i) and gap(i - 1) and gap(i + 1)]


def _same(a: list[float], b: list[float]) -> bool:
    """Equal series, gaps (NaN) included."""
    return len(a) == len(b) and all(
        x == y or (x != x and y != y) for x, y in zip(a, b, strict=True)
    )


def plot_timeline(
    analysis: Analysis,
    *,
    watch: Sequence[str] = (),
    top: int = 5,
    interval: Interval = "auto",
    title: str | None = None,
    log_scale: bool = False,
) -> Figure:
    """Requests per hour or day for the busiest and the watched places.

    The axis covers the main period (see :func:`stretches`); requests outside it
    are drawn in an inset and stated in a note, never dropped. Watched places are
    drawn in the watched colour, each its own line style.

    Args:
        analysis: grouped by places and ``hour``, e.g. ``by=["region", "hour"]``.
        watch: country or province codes always drawn (a flat zero line when absent).
        top: how many of the busiest places to draw besides the watched ones.
        interval: ``hour``, ``day`` or ``auto``.
        title: replaces the generated title.
        log_scale: a symmetric log axis (linear near zero), so a place with a few
            requests an hour stays visible next to one with thousands.

    Returns:
        The figure; each line's label is its place, ``all requests`` is the total.
        Hours with no request at all are gaps (NaN), so a missing log shows. With
        outlying stretches, a child axes of the main one (the inset, ``label`` ``"outliers"``)
        holds one bar per outlying day and a text with ``gid``
        ``"outliers"``.
    """
    _require_matplotlib()
    main, out = stretches(analysis)
    shown = _within(analysis, main[0].first, main[-1].last) if out else analysis
    buckets, series, every = timeline_series(shown, watch=watch, top=top, interval=interval)
    codes = set(_watch_codes(watch))
    with _style():
        fig, ax = _new_figure(
            title or timeline_title(buckets, series, every, outside=sum(r.requests for r in out)),
            subtitle(analysis.meta, watch=watch),
            footnote="Gaps are periods with no request from anywhere (no log coverage or no "
            "traffic). IP geolocation is approximate." + _scale_hint(series, codes, log_scale),
        )
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

        places = 0
        styles = ("-", "--", "-.", (0, (5, 1, 1, 1, 1, 1)))
        marked = 0
        style: Any
        for label, values in series.items():
            is_all = label == "all requests"
            if is_all and any(_same(v, values) for k, v in series.items() if k != label):
                continue  # one place is every request (a place's own chart): one line says it
            watched = not is_all and any(
                label.startswith(c) or f"({c})" in label or f"({c}," in label for c in codes
            )
            if is_all:
                color, style = "#7A7A7A", ":"
            elif watched:
                color, style = WATCH_COLOR, styles[marked % len(styles)]
                marked += 1
            else:
                color, style = PLACE_COLORS[places % len(PLACE_COLORS)], "-"
                places += 1
            ax.plot(
                buckets,  # type: ignore[arg-type]
                values,
                label=_plain(_short(label) + (" [watched]" if watched else "")),
                color=color,
                linewidth=1.5 if is_all else 2.8 if watched else 2,
                linestyle=style,
                # Past 80 points, only the lone ones (gaps on both sides) are marked:
                # a line joins nothing there, and without a mark they vanish.
                marker="o",
                markevery=None if len(buckets) <= 80 else _lone(values),
                markersize=3,
                zorder=3 if watched else 2,
            )
        ax.set_xlabel(f"time (UTC), one point per {every}")
        ax.set_ylabel(f"requests per {every} (count" + (", log scale)" if log_scale else ")"))
        if buckets:
            locator = AutoDateLocator()  # type: ignore[no-untyped-call]
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
            if log_scale:
                from matplotlib.ticker import FuncFormatter

                ax.set_yscale("symlog", linthresh=1)
                ax.set_ylim(bottom=0)
                ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: f"{y:,.0f}"))
            else:
                ax.set_ylim(bottom=0)
                _thousands(ax.yaxis)
        else:
            _say_empty(ax)
            ax.set_xticks([])
            ax.set_yticks([])
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        if out:
            _inset(ax, analysis, out)
    return fig


def _scale_hint(series: dict[str, list[float]], codes: set[str], log_scale: bool) -> str:
    """A hint when a watched line lies flat on the axis beside the total (under 2% of its peak)."""
    if log_scale or not codes:
        return ""
    peak = max((v for v in series.get("all requests", []) if v == v), default=0.0)
    flat = [
        label
        for label, values in series.items()
        if label != "all requests"
        and any(label.startswith(c) or f"({c}" in label for c in codes)
        and max((v for v in values if v == v), default=0.0) < 0.02 * peak
    ]
    if not flat:
        return ""
    return f" {len(flat)} watched line(s) under 2% of the peak: --log-scale shows them."


def _inset(ax: Any, analysis: Analysis, out: Sequence[Stretch]) -> None:
    """The outlying stretches, per day, in a small panel below the legend, and the note."""
    col = _bucket_column(analysis.rows)
    days: dict[datetime, int] = {}
    for r in out:
        part = _within(analysis, r.first, r.last).rows.filter(pl.col(col).is_not_null())
        by_day = part.group_by(pl.col(col).dt.truncate("1d").alias("d")).agg(
            pl.col(S.REQUESTS).sum()
        )
        for d, n in by_day.iter_rows():
            days[d] = days.get(d, 0) + int(n)
    inset = ax.inset_axes((1.08, 0.0, 0.2, 0.3))
    inset.set_label("outliers")
    order = sorted(days)
    inset.bar(range(len(order)), [days[d] for d in order], color=OUTLIER_COLOR)
    inset.set_xticks(
        range(len(order)), [f"{d:%d %b}" for d in order], rotation=45, ha="right", fontsize=10
    )
    inset.tick_params(axis="y", labelsize=10)
    _thousands(inset.yaxis)
    inset.set_ylabel("requests per day", fontsize=10)
    # The note heads the inset: above the main axes it would cover the subtitle.
    note = "\n".join(textwrap.wrap(outlier_note(out), 30))
    inset.text(
        0.0, 1.06, note, transform=inset.transAxes, va="bottom", ha="left",
        fontsize=11, color=OUTLIER_COLOR, fontweight="bold", gid="outliers",
    )  # fmt: skip


__all__ = [
    "OUTLIER_GAP",
    "OUTLIER_SHARE",
    "Interval",
    "Stretch",
    "outlier_note",
    "plot_timeline",
    "stretches",
    "timeline_series",
    "timeline_title",
]
