"""The timeline chart: requests per hour or day for the busiest and the watched places."""

from __future__ import annotations

from collections.abc import Sequence
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


def timeline_title(buckets: list[datetime], series: dict[str, list[float]], every: str) -> str:
    """The timeline's finding: the peak bucket and the total, with the span.

    Example:
        >>> t = datetime(2026, 9, 14, 14)
        >>> timeline_title([t, t + timedelta(hours=1)], {"all requests": [58.0, 2.0]}, "hour")
        'Peak: 58 requests in the hour from 2026-09-14 14:00 UTC; 60 in all over 2 hours'
    """
    values = series.get("all requests") or []
    counted = [(v, b) for v, b in zip(values, buckets, strict=True) if v == v and v > 0]
    if not counted:
        return "No requests over time in the selected logs and time range"
    peak, when = max(counted, key=lambda c: (c[0], -c[1].timestamp()))
    total = int(sum(v for v, _ in counted))
    span = len(buckets)
    unit = every if span == 1 else f"{every}s"
    return (
        f"Peak: {int(peak):,} requests in the {every} from {when:%Y-%m-%d %H:%M} UTC; "
        f"{total:,} in all over {span:,} {unit}"
    )


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
            title or timeline_title(buckets, series, every),
            subtitle(analysis.meta, watch=watch),
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


__all__ = [
    "Interval",
    "plot_timeline",
    "timeline_series",
    "timeline_title",
]
