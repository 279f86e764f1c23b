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
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from loganalyzer import schema as S
from loganalyzer.errors import UsageError
from loganalyzer.outputs.charts.hours import hour_matrix, hours_title
from loganalyzer.outputs.charts.labels import anonymizer_words, place_label

if TYPE_CHECKING:
    from loganalyzer.analysis.links import Links
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


LATE_SHARE = 0.1
"""Late only: first seen in the last tenth of the analysed period."""
BURST = timedelta(hours=1)
"""Burst only: every request within an hour, in a period of a day or more."""
MIN_REQUESTS = 5
"""Late or burst rows need at least this many requests to be said."""
RARE_ADDRESSES = 2
"""A rare path: fetched by at most this many addresses in the whole log."""
MAX_SAID = 5
"""At most this many sentences per rule, the largest first."""


def _period(ctx: BriefContext) -> tuple[datetime, datetime] | None:
    rows = ctx.views["regions"].rows.filter(pl.col(S.REQUESTS) > 0)
    if rows.is_empty():
        return None
    first, last = rows[S.FIRST_SEEN].min(), rows[S.LAST_SEEN].max()
    assert isinstance(first, datetime)
    assert isinstance(last, datetime)
    return first, last


def _timing(rows: pl.DataFrame, period: tuple[datetime, datetime], what: str) -> list[str]:
    """Late-only and burst-only rows of a view, each a sentence with its numbers."""
    first, last = period
    span = last - first
    rows = rows.filter(pl.col(S.REQUESTS) >= MIN_REQUESTS)
    out = []
    if span > timedelta(0):
        cut = last - span * LATE_SHARE
        late = rows.filter(pl.col(S.FIRST_SEEN) >= cut).sort(
            S.REQUESTS, descending=True, maintain_order=True
        )
        for r in late.head(MAX_SAID).iter_rows(named=True):
            out.append(
                f"{what} {_label(r)} appears only late: {_n(r[S.REQUESTS], 'request')} from "
                f"{_n(r[S.UNIQUE_IPS], 'address')}, all from {_when(r[S.FIRST_SEEN])} on (the "
                f"last {100 * LATE_SHARE:.0f}% of a period from {_when(first)} to {_when(last)})."
            )
    if span >= timedelta(days=1):
        burst = rows.filter(pl.col(S.LAST_SEEN) - pl.col(S.FIRST_SEEN) <= BURST)
        ranked = burst.sort(S.REQUESTS, descending=True, maintain_order=True)
        for r in ranked.head(MAX_SAID).iter_rows(named=True):
            minutes = (r[S.LAST_SEEN] - r[S.FIRST_SEEN]).total_seconds() / 60
            out.append(
                f"{what} {_label(r)} came in one burst: {_n(r[S.REQUESTS], 'request')} from "
                f"{_n(r[S.UNIQUE_IPS], 'address')} within {minutes:.0f} minutes from "
                f"{_when(r[S.FIRST_SEEN])}, in a period of {span.total_seconds() / 86400:.1f} days."
            )
    return out


def _n(n: Any, word: str) -> str:
    """A count and its noun: ``1 request``, ``2 requests``, ``1 address``, ``3 addresses``."""
    n = int(n)
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}{'es' if word.endswith('s') else 's'}"


def _label(row: dict[str, Any]) -> str:
    if S.PATH in row and S.ASN not in row and S.COUNTRY_ISO not in row:
        return str(row[S.PATH])
    return place_label(row)


def standout_sections(ctx: BriefContext) -> list[Section]:
    """What stands out, by simple rules (see the constants above), never by guesswork.

    Places, networks and paths seen only late in the period (first seen in its
    last tenth) or only in a burst (within an hour, in a period of a day or
    more), with at least five requests; and watched places fetching rare paths
    (fetched by at most two addresses in the whole log).
    """
    period = _period(ctx)
    if period is None:
        return []
    lines = _timing(ctx.views["regions"].rows, period, "Place")
    lines += _timing(
        ctx.views["networks"].rows.filter(pl.col(S.ASN).is_not_null()), period, "Network"
    )
    if "all_paths" in ctx.views:
        lines += _timing(ctx.views["all_paths"].rows, period, "Path")
    if "place_paths" in ctx.views:
        pairs = ctx.views["place_paths"].rows
        # Each address has one location, so a path's addresses add up across places.
        rare = (
            pairs.group_by(S.PATH)
            .agg(pl.col(S.UNIQUE_IPS).sum().alias("everyone"))
            .filter(pl.col("everyone") <= RARE_ADDRESSES)
        )
        for code in [w.strip().upper() for w in ctx.watch if w.strip()]:
            mine = (
                _matching(pairs, code)
                .join(rare, on=S.PATH)
                .sort([S.REQUESTS, S.PATH], descending=[True, False], nulls_last=True)
            )
            for r in mine.head(MAX_SAID).iter_rows(named=True):
                lines.append(
                    f"Watched {code} fetched the rare path {r[S.PATH]}: "
                    f"{_n(r[S.REQUESTS], 'request')} from {r[S.UNIQUE_IPS]:,} of the "
                    f"{_n(r['everyone'], 'address')} in the whole log that fetched it, "
                    f"from {_when(r[S.FIRST_SEEN])}."
                )
    if not lines:
        lines = ["Nothing met the rules: no place, network or path only late or in one burst, "
                 "and no watched place fetching a rare path."]  # fmt: skip
    return [Section("stands-out", "What stands out", tuple(lines))]


def compare_sections(ctx: BriefContext) -> list[Section]:
    """With ``compare_baseline``: what changed since the baseline, as the compare chart shows it."""
    a = ctx.views.get("compare")
    if a is None:
        return []
    from loganalyzer.outputs.charts.compare import (
        _change_text,
        compare_subtitle,
        compare_title,
        most_changed,
    )

    keys = [k for k in a.meta.get("keys", []) if k in a.rows.columns]
    rows = most_changed(a.rows, 15)
    body = [
        [place_label({k: r[k] for k in keys}), r["change"], r["requests_baseline"],
         r["requests_current"], _change_text(r)]
        for r in rows.iter_rows(named=True)
    ]  # fmt: skip
    header = ["place", "change", "baseline", "current", "in words"]
    images: tuple[tuple[str, bytes], ...] = ()
    if ctx.charts:
        from loganalyzer.outputs.charts import figure_bytes, plot_compare

        images = (("Dumbbell chart of each place's share, baseline and current.",
                   figure_bytes(plot_compare(a))),)  # fmt: skip
    return [
        Section(
            "compare", "What changed since the baseline",
            (compare_title(a) + ".", compare_subtitle(a.meta) + "."),
            (("The 15 most changed places, and the watched ones", header, body),), images,
        )
    ]  # fmt: skip


def linked_access_sections(ctx: BriefContext) -> list[Section]:
    """With ``links``: the clusters tying anonymized access to direct access (``links``)."""
    found = ctx.extra.get("links")
    if found is None:
        return []
    return [links_section(found, watch=ctx.watch, charts=ctx.charts)]


def links_section(found: Links, *, watch: Sequence[str] = (), charts: bool = True) -> Section:
    """The briefing's "Linked access" section: the clusters' summaries, addresses, swimlanes.

    Args:
        found: from :func:`loganalyzer.analysis.links.find_links`, with
            ``activity=True`` for the chart's hourly marks.
        watch: country or province codes whose lanes are marked on the chart.
        charts: draw the swimlane chart.

    Returns:
        A :class:`~loganalyzer.outputs.briefing_sections.Section`; the briefing
        escapes its text for HTML, Markdown or PDF.
    """
    from loganalyzer.analysis.links import LINK_CAVEATS
    from loganalyzer.outputs.links import MAX_SHOWN, more_note

    info = found.meta["links"]
    if not found.clusters:
        lead = (
            "No cluster of addresses links anonymized access to access with no anonymizer "
            "known: no address of the one kind shares a rare trace with one of the other."
        )
    else:
        lead = (
            f"{info['clusters_shown']:,} cluster{'s' if info['clusters_shown'] != 1 else ''} "
            "of addresses share rare traces (a user name, a rare agent, rare paths) and hold "
            "both anonymized access and access with no anonymizer known."
        )
    summaries = [f"Cluster {c.id}: {c.summary}." for c in found.clusters[:MAX_SHOWN]]
    if more_note(found):
        summaries.append(more_note(found))
    header = ["cluster", "address", "anonymizer", "place", "requests", "first seen", "last seen"]
    body = [
        [c.id, r["ip"], r["anonymizer"], r["region_iso"] or r["country_iso"], r["requests"],
         r["first_seen"], r["last_seen"]]
        for c in found.clusters[:MAX_SHOWN]
        for r in c.clients.iter_rows(named=True)
    ]  # fmt: skip
    images: tuple[tuple[str, bytes], ...] = ()
    if charts and found.clusters:
        from loganalyzer.outputs.charts import figure_bytes
        from loganalyzer.outputs.charts.links import plot_links

        alt = "Swimlane chart: one lane per linked address, grouped by cluster, over time."
        images = ((alt, figure_bytes(plot_links(found, watch=watch))),)
    tables = (("The linked addresses", header, body),) if body else ()
    return Section("links", "Linked access", (lead, *summaries, *LINK_CAVEATS), tables, images)


SECTIONS: list[SectionBuilder] = [
    standout_sections,
    compare_sections,
    watched_place_sections,
    linked_access_sections,
]
"""Section builders run in order after the key findings; append one to add a section."""

__all__ = [
    "BURST",
    "LATE_SHARE",
    "MIN_REQUESTS",
    "RARE_ADDRESSES",
    "SECTIONS",
    "BriefContext",
    "Section",
    "SectionBuilder",
    "linked_access_sections",
    "links_section",
    "standout_sections",
    "watched_place_sections",
]
