"""``loganalyzer links``: addresses that share rare traces, anonymized beside direct."""

from __future__ import annotations

import click

from loganalyzer.cli import command_options, options, running
from loganalyzer.cli.errors import EPILOG_EXIT_CODES


@click.command(epilog=EPILOG_EXIT_CODES)
@options.read_options
@options.geo_options
@options.source_options
@click.option(
    "--key",
    metavar="FIELD",
    help="Also link addresses that share a value of this field of the log format "
    "(a cookie or token column of a custom format, e.g. cookie_sid for %{SID}C).",
)
@click.option(
    "--gap",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    metavar="MINUTES",
    help="A switch from one address to another with the same agent within this many "
    "minutes strengthens their link (it never makes one alone).",
)
@click.option(
    "--min-weight",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    metavar="W",
    help="The summed evidence two addresses need to be linked (see docs/links.md).",
)
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Show every cluster, not only those with anonymized and unlisted addresses.",
)
@command_options.output_options()
def links(
    read: options.ReadOptions,
    filters: options.FilterOptions,
    geo: options.GeoOptions,
    sources: options.SourceOptions,
    key: str | None,
    gap: float,
    min_weight: float,
    show_all: bool,
    out: command_options.OutputOptions,
) -> None:
    """Who is behind the VPN: clusters of addresses that share rare traces.

    Links client addresses that share a user name, a user agent few addresses
    send, several paths few addresses fetch, or a --key value; a switch between
    them within --gap minutes with the same agent strengthens a link. A value
    held by many addresses links nothing, and the fewer hold it the more it
    weighs. Shown: each cluster with at least one anonymized address and one
    with no anonymizer known (--all: every cluster), its addresses (verdict,
    place, network, requests, first and last seen), the evidence of each link
    and a one-line summary. Shared agents and carrier-grade NAT make false
    links: the evidence is shown for a person to judge; a cluster never says
    who anyone is. JSON: {"meta", "clusters": [{"id", "summary", "clients",
    "evidence", "edges"}]}; CSV and Parquet: one row per cluster and address.

    \b
    Examples:
        loganalyzer links access.log --sources-dir ~/anon --geoip-dir ~/GeoIP
        loganalyzer links access.log --sources-dir ~/anon -O json -o links.json
        loganalyzer links access.log --sources-dir ~/anon --gap 15 -O csv -o links.csv
        loganalyzer links access.log --all --since 2026-03-01
        loganalyzer links app.log -f apache:'%h %l %u %t "%r" %>s %b %{SID}C' --key cookie_sid
    """
    from loganalyzer.analysis.link_graph import LinkRules
    from loganalyzer.analysis.links import find_links
    from loganalyzer.outputs.links import render_links

    anon = sources.load()
    read, geo = running.with_sample(read, geo)
    fmt = out.format()
    dbs = geo.open()
    with running.reading(read) as r:
        found = find_links(
            read.logs,
            dbs=dbs,
            **options.analysis_args(read, filters, geo),
            **r.args(),
            key=key,
            gap_minutes=gap,
            rules=LinkRules(min_weight=min_weight),
            show_all=show_all,
            sources=anon,
        )
    running.deliver(
        found,
        read,
        out,
        fmt,
        lambda f: render_links(
            f,
            fmt,
            safe_csv=out.safe_csv,
            width=out.table_width(),
            color=out.to_tty,
            terminal=out.to_tty,
        ),
        inputs=read.logs,
        what=f"{fmt} links",
        databases=True,
    )
