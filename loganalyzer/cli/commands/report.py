"""``loganalyzer report``: requests summarised by place, network or any column."""

from __future__ import annotations

import click

from loganalyzer.cli import command_options, options, running
from loganalyzer.cli.context import fitting_watch
from loganalyzer.cli.errors import EPILOG_EXIT_CODES
from loganalyzer.errors import UsageError


@click.command(epilog=EPILOG_EXIT_CODES)
@options.read_options
@options.geo_options
@options.source_options
@command_options.by_option(
    "Group by country, region (ISO 3166-2 province), subregion, city, asn, ip, "
    "anonymizer, provider, or any column (path, status, user_agent, vhost, day, hour). "
    "Repeat to combine. [default: region]"
)
@command_options.watch_option(
    "Always show and mark a country (ES) or province (CN-LN). Repeatable."
)
@command_options.top_option("Only the first N rows (watched rows always kept).")
@command_options.tz_option(
    "Time zone of the day, hour, minute and weekday rows (Asia/Shanghai, Europe/Madrid, ...)."
)
@command_options.output_options(columns=True)
@click.option(
    "--follow",
    "-F",
    "follow_log",
    is_flag=True,
    help="Keep reading LOG as it grows, like tail -F (across rotation and truncation); "
    "Ctrl-C prints the final report and exits 0.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=2.0,
    show_default=True,
    help="Seconds between refreshes of the table with --follow.",
)
@command_options.cluster_options
@click.pass_context
def report(
    ctx: click.Context,
    read: options.ReadOptions,
    filters: options.FilterOptions,
    geo: options.GeoOptions,
    sources: options.SourceOptions,
    by: tuple[str, ...],
    watch: tuple[str, ...],
    top_n: int | None,
    tz: str,
    out: command_options.OutputOptions,
    follow_log: bool,
    interval: float,
    cluster: command_options.ClusterOptions,
) -> None:
    """Summarise requests by country, province, city, network or any column.

    \b
    Examples:
        loganalyzer report --sample --watch CN-LN --watch ES
        loganalyzer report access.log* --city-db GeoLite2-City.mmdb --asn-db GeoLite2-ASN.mmdb
        loganalyzer report access.log --by region --by asn --top 20
        loganalyzer report access.log --where region_iso=CN-LN --by path
        loganalyzer report access.log --where client_ip=175.167.0.0/16 --by day -O csv -o out.csv
        loganalyzer report access.log --where region_iso=CN-LN --by hour --tz Asia/Shanghai
        zcat old.log.gz | loganalyzer report - --by country -O json
        loganalyzer report access.log --sources-dir ~/anon --watch CN-LN --watch ES
        loganalyzer report 'logs/*.gz' --workers 2 --by region
        loganalyzer report 'logs/*.gz' --scheduler tcp://10.0.0.5:8786 --geoip-dir /srv/geoip
        loganalyzer report --follow /var/log/nginx/access.log --interval 5
    """
    from loganalyzer.analysis.run import analyze_logs
    from loganalyzer.outputs.render import render

    anon = sources.load()
    read, geo = running.with_sample(read, geo)
    fmt = out.format()
    by = by or ("region",)
    watch = fitting_watch(ctx, watch, by)
    if follow_log:
        from loganalyzer.cli.commands.follow import follow_report

        if cluster.active:
            raise UsageError("--follow reads in this process: drop --workers and --scheduler")
        follow_report(read, filters, geo, anon, by, watch, top_n, out, interval=interval, tz=tz)
        return
    if read.rejects and cluster.active:
        raise UsageError("--rejects is not available on a cluster yet; run without it")
    with running.reading(read) as r:
        analysis = analyze_logs(
            read.logs,
            **cluster.args(),
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
        lambda a: render(
            a,
            fmt,
            safe_csv=out.safe_csv,
            width=out.table_width(),
            color=out.to_tty,
            terminal=out.to_tty,
        ),
        inputs=read.logs,
        what=f"{fmt} report",
        databases=True,
    )
