"""The briefing's extra sections: one per watched place, and a list others can join.

Each entry of :data:`SECTIONS` is a function from a :class:`BriefContext` (the
analyses of the one read) to zero or more :class:`Section` objects; the briefing
renders them, in order, after its key findings, as HTML or Markdown. A new kind of
section is one more function appended to the list.

Text in a section is plain (log- and database-derived names unescaped): the
renderer escapes it for its format.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import polars as pl

from loganalyzer import schema as S
from loganalyzer.errors import UsageError
from loganalyzer.outputs.charts.hours import hour_matrix, hours_title
from loganalyzer.outputs.charts.labels import anonymizer_words, place_label

if TYPE_CHECKING:
    from loganalyzer.analysis.pipeline import Analysis


@dataclass(frozen=True)
class Section:
    """One section of the briefing.

    Attributes:
        id: the HTML anchor (letters, digits and dashes).
        heading: the section's title.
        paragraphs: sentences, each a paragraph.
        tables: (caption, header, rows) triples; cells are str, int or None.
        images: (alt text, PNG bytes) pairs.
    """

    id: str
    heading: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[tuple[str, list[str], list[list[Any]]], ...] = ()
    images: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class BriefContext:
    """What a section builder may read: the analyses of the briefing's one read.

    Attributes:
        views: the analyses by name (``regions``, ``networks``, ``hourly``,
            ``paths``, and when places are watched ``place_paths``,
            ``place_networks``, ``place_zones``).
        watch: the watched codes as given.
        tz: the briefing's time zone.
        charts: whether sections may draw images.
    """

    views: dict[str, Analysis]
    watch: tuple[str, ...] = ()
    tz: str = "UTC"
    charts: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


SectionBuilder = Callable[[BriefContext], list[Section]]


def _matching(rows: pl.DataFrame, code: str) -> pl.DataFrame:
    """Rows of a watched code: a country (``ES``) or a province (``CN-LN``)."""
    if "-" in code:
        cols = [c for c in (S.REGION_ISO, S.SUBREGION_ISO) if c in rows.columns]
        if not cols:
            return rows.clear()
        return rows.filter(pl.any_horizontal([pl.col(c) == code for c in cols]).fill_null(False))
    if S.COUNTRY_ISO not in rows.columns:
        return rows.clear()
    return rows.filter((pl.col(S.COUNTRY_ISO) == code).fill_null(False))


def _when(ts: Any) -> str:
    return ts.strftime("%Y-%m-%d %H:%M UTC") if ts is not None else "?"


def _top(rows: pl.DataFrame, keys: Sequence[str], n: int = 5) -> pl.DataFrame:
    return (
        rows.group_by(list(keys))
        .agg(pl.col(S.REQUESTS).sum(), pl.col(S.UNIQUE_IPS).sum())
        .sort([S.REQUESTS, *keys], descending=[True, *[False] * len(keys)], nulls_last=True)
        .head(n)
    )


def watched_place_sections(ctx: BriefContext) -> list[Section]:
    """A section per watched place: its totals, anonymizers, local hours, paths and networks.

    Also first and last seen, and a chart of its requests over time.

    Addresses add up across a place's rows because each address has one location.
    """
    out = []
    regions = ctx.views["regions"].rows
    for code in [w.strip().upper() for w in ctx.watch if w.strip()]:
        mine = _matching(regions.filter(pl.col(S.REQUESTS) > 0), code)
        anchor = f"watched-{code.lower()}"
        if mine.is_empty():
            out.append(
                Section(anchor, f"Watched {code}", (f"No access from {code} in these logs.",))
            )
            continue
        name = place_label(mine.row(0, named=True)) if "-" in code else code
        if "-" not in code and S.COUNTRY in mine.columns and mine[S.COUNTRY][0]:
            name = f"{mine[S.COUNTRY][0]} ({code})"
        total = {c: mine[c].sum() for c in mine.columns if c in _SUMMED}
        n, ips = int(total[S.REQUESTS] or 0), int(total[S.UNIQUE_IPS] or 0)
        lines = [
            f"{n:,} {'request' if n == 1 else 'requests'} from {ips:,} "
            f"{'address' if ips == 1 else 'addresses'}, first at "
            f"{_when(mine[S.FIRST_SEEN].min())}, last at {_when(mine[S.LAST_SEEN].max())}."
        ]
        anon = anonymizer_words(total)
        lines.append(
            f"Anonymizers: {anon}."
            if anon
            else "Anonymizers: no sources loaded, so none is known either way."
        )
        zone = _zone_of(ctx, code)
        hourly = ctx.views["hourly"]
        local = replace(hourly, rows=_matching(hourly.rows, code))
        try:
            busiest = _lower(hours_title(hour_matrix(local, tz=zone), zone))
            lines.append(f"In the place's own time ({zone}): {busiest}.")
        except UsageError:  # a half-hour zone from hour buckets: say so, not fail
            lines.append(f"Its hours cannot be placed in {zone} from hour buckets.")
        tables = []
        if "place_paths" in ctx.views:
            paths = _top(_matching(ctx.views["place_paths"].rows, code), [S.PATH])
            body = [
                [r[S.PATH], r[S.REQUESTS], r[S.UNIQUE_IPS]] for r in paths.iter_rows(named=True)
            ]
            tables.append(("Paths it fetched most", ["path", "requests", "addresses"], body))
        if "place_networks" in ctx.views:
            nets = _top(_matching(ctx.views["place_networks"].rows, code), [S.ASN, S.AS_ORG])
            body = [
                [f"AS{r[S.ASN]}" if r[S.ASN] is not None else "-", r[S.AS_ORG], r[S.REQUESTS],
                 r[S.UNIQUE_IPS]]
                for r in nets.iter_rows(named=True)
            ]  # fmt: skip
            tables.append(("Networks", ["AS", "organisation", "requests", "addresses"], body))
        images: list[tuple[str, bytes]] = []
        if ctx.charts:
            from loganalyzer.outputs.charts import figure_bytes, plot_timeline

            fig = plot_timeline(local, watch=[code], top=0, title=f"{name}: requests over time")
            images.append((f"Requests per hour from {name}.", figure_bytes(fig)))
        out.append(Section(anchor, f"Watched: {name}", tuple(lines), tuple(tables), tuple(images)))
    return out


_SUMMED = frozenset({S.REQUESTS, S.UNIQUE_IPS, *S.ANON_COUNT_COLUMNS})


def _lower(sentence: str) -> str:
    return sentence[:1].lower() + sentence[1:]


def _zone_of(ctx: BriefContext, code: str) -> str:
    """The database's time zone with the most requests of the place; the briefing's without."""
    zones = ctx.views.get("place_zones")
    if zones is None or S.TIME_ZONE not in zones.rows.columns:
        return ctx.tz
    mine = _matching(zones.rows, code).filter(pl.col(S.TIME_ZONE).is_not_null())
    if mine.is_empty():
        return ctx.tz
    best = _top(mine, [S.TIME_ZONE], 1)
    return str(best[S.TIME_ZONE][0])


SECTIONS: list[SectionBuilder] = [watched_place_sections]
"""Section builders run in order after the key findings; append one to add a section."""

__all__ = [
    "SECTIONS",
    "BriefContext",
    "Section",
    "SectionBuilder",
    "watched_place_sections",
]
