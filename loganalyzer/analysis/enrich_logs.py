"""``enrich``: every parsed request with its enrichment columns, written to Parquet.

:class:`EnrichStream` joins each batch to its clients' lookups (each new client
looked up once) and, with anonymizer sources, to each request's verdict, judged
at its own time. :func:`enrich_logs` writes the batches as one file that
appears only when complete, or as a Hive-partitioned dataset by UTC date
(:func:`write_partitioned`, :func:`unify_schemas`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import polars as pl

from loganalyzer import schema as S
from loganalyzer.analysis.batches import _parsed_batches
from loganalyzer.analysis.counts import LineCounter, RejectWriter
from loganalyzer.analysis.filters import Filter, combine, parse_filter
from loganalyzer.analysis.meta import enrich_meta
from loganalyzer.analysis.reduce import _time_filter, _utc
from loganalyzer.anonymity.sources import AnonymizerSources
from loganalyzer.anonymity.verdict import classify
from loganalyzer.errors import SourceError, UsageError
from loganalyzer.geo.databases import GeoDatabases
from loganalyzer.geo.enrich import lookup
from loganalyzer.ingest.formats import LogFormat
from loganalyzer.ingest.parse import ParseOptions
from loganalyzer.ingest.presets import AUTO, get_format
from loganalyzer.ingest.read import ReadFault, expand_inputs


class EnrichStream:
    """Joins parsed batches to their clients' lookups, each new client looked up once.

    With anonymizer sources, every request also gets the verdict, judged at its
    own time for time-windowed Tor lists.
    """

    def __init__(
        self,
        dbs: GeoDatabases,
        lang: str,
        filters: Sequence[Filter],
        since: datetime | None,
        until: datetime | None,
        sources: AnonymizerSources | None = None,
    ) -> None:
        self.dbs, self.lang, self.sources = dbs, lang, sources
        anon = [f for f in filters if not f.on_rows and f.column in S.ANON_KEY_COLUMNS]
        if anon and not sources:
            raise UsageError("--where on anonymizer columns needs anonymizer sources")
        self.row_cond = combine([f for f in filters if f.on_rows])
        self.geo_cond = combine([f for f in filters if not f.on_rows and f not in anon])
        self.anon_cond = combine(anon)
        self.time_cond = _time_filter(_utc(since), _utc(until))
        self.known = pl.DataFrame(schema=S.GEO_SCHEMA)
        self.matched = 0

    def __call__(self, rows: pl.DataFrame) -> pl.DataFrame:
        """One batch of requests with the enrichment columns, filters applied."""
        lf = rows.lazy()
        for cond in (self.time_cond, self.row_cond):
            if cond is not None:
                lf = lf.filter(cond)
        batch = lf.collect()
        new = batch.select(pl.col(S.CLIENT).unique()).join(
            self.known.select(S.CLIENT), on=S.CLIENT, how="anti"
        )
        if new.height:
            looked = lookup(new[S.CLIENT], self.dbs, lang=self.lang)
            self.known = pl.concat([self.known, looked])
        joined = batch.join(self.known, on=S.CLIENT, how="left", maintain_order="left")
        if self.sources:
            joined = _classify_requests(joined, self.sources)
        for cond in (self.geo_cond, self.anon_cond):
            if cond is not None:
                joined = joined.filter(cond)
        self.matched += joined.height
        return joined


PARTITION_COLUMN = "date"
"""The Hive partition key of a partitioned ``enrich``: the request's UTC date."""


def write_partitioned(frame: pl.DataFrame, root: Path, stem: str) -> list[Path]:
    """Write one batch under ``root/date=YYYY-MM-DD/STEM.parquet``; return the files.

    The key lives in the folder name, as Hive, Spark, Trino, DuckDB and Polars
    (``scan_parquet(..., hive_partitioning=True)``) expect.
    """
    written = []
    dated = frame.with_columns(pl.col(S.TS).dt.date().alias(PARTITION_COLUMN))
    for (day,), part in dated.group_by(PARTITION_COLUMN, maintain_order=True):
        folder = (
            root / f"{PARTITION_COLUMN}={day if day is not None else '__HIVE_DEFAULT_PARTITION__'}"
        )
        folder.mkdir(exist_ok=True)
        path = folder / f"{stem}.parquet"
        part.drop(PARTITION_COLUMN).write_parquet(path)
        written.append(path)
    return written


def unify_schemas(files: Sequence[Path]) -> None:
    """Give every file of a dataset the same columns, in the same order.

    Logs of different formats bring different extra columns (HAProxy's
    ``client_port``, W3C's ``s-sitename``...). Readers of a Hive dataset expect one
    schema, so files that lack a column get it as nulls; a column whose type
    differs between files becomes text. Files already matching are left alone,
    so a dataset of one format is never rewritten.
    """
    schemas = [pl.read_parquet_schema(f) for f in files]
    union: dict[str, pl.DataType] = {}
    for schema in schemas:
        for name, dtype in schema.items():
            if name not in union:
                union[name] = dtype
            elif union[name] != dtype:
                union[name] = pl.String()
    target = list(union.items())
    for path, schema in zip(files, schemas, strict=True):
        if list(schema.items()) == target:
            continue
        frame = pl.read_parquet(path).select(
            [(pl.col(n).cast(t) if n in schema else pl.lit(None, t)).alias(n) for n, t in target]
        )
        tmp = path.with_suffix(".tmp")
        frame.write_parquet(tmp)
        os.replace(tmp, path)


def enrich_logs(
    paths: Sequence[str | Path],
    output: str | Path,
    *,
    log_format: str | LogFormat = AUTO,
    parse_options: ParseOptions | None = None,
    where: Sequence[str | Filter] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    dbs: GeoDatabases,
    lang: str = "en",
    rejects: IO[str] | None = None,
    max_bad_lines: int | None = None,
    on_bytes: Callable[[int], None] | None = None,
    partitioned: bool = False,
    sources: AnonymizerSources | None = None,
) -> dict[str, Any]:
    """Write every parsed request with its enrichment columns to Parquet.

    Batches are enriched as they stream (each new client looked up once) and
    written as row groups of one file, which appears only when complete. With
    ``sources``, every request also gets the anonymizer verdict, judged at its
    own time for time-windowed Tor lists.

    Args:
        paths: log files, globs, or ``-``.
        output: the Parquet file, or with ``partitioned`` the dataset folder.
        log_format: as for :func:`analyze`.
        parse_options: as for :func:`analyze`.
        where: as for :func:`analyze`.
        since: as for :func:`analyze`.
        until: as for :func:`analyze`.
        dbs: the opened databases.
        lang: language of place names.
        rejects: a text stream that receives rejected lines as JSON Lines.
        max_bad_lines: fail when more lines than this are rejected.
        on_bytes: progress callback, called with raw bytes consumed.
        partitioned: write a Hive-partitioned dataset by UTC date
            (``OUT/date=2026-09-14/part-000000.parquet``) instead of one file.
        sources: anonymizer sources: each request gets the verdict.

    Returns:
        The ``meta`` object (line counts, files, databases).
    """
    import shutil
    import tempfile

    fmt = None if log_format == AUTO else get_format(log_format)
    filters = [f if isinstance(f, Filter) else parse_filter(f) for f in where]
    if sources and sources.needs_asn and dbs.asn is None:
        raise SourceError(None, "--asn-list needs an ASN database: pass --asn-db FILE")
    inputs = expand_inputs(paths, keep_going=bool(parse_options and parse_options.skip_bad_files))
    counter = LineCounter()
    faults: list[ReadFault] = []
    stream = EnrichStream(dbs, lang, filters, since, until, sources)
    out = Path(output)
    tmpdir = Path(tempfile.mkdtemp(prefix=".loganalyzer-", dir=out.parent))
    try:
        n = 0
        parts = tmpdir / "parts"
        parts.mkdir()
        for rows in _parsed_batches(
            inputs,
            fmt,
            counter,
            faults,
            RejectWriter(rejects),
            on_bytes,
            max_bad_lines,
            options=parse_options,
        ):
            joined = stream(rows)
            if partitioned:
                write_partitioned(joined, parts, f"part-{n:06d}")
            else:
                joined.write_parquet(parts / f"part-{n:06d}.parquet")
            n += 1
        if partitioned:
            unify_schemas(sorted(parts.glob("*/*.parquet")))
            os.replace(parts, out)
        else:
            partial = tmpdir / "combined.parquet"
            if n:
                # Files in different formats (or W3C segments) bring different
                # extra columns: the union keeps them all, null where a batch had none.
                scans = [pl.scan_parquet(f) for f in sorted(parts.glob("part-*.parquet"))]
                pl.concat(scans, how="diagonal_relaxed").sink_parquet(partial)
            else:
                empty = {**S.PARSED_SCHEMA, **S.GEO_SCHEMA, **(S.ANON_SCHEMA if sources else {})}
                pl.DataFrame(schema=empty).write_parquet(partial)
            os.replace(partial, out)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return enrich_meta(counter, faults, dbs, stream.matched, sources)


def _classify_requests(rows: pl.DataFrame, sources: AnonymizerSources) -> pl.DataFrame:
    """The verdict per request: per distinct (address, time), so Tor windows are exact."""
    keys = [S.CLIENT_IP, S.TS, *([S.ASN, S.AS_ORG] if sources.needs_asn else [])]
    distinct = (
        rows.select(keys)
        .unique()
        .with_columns(pl.col(S.TS).alias(S.FIRST_SEEN), pl.col(S.TS).alias(S.LAST_SEEN))
    )
    verdicts = classify(distinct, sources).select(S.CLIENT_IP, S.TS, *S.ANON_SCHEMA)
    return rows.join(
        verdicts, on=[S.CLIENT_IP, S.TS], how="left", maintain_order="left", nulls_equal=True
    )


__all__ = [
    "PARTITION_COLUMN",
    "EnrichStream",
    "enrich_logs",
    "unify_schemas",
    "write_partitioned",
]
