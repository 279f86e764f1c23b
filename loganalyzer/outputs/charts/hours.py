"""The hours chart: a heatmap of requests by hour of day and weekday, in a chosen time zone.

Also the time-zone helpers the briefing shares (:func:`_zone`,
:func:`_whole_hours`, :func:`_zone_words`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from loganalyzer import schema as S
from loganalyzer.errors import UsageError
from loganalyzer.outputs.charts.labels import _bucket_column, subtitle
from loganalyzer.outputs.charts.style import (
    _new_figure,
    _require_matplotlib,
    _say_empty,
    _style,
    _thousands,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from loganalyzer.analysis.pipeline import Analysis


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


__all__ = [
    "WEEKDAYS",
    "hour_matrix",
    "plot_hours",
]
