"""``loganalyzer plot``: one chart for a slide."""

from __future__ import annotations

from typing import Any

import click

from loganalyzer.cli import command_options, options, running
from loganalyzer.cli.context import fitting_watch
from loganalyzer.cli.errors import EPILOG_EXIT_CODES
from loganalyzer.errors import UsageError


@click.command(epilog=EPILOG_EXIT_CODES)
@options.read_options
@options.geo_options
@options.source_options
@click.option(
    "--kind",
    "-k",
    required=True,
    type=click.Choice(["regions", "timeline", "hours", "map", "asn", "compare", "links"]),
    help="regions: bars per place; timeline: requests per hour/day; hours: hour-of-day "
    "by weekday heatmap; map: world map; asn: top networks; compare: share of requests "
    "per place in two periods, new and gone marked; links: swimlanes of the clusters "
    "loganalyzer links shows, one lane per address.",
)
@click.option(
    "--by",
    "-b",
    type=click.Choice(["region", "country", "subregion", "city", "asn"]),
    help="What a place is (regions, timeline, map, compare). [default: region]",
)
@command_options.period_options(
    until_help="compare: split LOGS here; requests before TIME are the baseline (ISO 8601).",
    prefix="compare: ",
)
@command_options.chart_options
@click.option(
    "--interval",
    type=click.Choice(["auto", "hour", "day"]),
    default="auto",
    show_default=True,
    help="Timeline step (auto: hours up to 14 days, else days).",
)
@click.option(
    "--log-scale",
    is_flag=True,
    help="timeline: a log axis, so a place with a few requests an hour shows beside a busy one.",
)
@click.option(
    "--extent",
    type=click.Choice(["world", "data"]),
    default="world",
    show_default=True,
    help="map: the inhabited world, or zoomed to where the requests came from.",
)
@command_options.title_option(
    "The chart's title, instead of the generated sentence that states its finding."
)
@command_options.out_file_option(
    "The image: .png (1600x900), .svg or .pdf, written whole then renamed into place."
)
@click.pass_context
def plot(
    ctx: click.Context,
    read: options.ReadOptions,
    filters: options.FilterOptions,
    geo: options.GeoOptions,
    sources: options.SourceOptions,
    kind: str,
    by: str | None,
    periods: command_options.PeriodOptions,
    watch: tuple[str, ...],
    tz: str,
    top_n: int | None,
    interval: str,
    log_scale: bool,
    extent: str,
    title: str | None,
    out_path: str,
) -> None:
    """Draw one chart for a slide: title, time range, sources, units.

    \b
    Examples:
        loganalyzer plot --sample --kind regions --watch CN-LN --watch ES -o regions.png
        loganalyzer plot --sample --kind hours --where region_iso=CN-LN --title "Liaoning" -o h.png
        loganalyzer plot access.log* --kind timeline --watch CN-LN -o timeline.svg
        loganalyzer plot access.log --kind timeline --log-scale --watch ES -o t.png
        loganalyzer plot access.log --kind hours --tz Asia/Shanghai -o hours.pdf
        loganalyzer plot access.log --kind asn --top 10 -o networks.png
        loganalyzer plot access.log --kind map -o map.png
        loganalyzer plot access.log --kind map --extent data --watch ES -o spain.png
        loganalyzer plot access.log --sources-dir ~/anon --kind regions -o split.png
        loganalyzer plot --sample --kind compare --baseline-until 2026-09-16 -o changes.png
        loganalyzer plot --kind compare --baseline last-week.log --current access.log -o c.svg
        loganalyzer plot access.log --sources-dir ~/anon --kind links --watch ES -o links.png
    """
    from loganalyzer.outputs.charts import chart, figure_format, save_figure
    from loganalyzer.outputs.target import check_target

    anon = sources.load()
    given_periods: dict[str, Any] = {}
    if kind == "compare":
        if read.sample and not periods.baseline_until:
            raise UsageError("--sample needs --baseline-until, e.g. 2026-09-16")
        if read.sample and periods.as_logs:
            raise UsageError("--sample splits the sample log: use --baseline-until with it")
        given_periods = periods.args()
        watch = fitting_watch(ctx, watch, [by or "region"])
    elif periods.baseline_until or periods.as_logs:
        raise UsageError("--baseline-until, --baseline and --current go with --kind compare")
    if not periods.as_logs:
        read, geo = running.with_sample(read, geo)
    figure_format(out_path)
    inputs = (*read.logs, *periods.baseline, *periods.current)
    check_target(out_path, inputs)
    args = options.analysis_args(read, filters, geo)
    if kind == "links":
        _plot_links(read, args, anon, watch, out_path)
        return
    with running.reading(read, inputs) as r:
        result = chart(
            kind,
            read.logs,
            by=by,
            watch=watch,
            tz=tz,
            interval=interval,  # type: ignore[arg-type]  # click.Choice checked it
            top_n=top_n,
            title=title,
            extent=extent,
            log_scale=log_scale,
            **r.args(),
            sources=anon,
            **given_periods,
            **args,
        )
    running.note_run(result.analysis.meta, read)
    dbs = [d["path"] for d in result.analysis.meta["databases"]]
    save_figure(result.figure, out_path, inputs=[*inputs, *dbs])
    running.note_written(f"{kind} chart", out_path)
    running.end_run(result.analysis.faults, read, result.analysis.meta)


def _plot_links(
    read: options.ReadOptions,
    args: dict[str, Any],
    anon: Any,
    watch: tuple[str, ...],
    out_path: str,
) -> None:
    """``--kind links``: the clusters ``loganalyzer links`` shows, as swimlanes."""
    from loganalyzer.analysis.links import find_links
    from loganalyzer.geo.places import check_place
    from loganalyzer.outputs.charts import save_figure
    from loganalyzer.outputs.charts.links import plot_links

    watch = tuple(check_place(w, option="--watch") for w in watch)
    with running.reading(read) as r:
        found = find_links(read.logs, activity=True, **r.args(), sources=anon, **args)
    running.note_run(found.meta, read)
    dbs = [d["path"] for d in found.meta["databases"]]
    save_figure(plot_links(found, watch=watch), out_path, inputs=[*read.logs, *dbs])
    running.note_written("links chart", out_path)
    running.end_run(found.faults, read, found.meta)
