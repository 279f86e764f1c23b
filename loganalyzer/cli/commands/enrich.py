"""``loganalyzer enrich``: every request with its geo and ASN columns, to Parquet."""

from __future__ import annotations

import click

from loganalyzer.cli import command_options, options, running
from loganalyzer.errors import UsageError


@click.command()
@options.read_options
@options.geo_options
@options.source_options
@command_options.out_file_option(
    "The Parquet file to write (with --partitioned, the dataset folder).",
    metavar="FILE.parquet|DIR",
    folder=True,
)
@click.option(
    "--partitioned",
    is_flag=True,
    help="Write a Hive-partitioned dataset by UTC date (DIR/date=2026-09-14/*.parquet) "
    "that Spark, Trino, DuckDB and Polars read as one table.",
)
@command_options.cluster_options
def enrich(
    read: options.ReadOptions,
    filters: options.FilterOptions,
    geo: options.GeoOptions,
    sources: options.SourceOptions,
    out_path: str,
    partitioned: bool,
    cluster: command_options.ClusterOptions,
) -> None:
    """Write every request with its geo and ASN columns to Parquet.

    For pandas, DuckDB, Spark or Polars: one row per request, with the parsed
    columns (client, ts, status, path, ...) and the enrichment (client_ip,
    geo_status, country_iso, region_iso, city, asn, as_org, ...).

    \b
    Examples:
        loganalyzer enrich access.log.gz -o requests.parquet --geoip-dir ~/GeoIP
        python -c "import polars as pl; print(pl.read_parquet('requests.parquet'))"
        loganalyzer enrich 'logs/*.gz' -o dataset --partitioned --workers 2
    """
    from loganalyzer.analysis.run import ENRICH_ON_CLUSTER, enrich_logs_to
    from loganalyzer.outputs.target import check_dataset_target

    anon = sources.load()
    read, geo = running.with_sample(read, geo)
    check_dataset_target(out_path, read.logs, partitioned=partitioned)
    if cluster.active and (not partitioned or read.rejects):
        raise UsageError(ENRICH_ON_CLUSTER)
    # Opened before the rejects file, so a missing City database fails first.
    dbs = None if cluster.active else geo.open()
    if dbs is not None:
        dbs.require_city()
    with running.reading(read, with_progress=not cluster.active) as r:
        meta = enrich_logs_to(
            read.logs,
            out_path,
            **cluster.args(),
            partitioned=partitioned,
            dbs=dbs,
            **options.analysis_args(read, filters, geo),
            **r.args(),
            sources=anon,
        )
    running.note_run(meta, read)
    running.note_written(f"{meta['lines']['matched']:,} requests", out_path)
    running.end_run(meta["_faults"], read, meta)
