"""The map chart: one circle per location on a world map, its area by requests (``--kind map``).

The country outlines are the bundled Natural Earth 110m countries
(``loganalyzer/data``): no geo library is needed and nothing is downloaded.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

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
            title or _map_title(located, rows),
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


__all__ = [
    "plot_map",
]
