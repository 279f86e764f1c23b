"""The ASN chart: the regions chart's bars, per network (autonomous system)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loganalyzer import schema as S
from loganalyzer.errors import UsageError
from loganalyzer.outputs.charts.regions import plot_regions
from loganalyzer.outputs.charts.style import MAX_BARS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from loganalyzer.analysis.pipeline import Analysis


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


__all__ = [
    "plot_asn",
]
