"""``loganalyzer compare``: what changed between two periods."""

from __future__ import annotations

import click

from loganalyzer.cli import command_options, options, running
from loganalyzer.cli.context import fitting_watch
from loganalyzer.cli.errors import EPILOG_EXIT_CODES
from loganalyzer.errors import UsageError


@click.command(epilog=EPILOG_EXIT_CODES)
@options.read_options
@options.geo_options
@command_options.period_options(
    until_help="Split LOGS here: requests before TIME are the baseline, the rest current "
    "(ISO 8601; a date means its midnight)."
)
@command_options.by_option(
    "Compare by country, region, subregion, city, asn, ip or any column. "
    "Repeat to combine. [default: region]"
)
@command_options.watch_option(
    "Rank a country (ES) or province (CN-LN) first when new, and always show it."
)
@command_options.top_option("Only the first N rows.")
@command_options.tz_option(
    "Time zone of day, hour and weekday rows (Asia/Shanghai, Europe/Madrid, ...)."
)
@command_options.output_options(columns=True)
@options.source_options
@click.pass_context
def compare(
    ctx: click.Context,
    read: options.ReadOptions,
    filters: options.FilterOptions,
    geo: options.GeoOptions,
    periods: command_options.PeriodOptions,
    by: tuple[str, ...],
    watch: tuple[str, ...],
    top_n: int | None,
    tz: str,
    out: command_options.OutputOptions,
    sources: options.SourceOptions,
) -> None:
    """What changed between two periods: new and gone regions and networks, and growth.

    Per region (or --by asn, path, ...): requests and distinct clients in each
    period, the change, and whether the row is new, gone, up (more requests) or
    down (fewer); share_change compares shares of each period's requests, so
    periods of different lengths compare fairly. Rows are ranked for an analyst:
    watched places that are new or gone first, then by the size of the change in
    requests. The logs are read once.

    \b
    Examples:
        loganalyzer compare --sample --baseline-until 2026-09-16 --watch CN-LN
        loganalyzer compare access.log* --baseline-until 2026-09-10 --by asn --top 20
        loganalyzer compare --baseline last-week.log.gz --current access.log -O csv -o diff.csv
        loganalyzer compare a.log --baseline-until 2026-09-10 --by provider --sources-dir ~/anon
    """
    from loganalyzer.analysis.compare import compare as compare_periods
    from loganalyzer.outputs.comparison import render_comparison

    anon = sources.load()
    if read.sample and not periods.baseline_until:
        raise UsageError("--sample needs --baseline-until, e.g. 2026-09-16")
    if periods.as_logs:
        if read.sample:
            raise UsageError("--sample splits the sample log: use --baseline-until with it")
    else:
        read, geo = running.with_sample(read, geo)
    fmt = out.format()
    by = by or ("region",)
    watch = fitting_watch(ctx, watch, by)
    inputs = (*read.logs, *periods.baseline, *periods.current)
    with running.reading(read, inputs) as r:
        analysis = compare_periods(
            read.logs,
            **periods.args(),
            **options.analysis_args(read, filters, geo),
            **r.args(),
            by=by,
            watch=watch,
            top_n=top_n,
            sources=anon,
            tz=tz,
        )
    running.deliver(
        analysis,
        read,
        out,
        fmt,
        lambda a: render_comparison(
            a, fmt, safe_csv=out.safe_csv, width=out.table_width(), terminal=out.to_tty
        ),
        inputs=inputs,
    )
