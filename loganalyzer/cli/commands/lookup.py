"""``loganalyzer lookup``: everything the databases say about some addresses."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import IO

import click

from loganalyzer.cli import options
from loganalyzer.cli.command_options import OutputOptions, output_options
from loganalyzer.cli.console import echo_err
from loganalyzer.cli.context import quiet
from loganalyzer.cli.running import write_output
from loganalyzer.errors import UsageError

_LOOKUP_EPILOG = (
    "Exit codes: 0 every address looked up (not found and non-public are answers, not "
    "errors), 2 usage, 3 an input is not an IP address (all rows are still printed), "
    "4 GeoIP database, 5 output."
)


def _read_address_lines(stream: IO[str]) -> list[str]:
    out = []
    for line in stream:
        text = line.strip()
        if text and not text.startswith("#"):
            out.append(text)
    return out


@click.command(epilog=_LOOKUP_EPILOG)
@click.argument("addresses", nargs=-1, metavar="[ADDRESS]...")
@click.option(
    "--from-log",
    "from_log",
    multiple=True,
    type=click.Path(allow_dash=True, path_type=str),
    metavar="LOG",
    help="Look up every distinct client of LOG (repeatable), busiest first.",
)
@click.option(
    "--log-format",
    "-f",
    default="combined",
    show_default=True,
    metavar="NAME|apache:FMT",
    help="Format of --from-log logs.",
)
@options.geo_options
@output_options(formats=("table", "csv", "json"), width=False)
@click.option("--sample", is_flag=True, help="Use the bundled invented sample databases.")
@options.source_options
def lookup(
    addresses: tuple[str, ...],
    from_log: tuple[str, ...],
    log_format: str,
    geo: options.GeoOptions,
    out: OutputOptions,
    sample: bool,
    sources: options.SourceOptions,
) -> None:
    """Everything the databases say about some addresses.

    Country, both subdivision levels (ISO 3166-2), city, coordinates and accuracy
    radius, time zone, registered country, ASN and organisation, the networks
    matched, and with anonymizer sources the verdict and its evidence. Addresses
    come from the arguments, from stdin (one a line, or -), or from the distinct
    clients of a log (--from-log). Ports, brackets, zone ids and IPv4-mapped IPv6
    are accepted; private and reserved addresses are answered without a lookup.

    \b
    Examples:
        loganalyzer lookup 81.2.69.160 2408:8200::1 --geoip-dir ~/GeoIP
        loganalyzer lookup --sample 175.167.1.2 -O json
        grep -o '^[^ ]*' access.log | sort -u | loganalyzer lookup -O csv -o clients.csv
        loganalyzer lookup --from-log access.log -O csv
        loganalyzer lookup 185.220.101.20 --sources-dir ~/anon
    """
    from loganalyzer.analysis.lookup import flat_lists, lookup_log_clients
    from loganalyzer.analysis.run import lookup_given
    from loganalyzer.errors import InputError
    from loganalyzer.outputs.addresses import render_lookup_table
    from loganalyzer.outputs.render import render_csv, render_json, safe_text

    anon = sources.load()
    if sample:
        from loganalyzer.analysis.pipeline import sample_paths

        s = sample_paths()
        geo = replace(
            geo, city_db=geo.city_db or str(s.city_db), asn_db=geo.asn_db or str(s.asn_db)
        )
    if from_log and addresses:
        raise UsageError("give addresses or --from-log LOG, not both")
    dbs = geo.open()
    if dbs.city is None and dbs.asn is None:
        dbs.require_city()
    given: list[str] = []
    if from_log:
        analysis = lookup_log_clients(
            from_log, dbs, log_format=log_format, lang=geo.lang, sources=anon
        )
    else:
        given = [a for a in addresses if a != "-"]
        if "-" in addresses or not addresses:
            if not addresses and sys.stdin.isatty():
                raise UsageError("no addresses given; pass ADDRESS..., pipe them in, or --from-log")
            given += _read_address_lines(sys.stdin)
        if not given:
            raise UsageError("no addresses on stdin")
        analysis = lookup_given(given, dbs, lang=geo.lang, sources=anon)
    fmt = out.output or {"csv": "csv", "json": "json"}.get(out.format(), "table")
    if fmt == "json":
        text = render_json(analysis)
    elif fmt == "csv":
        text = render_csv(flat_lists(analysis.rows), safe=out.safe_csv)
    else:
        text = render_lookup_table(analysis.rows)
    write_output(text, out.out_path, from_log)
    if from_log and not quiet():
        bad = analysis.meta["invalid_clients"]["requests"]
        if bad:
            echo_err(f"{bad:,} requests had a client field that is not an IP address")
    invalid = [
        r["input"] for r in analysis.rows.iter_rows(named=True) if r["status"] == "invalid_ip"
    ]
    if invalid and not from_log:
        raise InputError(
            f"{len(invalid)} of {len(given)} inputs not an IP address "
            f"(first: {safe_text(invalid[0])!r}); their rows say status invalid_ip"
        )
