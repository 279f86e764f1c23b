"""``loganalyzer ips``: each client address with its evidence."""

from __future__ import annotations

import click

from loganalyzer.cli import command_options, options, running
from loganalyzer.cli.errors import EPILOG_EXIT_CODES


@click.command(epilog=EPILOG_EXIT_CODES)
@options.read_options
@options.geo_options
@options.source_options
@command_options.top_option("Only the N busiest addresses.")
@command_options.tz_option(
    "Time zone of the table's first and last seen (Asia/Shanghai, Europe/Madrid, ...); "
    "CSV, JSON and Parquet keep UTC."
)
@command_options.output_options(columns=True)
def ips(
    read: options.ReadOptions,
    filters: options.FilterOptions,
    geo: options.GeoOptions,
    sources: options.SourceOptions,
    top_n: int | None,
    tz: str,
    out: command_options.OutputOptions,
) -> None:
    """Each client address with its evidence: requests, place, network, anonymizer verdict.

    One row per address, busiest first: requests, first and last seen, country,
    region, ASN and organisation (when those databases are given), and with
    anonymizer sources the verdict (anonymizer, confidence) and the reasons: every
    source's claim. The place of an anonymized address is its exit's, not its
    user's (location_is_exit). JSON rows are keyed ip, requests, anonymizer,
    confidence, reasons, ...

    \b
    Examples:
        loganalyzer ips access.log --sources-dir ~/anon --geoip-dir ~/GeoIP
        loganalyzer ips access.log --tor-exits exit-addresses --top 20
        loganalyzer ips access.log --sources-dir ~/anon --where anonymizer=vpn -O csv -o vpn.csv
        loganalyzer ips access.log --sources-dir ~/anon --where region_iso=CN-LN -O json
        loganalyzer ips access.log --where region_iso=CN-LN --tz Asia/Shanghai
    """
    from loganalyzer.analysis.ips import address_evidence
    from loganalyzer.outputs.addresses import render_ips_table
    from loganalyzer.outputs.render import render

    anon = sources.load()
    read, geo = running.with_sample(read, geo)
    fmt = out.format()
    dbs = geo.open()
    with running.reading(read) as r:
        analysis = address_evidence(
            read.logs,
            dbs=dbs,
            **options.analysis_args(read, filters, geo),
            **r.args(),
            top_n=top_n,
            sources=anon,
            tz=tz,
        )
    running.deliver(
        analysis,
        read,
        out,
        fmt,
        lambda a: (
            render_ips_table(a, width=out.table_width(), color=out.to_tty)
            if fmt == "table"
            else render(a, fmt, safe_csv=out.safe_csv, terminal=out.to_tty)
        ),
        inputs=read.logs,
        what=f"{fmt} evidence table",
        databases=True,
    )
