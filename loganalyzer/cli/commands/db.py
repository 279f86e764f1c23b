"""``loganalyzer db``: the GeoIP databases in use."""

from __future__ import annotations

import json

import click

from loganalyzer.cli.command_options import json_option


@click.group()
def db() -> None:
    """GeoIP databases: which are used, and how old they are."""


@db.command("info")
@click.option("--city-db", type=click.Path(path_type=str), envvar="LOGANALYZER_CITY_DB")
@click.option("--asn-db", type=click.Path(path_type=str), envvar="LOGANALYZER_ASN_DB")
@click.option("--geoip-dir", type=click.Path(path_type=str))
@json_option()
def db_info(city_db: str | None, asn_db: str | None, geoip_dir: str | None, as_json: bool) -> None:
    """Show which databases a report would use, their type and build date.

    \b
    Examples:
        loganalyzer db info
        loganalyzer db info --geoip-dir /usr/share/GeoIP --json
    """
    from loganalyzer.geo.databases import GeoDatabases
    from loganalyzer.outputs.listings import database_rows, render_databases

    dbs = GeoDatabases.open(city=city_db, asn=asn_db, geoip_dir=geoip_dir)
    rows = database_rows(dbs)
    if as_json:
        click.echo(
            json.dumps({"databases": rows, "searched": dbs.searched}, indent=2, sort_keys=True)
        )
        return
    click.echo(render_databases(rows, dbs.searched))
    if dbs.city is None:
        dbs.require_city()
