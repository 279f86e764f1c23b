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


def hour_coverage(meta: dict[str, Any], *, tz: str = "UTC") -> list[list[bool]]:
    """Which weekday hours in ``tz`` the log's time range touches (7x24, Monday first).

    A cell outside the range is not a quiet hour: the log says nothing about it.
    A range of a week or more covers every cell; an empty one covers none.

    Example:
        >>> cov = hour_coverage({"time_range": {"first": "2026-09-14T07:08:07Z",
        ...                                     "last": "2026-09-14T09:00:00Z"}})
        >>> [h for h in range(24) if cov[0][h]], any(cov[1])
        ([7, 8, 9], False)
    """
    tr = meta.get("time_range") or {}
    if not tr.get("first") or not tr.get("last"):
        return [[False] * 24 for _ in range(7)]
    zone = _zone(tz)
    first = datetime.fromisoformat(str(tr["first"]).replace("Z", "+00:00"))
    last = datetime.fromisoformat(str(tr["last"]).replace("Z", "+00:00"))
    if last - first >= timedelta(days=7, hours=1):
        return [[True] * 24 for _ in range(7)]
    cells = [[False] * 24 for _ in range(7)]
    # Quarter-hour steps: zones 30 or 45 minutes off UTC start their local hours there.
    t = first.replace(minute=first.minute - first.minute % 15, second=0, microsecond=0)
    while t <= last:
        local = t.astimezone(zone)
        cells[local.weekday()][local.hour] = True
        t += timedelta(minutes=15)
    return cells


def _offset_text(tz: str, meta: dict[str, Any]) -> str:
    first = (meta.get("time_range") or {}).get("first")
    when = datetime.fromisoformat(first.replace("Z", "+00:00")) if first else datetime.now(UTC)
    off = when.astimezone(_zone(tz)).utcoffset() or timedelta(0)
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def hours_title(matrix: list[list[int]], tz: str) -> str:
    """The heatmap's finding: the busiest weekday hour and how much of the traffic it holds.

    Example:
        >>> m = [[0] * 24 for _ in range(7)]
        >>> m[1][14] = 30
        >>> m[2][3] = 10
        >>> hours_title(m, "Asia/Shanghai")
        'Busiest hour: Tue 14:00-14:59 Asia/Shanghai time, 30 of 40 requests (75%)'
    """
    total = sum(map(sum, matrix))
    if not total:
        return f"No requests to place by hour in {_zone_words(tz)}"
    wd, h = max(((d, hr) for d in range(7) for hr in range(24)), key=lambda c: matrix[c[0]][c[1]])
    n = matrix[wd][h]
    return (
        f"Busiest hour: {WEEKDAYS[wd]} {h:02d}:00-{h:02d}:59 {_zone_words(tz)}, "
        f"{n:,} of {total:,} requests ({100 * n / total:.0f}%)"
    )


NOT_IN_LOG = "not in the log"


def plot_hours(analysis: Analysis, *, tz: str = "UTC", title: str | None = None) -> Figure:
    """Heatmap of requests by local hour of day and weekday in a chosen time zone.

    The view analysts use to see whose working day the activity follows. Weekday
    hours the log's time range does not reach are hatched and marked "not in
    the log", so they never read as quiet hours; a reached hour without a
    request shows 0.

    Args:
        analysis: grouped by ``hour`` (see :func:`hour_matrix`).
        tz: the IANA zone to show (``Asia/Shanghai``, ``Europe/Madrid``...).
        title: replaces the generated title (which states the busiest hour).

    Returns:
        The figure; its first axes hold one masked image whose array is the 7x24
        matrix (masked where not in the log), and one hatched rectangle per
        cell outside the log, with the ``gid`` ``"not-in-log"``.
    """
    _require_matplotlib()
    import numpy as np

    matrix = hour_matrix(analysis, tz=tz)
    covered = hour_coverage(analysis.meta, tz=tz)
    offset = _offset_text(tz, analysis.meta)
    with _style():
        from matplotlib.patches import Patch, Rectangle

        fig, ax = _new_figure(
            title or hours_title(matrix, tz),
            subtitle(analysis.meta, extra=f"shown in {tz} ({offset} at the start)"),
            footnote="Each cell sums every such weekday hour in the range. Hatched: "
            "the log's time range does not reach that hour. IP geolocation is approximate.",
        )
        peak = max(max(r) for r in matrix) or 1
        shown = np.ma.masked_array(
            np.array(matrix, dtype=float), mask=[[not c for c in row] for row in covered]
        )
        from matplotlib import colormaps

        cmap = colormaps["cividis"].with_extremes(bad="white")
        # From zero, so the darkest colour always means no request in a covered hour.
        image = ax.imshow(
            shown, cmap=cmap, aspect="auto", interpolation="nearest", vmin=0, vmax=peak
        )
        ax.set_xticks(range(24), [f"{h:02d}" for h in range(24)])
        ax.set_yticks(range(7), list(WEEKDAYS))
        ax.set_xlabel(f"hour of day in {tz} (local time, {offset})")
        ax.set_ylabel("weekday")
        for wd in range(7):
            for h in range(24):
                if not covered[wd][h]:
                    ax.add_patch(
                        Rectangle(
                            (h - 0.5, wd - 0.5), 1, 1, facecolor="white", edgecolor="#B0B0B0",
                            hatch="//", linewidth=0, gid="not-in-log",
                        )
                    )  # fmt: skip
                    continue
                n = matrix[wd][h]
                ax.text(
                    h,
                    wd,
                    f"{n:,}",
                    ha="center",
                    va="center",
                    fontsize=10 if n < 10_000 else 8,
                    color="black" if n > peak * 0.6 else "white",
                )
            if not any(covered[wd]):
                ax.text(
                    11.5, wd, NOT_IN_LOG, ha="center", va="center", fontsize=13,
                    color="#555555", bbox={"facecolor": "white", "edgecolor": "none"},
                )  # fmt: skip
        if not any(any(r) for r in matrix):
            _say_empty(ax)
        bar = fig.colorbar(image, ax=ax, shrink=0.9, pad=0.01)
        bar.set_label("requests in that hour (count)")
        _thousands(bar.ax.yaxis)
        if not all(all(r) for r in covered):
            ax.legend(
                handles=[
                    Patch(facecolor="white", edgecolor="#B0B0B0", hatch="//", label=NOT_IN_LOG)
                ],
                loc="upper left", bbox_to_anchor=(0.0, -0.09), frameon=False,
            )  # fmt: skip
    return fig


__all__ = [
    "NOT_IN_LOG",
    "WEEKDAYS",
    "hour_coverage",
    "hour_matrix",
    "hours_title",
    "plot_hours",
]
