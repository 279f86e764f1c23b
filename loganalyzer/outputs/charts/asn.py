"""The ASN chart: the regions chart's bars, per network (autonomous system)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loganalyzer import schema as S
from loganalyzer.errors import UsageError
from loganalyzer.outputs.charts.regions import plot_regions

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
    # The bars are the regions chart's; its title names the leading network.
    return plot_regions(analysis, top=top, title=title)


__all__ = [
    "plot_asn",
]
