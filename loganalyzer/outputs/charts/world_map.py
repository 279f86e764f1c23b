"""The map chart: one circle per location on a world map, its area by requests (``--kind map``).

The country outlines are the bundled Natural Earth 110m countries
(``loganalyzer/data``): no geo library is needed and nothing is downloaded.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any, Literal, cast

import polars as pl

from loganalyzer import schema as S
from loganalyzer.errors import UsageError
from loganalyzer.outputs.charts.labels import place_label, subtitle
from loganalyzer.outputs.charts.style import (
    BAR_COLOR,
    WATCH_COLOR,
    _new_figure,
    _plain,
    _require_matplotlib,
    _say_empty,
    _short,
    _style,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    from loganalyzer.analysis.pipeline import Analysis


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


def _map_title(located: pl.DataFrame, rows: pl.DataFrame) -> str:
    total = int(rows[S.REQUESTS].sum() or 0)
    if located.is_empty():
        return "No located requests to map in the selected logs and time range"
    places: dict[str, int] = {}
    for r in located.iter_rows(named=True):
        name = place_label(r)
        places[name] = places.get(name, 0) + int(r[S.REQUESTS])
    name, n = max(places.items(), key=lambda kv: (kv[1], kv[0]))
    return (
        f"{name} leads the map: {n:,} of {total:,} requests ({100 * n / total:.0f}%); "
        f"{located.height:,} locations in {len(places):,} places"
    )


@functools.cache
def _basemap() -> Any:
    """The country outlines as one path collection, built once per process and copied per map.

    Parsing the TopoJSON and building ~300 polygons is most of a small map's
    time; a collection cannot be shared between figures, so each map gets a copy.
    """
    from matplotlib.collections import PolyCollection

    return PolyCollection(_world(), facecolor="#EDEDED", edgecolor="#B5B5B5", linewidth=0.5)


def _basemap_copy() -> Any:
    from matplotlib.collections import PathCollection

    base = _basemap()
    # Same paths (immutable arrays), new artist: one figure each.
    return PathCollection(base.get_paths(), facecolor="#EDEDED", edgecolor="#B5B5B5", linewidth=0.5)


Extent = Literal["world", "data"]
WORLD = (-180.0, 180.0, -58.0, 84.0)


def _limits(lons: list[float], lats: list[float], extent: str, box: tuple[float, float]) -> Any:
    """Longitude and latitude limits that fill an axes of ``box`` (width, height) pixels.

    ``world``: the inhabited latitudes, and as many longitudes as the axes'
    shape holds, centred on the circles (all 360 when the axes are wider than
    the world); ``data``: the circles with a margin. Either keeps one degree
    the same length both ways and fills the axes, so no band is blank.

    Example:
        >>> _limits([-10.0, 140.0], [47.0, 41.0], "world", (1270.0, 670.0))
        ((-89.2, 180.0), (-58.0, 84.0))
    """
    want = box[0] / max(box[1], 1.0)
    if extent == "data" and lons:
        x0, x1 = min(lons), max(lons)
        y0, y1 = min(lats), max(lats)
        pad_x, pad_y = max(8.0, 0.15 * (x1 - x0)), max(6.0, 0.15 * (y1 - y0))
        x0, x1, y0, y1 = x0 - pad_x, x1 + pad_x, y0 - pad_y, y1 + pad_y
    elif extent in ("world", "data"):
        x0, x1, y0, y1 = WORLD
        span = (min(lons), max(lons)) if lons else (x0, x1)
        # Wide enough for the axes' shape and for every circle, never more than the world.
        width = min(360.0, max((y1 - y0) * want, span[1] - span[0] + 24))
        mid = min(max((span[0] + span[1]) / 2, -180 + width / 2), 180 - width / 2)
        x0, x1 = round(mid - width / 2, 1), round(mid + width / 2, 1)
    else:
        raise UsageError(f"--extent is world or data, not {extent!r}")
    w, h = x1 - x0, y1 - y0
    if w / h < want:
        grow = (h * want - w) / 2
        x0, x1 = x0 - grow, x1 + grow
    else:
        grow = (w / want - h) / 2
        y0, y1 = y0 - grow, y1 + grow
    return (round(x0, 1), round(x1, 1)), (round(y0, 1), round(y1, 1))


def _size_legend(ax: Any, peak: int, area: float, any_watched: bool) -> None:
    from matplotlib.lines import Line2D

    steps = sorted({max(1, round(peak / k)) for k in (1, 4, 16)}, reverse=True)
    handles = [
        Line2D(
            [], [], linestyle="", marker="o", markerfacecolor=BAR_COLOR, alpha=0.6,
            markeredgecolor="white", markersize=math.sqrt(area * n / peak + 8),
            label=f"{n:,} {'request' if n == 1 else 'requests'}",
        )
        for n in steps
    ]  # fmt: skip
    if any_watched:
        handles.append(
            Line2D([], [], linestyle="", marker="o", markerfacecolor=WATCH_COLOR,
                   markeredgecolor="white", markersize=12, label="watched (--watch)")
        )  # fmt: skip
    ax.legend(
        handles=handles, title="circle area", loc="upper left", bbox_to_anchor=(1.0, 1.0),
        frameon=False, labelspacing=1.8, borderpad=1.0, handlelength=4, handletextpad=1.5,
    )  # fmt: skip


def plot_map(
    analysis: Analysis, *, top: int = 10, title: str | None = None, extent: Extent = "world"
) -> Figure:
    """A world map with one circle per location, its area proportional to requests.

    Labels are placed by textalloc (docs/decisions/0041): none overlaps another,
    a circle's centre or the axes' edge; a label that fits nowhere is left out
    and counted in the footnote. A legend gives the circle sizes and the watched colour.

    Args:
        analysis: grouped with ``latitude`` and ``longitude`` (``by=["region",
            "latitude", "longitude"]``); rows without a location are counted in
            the subtitle, not drawn.
        top: how many of the largest places get a label (watched ones always try).
        title: replaces the generated title.
        extent: ``world`` (the inhabited world) or ``data`` (zoomed to the circles);
            both fill the axes.

    Returns:
        The figure; its axes hold one scatter collection whose sizes follow
        requests, and one text per placed label (``gid`` ``"place"``).
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
    records = located.sort(S.REQUESTS, descending=True, maintain_order=True).to_dicts()
    # One label per place (a province may have several network locations),
    # at its largest circle, with its total.
    totals: dict[str, int] = {}
    anchor: dict[str, tuple[float, float]] = {}
    marked: set[str] = set()
    for r in records:
        name = _short(place_label(r), 40)
        totals[name] = totals.get(name, 0) + int(r[S.REQUESTS])
        anchor.setdefault(name, (float(r[S.LONGITUDE]), float(r[S.LATITUDE])))
        if r.get(S.WATCHED):
            marked.add(name)
    # The three largest places first (the title names the first; fewer with a
    # smaller --top), then the watched
    # ones however small, then the rest by size: labels are placed in this order,
    # and a crowded region leaves the later ones out.
    leaders = set(sorted(totals, key=lambda n: -totals[n])[: min(3, top)])
    ranked = sorted(totals, key=lambda n: (n not in leaders, n not in marked, -totals[n]))
    ranked = ranked[: top + len(marked)]
    with _style():
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        fig, ax = _new_figure(
            title or _map_title(located, rows),
            subtitle(
                analysis.meta,
                extra=f"{unplaced:,} requests without a location not drawn" if unplaced else "",
            ),
            footnote="Circle area is proportional to requests. Locations are network "
            "centroids from the database, not people. Basemap: Natural Earth (public domain).",
        )
        FigureCanvasAgg(fig)  # text extents for the label placement
        ax.add_collection(_basemap_copy())
        peak = max((int(r[S.REQUESTS]) for r in records), default=1)
        watched = [bool(r.get(S.WATCHED)) for r in records]
        area = 2000.0
        sizes = [area * int(r[S.REQUESTS]) / peak + 8 for r in records]
        lons = [float(r[S.LONGITUDE]) for r in records]
        lats = [float(r[S.LATITUDE]) for r in records]
        dots = ax.scatter(
            lons, lats, s=sizes, c=[WATCH_COLOR if w else BAR_COLOR for w in watched],
            alpha=0.6, edgecolors="white", linewidths=0.8, zorder=3,
        )  # fmt: skip
        ax.set_xlabel("longitude (degrees)")
        ax.set_ylabel("latitude (degrees)")
        if records:
            _size_legend(ax, peak, area, any(watched))
        else:
            _say_empty(ax, "No located requests in the selected logs and time range.")
        # Lay the figure out once, then freeze it: label placement works in pixels.
        fig.draw_without_rendering()
        box = ax.get_window_extent()
        (x0, x1), (y0, y1) = _limits(lons, lats, extent, (box.width, box.height))
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        fig.set_layout_engine("none")
        left_out = _label(ax, ranked, anchor, totals, marked, lons, lats, dots)
        if left_out:
            ax.text(
                0.99, 0.01, f"{left_out} smaller labels left out where they would overlap",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=10, color="#555555",
            )  # fmt: skip
    return fig


def _label(
    ax: Any,
    ranked: list[str],
    anchor: dict[str, tuple[float, float]],
    totals: dict[str, int],
    marked: set[str],
    lons: list[float],
    lats: list[float],
    dots: Any,
) -> int:
    """Place the labels with textalloc; returns how many found no free spot."""
    if not ranked:
        return 0
    import textalloc

    texts = [f"{_plain(n)}: {totals[n]:,}" for n in ranked]
    _, _, objects, _ = textalloc.allocate(
        ax,
        [anchor[n][0] for n in ranked],
        [anchor[n][1] for n in ranked],
        texts,
        x_scatter=lons,
        y_scatter=lats,
        # The drawn circles, so that labels keep off them (scatter_sizes found no spot at all).
        scatter_plot=dots,
        textsize=11,
        textcolor=[WATCH_COLOR if n in marked else "black" for n in ranked],
        linecolor="#777777",
        linewidth=0.8,
        draw_all=False,
        min_distance=0.01,
        max_distance=0.25,
        margin=0.004,
        avoid_label_lines_overlap=True,
        avoid_crossing_label_lines=True,
        zorder=4,
    )
    for obj in objects:
        if obj is not None:
            cast("Text", obj).set_gid("place")
    return sum(obj is None for obj in objects)


__all__ = [
    "WORLD",
    "Extent",
    "plot_map",
]
