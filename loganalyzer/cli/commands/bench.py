"""``loganalyzer bench``: time ``report`` against a bare Polars floor."""

from __future__ import annotations

import json

import click

from loganalyzer.cli.command_options import json_option
from loganalyzer.cli.console import echo_err
from loganalyzer.cli.errors import EPILOG_EXIT_CODES
from loganalyzer.cli.options import GeoOptions, geo_options


@click.command(epilog=EPILOG_EXIT_CODES)
@click.argument("log", required=False, type=click.Path(exists=True, dir_okay=False, path_type=str))
@geo_options
@click.option(
    "--lines",
    type=click.IntRange(min=100),
    default=1_000_000,
    show_default=True,
    help="Lines to generate when no LOG is given.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the generated log.")
@click.option(
    "--keep",
    type=click.Path(dir_okay=False, path_type=str),
    help="Keep the generated log at this path (default: a temporary file).",
)
@click.option(
    "--by",
    default="region",
    show_default=True,
    help="The report's grouping (as in `report --by`).",
)
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Rounds; each runs every variant once.",
)
@click.option("--gzip", "with_gzip", is_flag=True, help="Also time a gzip copy of the log.")
@click.option(
    "--split",
    type=click.IntRange(min=2),
    help="Also time the report on the log cut into N gzip files (rotated logs).",
)
@click.option(
    "--longer",
    type=click.Path(exists=True, dir_okay=False, path_type=str),
    metavar="LOG",
    help="Also time the report on a longer log, and print how time and peak memory grow.",
)
@click.option(
    "--peers",
    is_flag=True,
    help="Also time, once each, a hand-written re + geoip2 loop and GoAccess (if installed) "
    "with the same City database.",
)
@click.option(
    "--sources",
    "with_sources",
    is_flag=True,
    help="Also time the report with anonymizer sources: synthetic lists of real sizes drawn "
    "from the log's clients (20,000 VPN networks, 8,000 cloud ranges, 1,500 Tor exits), "
    "and `report --by ip` with nothing looked up, which both are compared with.",
)
@click.option(
    "--sources-dir",
    "bench_sources_dir",
    type=click.Path(exists=True, file_okay=False, path_type=str),
    help="As --sources, with your own sources folder (laid out as for `report`).",
)
@click.option(
    "--presets",
    "preset_names",
    metavar="NAMES",
    help="Also time the report on the log's requests written in these formats "
    "(comma-separated, or 'all': traefik, caddy, cloudflare, json, w3c, cloudfront, "
    "aws_elb, aws_alb, aws_s3), each against the floor of its own file.",
)
@click.option(
    "--commands",
    "with_commands",
    is_flag=True,
    help="Also time enrich (to Parquet), ips, compare, lookup of 100,000 addresses "
    "from standard input, links, plot --kind timeline and brief, each against the report.",
)
@click.option(
    "--formats",
    "formats_only",
    is_flag=True,
    help="Only time the parser on each preset's example line (no databases needed).",
)
@json_option("Print the measurements as JSON.")
def bench(
    log: str | None,
    geo: GeoOptions,
    lines: int,
    seed: int,
    keep: str | None,
    by: str,
    repeat: int,
    with_gzip: bool,
    split: int | None,
    longer: str | None,
    peers: bool,
    with_sources: bool,
    bench_sources_dir: str | None,
    preset_names: str | None,
    with_commands: bool,
    formats_only: bool,
    as_json: bool,
) -> None:
    """Time `report` end to end against a bare Polars floor, in one run.

    Without LOG, a realistic combined log is generated first (heavy-hitter
    clients drawn from the City database's networks, a third IPv6, several
    time zones, a few malformed lines). Each variant (floor, report, and those
    asked for below) runs once a round as a fresh process, --repeat rounds; the
    fastest of each counts, peak memory is the largest.

    \b
    Examples:
        loganalyzer bench --city-db GeoLite2-City.mmdb --asn-db GeoLite2-ASN.mmdb
        loganalyzer bench big.log --geoip-dir /usr/share/GeoIP --gzip --json
        loganalyzer bench big.log --geoip-dir /usr/share/GeoIP --split 200
        loganalyzer bench 5m.log --longer 20m.log --geoip-dir /usr/share/GeoIP
        loganalyzer bench 5m.log --geoip-dir /usr/share/GeoIP --sources
        loganalyzer bench 1m.log --geoip-dir /usr/share/GeoIP --presets all --commands
        loganalyzer bench --formats
    """
    from loganalyzer.outputs.benchmark import render_benchmark, render_format_speeds

    if formats_only:
        from loganalyzer.analysis.bench import format_throughput

        echo_err(f"Parsing each preset's example line {min(lines, 200_000):,} times...")
        speeds = format_throughput(lines=min(lines, 200_000), repeat=repeat)
        if as_json:
            click.echo(json.dumps([vars(x) for x in speeds], indent=2))
        else:
            click.echo(render_format_speeds(speeds))
        return
    from loganalyzer.analysis.bench_formats import CONVERTIBLE
    from loganalyzer.analysis.run import benchmark

    presets: tuple[str, ...] = ()
    if preset_names:
        wanted = [n.strip() for n in preset_names.split(",") if n.strip()]
        presets = CONVERTIBLE if wanted == ["all"] else tuple(wanted)
        unknown = [n for n in presets if n not in CONVERTIBLE]
        if unknown:
            raise click.BadParameter(
                f"cannot write {', '.join(unknown)}; use all or some of {', '.join(CONVERTIBLE)}",
                param_hint="--presets",
            )

    result = benchmark(
        log,
        dbs=geo.open(),
        by=by,
        lang=geo.lang,
        lines=lines,
        seed=seed,
        keep=keep,
        repeat=repeat,
        with_gzip=with_gzip,
        split=split,
        longer=longer,
        peers=peers,
        with_sources=with_sources,
        sources_dir=bench_sources_dir,
        presets=presets,
        commands=with_commands,
        note=echo_err,
    )
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else render_benchmark(result))
