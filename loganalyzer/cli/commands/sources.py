"""``loganalyzer sources``: the anonymizer sources loaded, and their updates."""

from __future__ import annotations

import json

import click

from loganalyzer.cli.command_options import json_option
from loganalyzer.cli.console import echo_err
from loganalyzer.cli.context import quiet
from loganalyzer.cli.errors import EPILOG_EXIT_CODES
from loganalyzer.cli.options import SourceOptions, source_options


@click.group()
def sources() -> None:
    """Anonymizer sources (Tor, VPN, proxy, cloud, relay lists): what is loaded; updates."""


@sources.command("info")
@source_options
@json_option()
def sources_info(sources: SourceOptions, as_json: bool) -> None:
    """Show each anonymizer source a report would load: kind, date, size, entries.

    A file that `sources update` fetched also shows when, from where, whether it
    has changed since, and the last failed update if any (from manifest.json).

    \b
    Examples:
        loganalyzer sources info --sources-dir ~/anon
        loganalyzer sources info --tor-exits exit-addresses --ip-list vpn=vpn.txt --json
    """
    from loganalyzer.outputs.listings import render_sources, source_rows

    rows = source_rows(sources.load())
    if as_json:
        click.echo(json.dumps({"sources": rows}, indent=2, sort_keys=True))
        return
    click.echo(render_sources(rows))


@sources.command("update", epilog=EPILOG_EXIT_CODES)
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False, path_type=str))
@click.option(
    "--url",
    "urls",
    multiple=True,
    metavar="NAME=URL",
    help="Fetch NAME from URL (repeatable); azure has no fixed URL and needs this. "
    "Names: tor-bulk, tor-exit-addresses, aws, google, oracle, azure, icloud-relay, "
    "x4bnet-vpn, x4bnet-datacenter.",
)
@click.option(
    "--base-url",
    metavar="URL",
    envvar="LOGANALYZER_SOURCES_BASE_URL",
    help="Fetch every list from URL/<file name> instead of its publisher (a mirror) "
    "[env: LOGANALYZER_SOURCES_BASE_URL].",
)
@click.option(
    "--only",
    multiple=True,
    metavar="NAME",
    help="Fetch only this source (repeatable).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.01),
    default=60.0,
    show_default=True,
    help="Seconds to wait for each server.",
)
def sources_update(
    folder: str,
    urls: tuple[str, ...],
    base_url: str | None,
    only: tuple[str, ...],
    timeout: float,
) -> None:
    """Download the public lists into DIR (the only command that uses the network).

    Fetches the Tor bulk exit list and TorDNSEL exit-addresses, AWS ip-ranges.json,
    Google cloud.json, Oracle public_ip_ranges.json, Apple's iCloud Private Relay
    egress-ip-ranges.csv, X4BNet's VPN and VPN-and-datacenter lists and, given its
    dated URL, Azure's Service Tags, under the names --sources-dir reads. Each file
    is checked by loading it before it replaces the previous copy (a broken download
    never does), and DIR/manifest.json records each one's URL, time, HTTP status,
    sha256, size, entries and terms.
    Exits 4 when any source failed, after fetching the others.

    \b
    Examples:
        loganalyzer sources update ~/anon
        loganalyzer sources update ~/anon --url azure=https://download.microsoft.com/.../ServiceTags_Public_20260907.json
        loganalyzer sources update ~/anon --only tor-bulk --only tor-exit-addresses
        loganalyzer report access.log --sources-dir ~/anon
    """
    from loganalyzer.anonymity.update import update_sources
    from loganalyzer.errors import SourceError
    from loganalyzer.outputs.listings import update_line

    results = update_sources(folder, urls=urls, base_url=base_url, only=only, timeout=timeout)
    failed = [r for r in results if not r.ok and not r.skipped]
    for r in results:
        if r.ok and r.entry is not None:
            click.echo(update_line(r))
        elif r.skipped and not quiet():
            echo_err(f"Skipped: {r.name}: {r.error}")
        elif not r.ok:
            echo_err(update_line(r))
    if failed:
        names = ", ".join(r.name for r in failed)
        raise SourceError(None, f"{len(failed)} of {len(results)} sources failed: {names}")
