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

One module per chart kind (:mod:`~loganalyzer.outputs.charts.regions`,
:mod:`~loganalyzer.outputs.charts.asn`, :mod:`~loganalyzer.outputs.charts.timeline`,
:mod:`~loganalyzer.outputs.charts.hours`, :mod:`~loganalyzer.outputs.charts.world_map`,
:mod:`~loganalyzer.outputs.charts.compare`), on two shared ones: how charts look
(:mod:`~loganalyzer.outputs.charts.style`) and what they say about rows
(:mod:`~loganalyzer.outputs.charts.labels`). This module holds :func:`chart`,
the library form of ``loganalyzer plot``, and writing figures
(:func:`figure_bytes`, :func:`save_figure`); it re-exports each kind's public
functions, so ``from loganalyzer.outputs.charts import plot_regions`` works.
The chart modules never import this one.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from loganalyzer.errors import OutputError, UsageError
from loganalyzer.outputs.charts.asn import plot_asn
from loganalyzer.outputs.charts.compare import compare_subtitle, plot_compare
from loganalyzer.outputs.charts.hours import _whole_hours, _zone, hour_matrix, plot_hours
from loganalyzer.outputs.charts.labels import ANONYMIZED, place_label, subtitle
from loganalyzer.outputs.charts.regions import plot_regions
from loganalyzer.outputs.charts.style import DPI, OKABE_ITO, _style, drawable
from loganalyzer.outputs.charts.timeline import Interval, plot_timeline, timeline_series
from loganalyzer.outputs.charts.world_map import plot_map

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from loganalyzer.analysis.pipeline import Analysis

ChartKind = Literal["regions", "timeline", "hours", "map", "asn", "compare"]
KINDS: tuple[str, ...] = ("regions", "timeline", "hours", "map", "asn", "compare")


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
    # zlib level 1: a chart's PNG is 1% larger and written about a fifth faster.
    extra: dict[str, Any] = {"pil_kwargs": {"compress_level": 1}} if fmt == "png" else {}
    with _style():
        fig.savefig(buf, format=fmt, dpi=DPI, metadata=metadata.get(fmt, {}), **extra)
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
    title: str | None = None,
    extent: str = "world",
    log_scale: bool = False,
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
        title: replaces the generated title (which states the chart's finding).
        extent: ``map``: ``world`` or ``data`` (zoomed to the circles).
        log_scale: ``timeline``: a log axis for places of very different volumes.
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
            # Every row: the chart picks the most changed, the comparison ranks otherwise.
            top_n=None,
            **options,
        )
        return Chart(plot_compare(a, top=top_n or 15, title=title), a)
    if baseline_until is not None or baseline or current:
        raise UsageError("--baseline-until, --baseline and --current go with --kind compare")
    if kind == "regions":
        a = analyze(paths, by=[place], watch=watch, top_n=top_n or 15, **options)
        return Chart(plot_regions(a, top=top_n or 15, title=title), a)
    if kind == "asn":
        a = analyze(paths, by=["asn"], top_n=top_n or 15, **options)
        return Chart(plot_asn(a, top=top_n or 15, title=title), a)
    if kind == "timeline":
        a = analyze(paths, by=[place, "hour"], **options)
        return Chart(
            plot_timeline(
                a, watch=watch, top=top_n or 5, interval=interval, title=title, log_scale=log_scale
            ),
            a,
        )
    if kind == "hours":
        zone = _zone(tz)
        if any(str(p) == "-" for p in paths) and not _whole_hours(zone):
            # Standard input cannot be read twice: place requests one by one at once.
            a = analyze(paths, by=["ts"], **options)
            return Chart(plot_hours(a, tz=tz, title=title), a)
        a = analyze(paths, by=["hour"], **options)
        try:
            return Chart(plot_hours(a, tz=tz, title=title), a)
        except UsageError:
            if any(str(p) == "-" for p in paths):
                raise
        # A half-hour zone: place each request by its own time. This second pass
        # must not write the rejected lines again, nor advance the progress bar.
        again = {**options, "rejects": None, "on_bytes": None}
        a = analyze(paths, by=["ts"], **again)
        return Chart(plot_hours(a, tz=tz, title=title), a)
    if kind == "map":
        a = analyze(paths, by=[place, "latitude", "longitude"], watch=watch, **options)
        fig = plot_map(a, top=top_n or 10, title=title, extent=extent)  # type: ignore[arg-type]
        return Chart(fig, a)
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
