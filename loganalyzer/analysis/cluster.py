"""The same report on a Dask cluster: files are reduced on workers, merged here.

A report is a map over files (parse, filter, reduce to per-client partials,
look up the file's clients) and an exact merge (sums, min/max, and distinct
clients counted only after the merge). Each worker opens the databases itself
from the paths it is given, so nothing large travels but the partials. The
scheduler retries the task of a lost worker; a task's result is taken once, so
nothing is counted twice.

Needs the optional extra: ``pip install 'loganalyzer[cluster]'``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import polars as pl

from loganalyzer import schema as S
from loganalyzer.analysis.aggregate import merge_partials
from loganalyzer.analysis.batches import _parsed_batches
from loganalyzer.analysis.counts import LineCounter, RejectWriter
from loganalyzer.analysis.empty import note_nothing_matched
from loganalyzer.analysis.filters import Filter, parse_filter
from loganalyzer.analysis.pipeline import Analysis, finish_analysis, geo_fields, prepare
from loganalyzer.analysis.reduce import ScanPlan, _utc, reduce_batches
from loganalyzer.errors import (
    LogAnalyzerError,
    MissingDependencyError,
    TooManyBadLinesError,
    UsageError,
)
from loganalyzer.geo.databases import GeoDatabases
from loganalyzer.geo.enrich import lookup
from loganalyzer.ingest.formats import LogFormat
from loganalyzer.ingest.parse import ParseOptions
from loganalyzer.ingest.presets import AUTO, get_format
from loganalyzer.ingest.read import InputFile, ReadFault, expand_inputs

if TYPE_CHECKING:
    from distributed import Client

    from loganalyzer.anonymity.sources import AnonymizerSources


@dataclass(frozen=True)
class FileResult:
    """What one worker sends back for one file: small, picklable, exact."""

    index: int
    partial: pl.DataFrame
    table: pl.DataFrame
    counter: LineCounter
    faults: tuple[ReadFault, ...]
    error: LogAnalyzerError | None = None


@functools.lru_cache(maxsize=4)
def _worker_dbs(city: str | None, asn: str | None) -> GeoDatabases:
    # One open per worker process, reused by every task it runs.
    return GeoDatabases.open(city=city, asn=asn, search=False)


def scan_file(
    index: int,
    inp: InputFile,
    plan: ScanPlan,
    city: str | None,
    asn: str | None,
    fields: frozenset[str],
    lang: str,
) -> FileResult:
    """The map task: one file to its merged partial and its clients' lookups.

    Runs on a worker (or here, for tests and single machines): it opens the
    databases from their paths, parses, reduces and looks up. The errors the
    library raises on purpose come back as values: they are the user's to read,
    not a worker failure for the scheduler to log with a traceback.
    """
    try:
        return _scan_file(index, inp, plan, city, asn, fields, lang)
    except LogAnalyzerError as exc:
        empty = pl.DataFrame()
        return FileResult(index, empty, empty, LineCounter(), (), error=exc)


def _scan_file(
    index: int,
    inp: InputFile,
    plan: ScanPlan,
    city: str | None,
    asn: str | None,
    fields: frozenset[str],
    lang: str,
) -> FileResult:
    counter = LineCounter()
    faults: list[ReadFault] = []
    batches = _parsed_batches(
        [inp], plan.fmt, counter, faults, RejectWriter(None), None, None, plan.columns, plan.options
    )
    partial = reduce_batches(batches, plan)
    dbs = _worker_dbs(city, asn)
    table = lookup(partial[S.CLIENT].unique(), dbs, fields=set(fields), lang=lang)
    return FileResult(index, partial, table, counter, tuple(faults))


def merge_results(results: Sequence[FileResult], plan: ScanPlan) -> tuple[Any, ...]:
    """Merge file results in input order: partials, lookup table, counts, faults."""
    ordered = sorted(results, key=lambda r: r.index)
    merged = merge_partials([r.partial for r in ordered], plan.part_keys).collect()
    table = pl.concat([r.table for r in ordered], how="vertical").unique(
        subset=[S.CLIENT], keep="first", maintain_order=True
    )
    counter, faults = _merge_counts(ordered)
    return merged, table, counter, faults


def _merge_counts(
    results: Sequence[FileResult | EnrichResult],
) -> tuple[LineCounter, list[ReadFault]]:
    counter = LineCounter()
    faults: list[ReadFault] = []
    for r in sorted(results, key=lambda r: r.index):
        counter.files.extend(r.counter.files)
        for reason, n in r.counter.reasons.items():
            counter.reasons[reason] = counter.reasons.get(reason, 0) + n
        faults.extend(r.faults)
    return counter, faults


def connect(scheduler: str | None = None, workers: int | None = None) -> Client:
    """A client for an existing scheduler, or for a local cluster of N processes.

    Raises:
        MissingDependencyError: without the ``cluster`` extra.
        UsageError: when neither or both are given.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise MissingDependencyError(
            "the cluster backend needs dask.distributed: pip install 'loganalyzer[cluster]'"
        ) from None
    if (scheduler is None) == (workers is None):
        raise UsageError("give either a scheduler address or a number of local workers")
    if scheduler is not None:
        return Client(scheduler, set_as_default=False)
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
    )
    return Client(cluster, set_as_default=False)


def analyze_distributed(
    paths: Sequence[str | Path],
    *,
    client: Client | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    log_format: str | LogFormat = AUTO,
    parse_options: ParseOptions | None = None,
    by: Sequence[str] = ("region",),
    where: Sequence[str | Filter] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    watch: Sequence[str] = (),
    top_n: int | None = None,
    city_db: str | Path | None = None,
    asn_db: str | Path | None = None,
    geoip_dir: str | Path | None = None,
    lang: str = "en",
    max_bad_lines: int | None = None,
    retries: int = 2,
    on_file: Callable[[int, int], None] | None = None,
    rejects: IO[str] | None = None,
    on_bytes: Callable[[int], None] | None = None,
    sources: AnonymizerSources | None = None,
    tz: str = "UTC",
) -> Analysis:
    """:func:`loganalyzer.analyze` with one task per file on a Dask cluster.

    The result equals the single-process report exactly, distinct clients
    included. Paths must be readable by the workers (a shared file system).

    Args:
        paths: log files or globs (no stdin: workers cannot read it).
        client: a ``distributed.Client``; otherwise one is made from
            ``scheduler`` (``tcp://host:8786``) or ``workers`` (a local cluster)
            and closed afterwards.
        scheduler: the address of a running scheduler.
        workers: start a local cluster with this many worker processes.
        log_format: as for :func:`~loganalyzer.analyze`.
        parse_options: as for :func:`~loganalyzer.analyze`.
        by: as for :func:`~loganalyzer.analyze`.
        where: as for :func:`~loganalyzer.analyze`.
        since: as for :func:`~loganalyzer.analyze`.
        until: as for :func:`~loganalyzer.analyze`.
        watch: as for :func:`~loganalyzer.analyze`.
        top_n: as for :func:`~loganalyzer.analyze`.
        city_db: a City or Country database (a path the workers can read).
        asn_db: an ASN database.
        geoip_dir: a folder of databases (resolved here, passed as paths).
        lang: language of place names.
        max_bad_lines: fail when more lines than this are rejected in total.
        retries: how often the scheduler reruns the task of a lost worker.
        on_file: progress callback, called with (files done, files in total).
        rejects: must be None: workers cannot write to this process's stream.
        on_bytes: progress callback in bytes of input, called as files finish.
        sources: anonymizer sources; verdicts are made here, after the merge,
            from each client's first and last request over every file.
        tz: as for :func:`~loganalyzer.analyze`.

    Returns:
        The :class:`~loganalyzer.analysis.pipeline.Analysis`, as from ``analyze``.
    """
    if rejects is not None:
        raise UsageError("--rejects is not available on a cluster yet; run without it")
    inputs, plan, filters, dbs = prepare(
        paths,
        log_format,
        by,
        where,
        since,
        until,
        None,
        city_db,
        asn_db,
        geoip_dir,
        sources,
        parse_options,
        tz,
    )
    if any(inp.is_stdin for inp in inputs):
        raise UsageError("a cluster cannot read standard input; give files")
    paths_by_role = {info.role: str(Path(info.path).resolve()) for info in dbs.infos}
    fields = frozenset(geo_fields(plan, filters, sources))
    own = client is None
    if client is None:
        client = connect(scheduler, workers)
    try:
        from distributed import as_completed

        futures = [
            client.submit(
                scan_file,
                i,
                inp,
                plan,
                paths_by_role.get("city"),
                paths_by_role.get("asn"),
                fields,
                lang,
                key=f"loganalyzer-scan-{i}-{inp.name}",
                retries=retries,
                pure=False,
            )
            for i, inp in enumerate(inputs)
        ]
        results: list[FileResult] = []
        for done, future in enumerate(as_completed(futures, loop=client.loop), start=1):
            # Every task is awaited, failed or not: closing a cluster under
            # running tasks makes workers log tracebacks the user need not see.
            result = future.result()
            results.append(result)
            if on_file is not None:
                on_file(done, len(futures))
            if on_bytes is not None:
                on_bytes(inputs[result.index].size or 0)
    finally:
        if own:
            cluster = client.cluster
            client.close()
            if cluster is not None:
                cluster.close()
    failed = sorted((r for r in results if r.error is not None), key=lambda r: r.index)
    if failed and failed[0].error is not None:
        raise failed[0].error
    merged, table, counter, faults = merge_results(results, plan)
    if max_bad_lines is not None and counter.rejected > max_bad_lines:
        first = next(f for f in counter.files if f.rejected)
        raise TooManyBadLinesError(
            counter.rejected, counter.total, first.first_reject or 0, first.name, first.format
        )
    result = finish_analysis(
        merged,
        counter=counter,
        faults=faults,
        plan=plan,
        filters=filters,
        dbs=dbs,
        lang=lang,
        watch=watch,
        top_n=top_n,
        table=table,
        sources=sources,
    )

    # On the cluster again (a new one when this call made its own and closed it).
    same_reading = functools.partial(
        analyze_distributed, client=None if own else client, scheduler=scheduler,
        workers=workers, log_format=log_format, parse_options=parse_options, city_db=city_db,
        asn_db=asn_db, geoip_dir=geoip_dir, sources=sources,
    )  # fmt: skip
    note_nothing_matched(result.meta, paths, same_reading)
    return result


@dataclass(frozen=True)
class EnrichResult:
    """What one worker sends back after enriching one file into the staging area."""

    index: int
    files: tuple[str, ...]
    counter: LineCounter
    faults: tuple[ReadFault, ...]
    matched: int
    error: LogAnalyzerError | None = None


def enrich_file(
    index: int,
    inp: InputFile,
    fmt: LogFormat | None,
    options: ParseOptions,
    filters: tuple[Filter, ...],
    since: datetime | None,
    until: datetime | None,
    city: str | None,
    asn: str | None,
    lang: str,
    staging: str,
) -> EnrichResult:
    """The enrich map task: one file to partition files in a fresh staging folder.

    Each attempt writes into its own folder and reports the files it wrote; only
    the reported files of the attempt whose result was taken are published, so a
    retried task never leaves its lost attempt's rows behind.
    """
    import uuid

    from loganalyzer.analysis.enrich_logs import EnrichStream, write_partitioned

    attempt = Path(staging) / f"file{index:05d}-{uuid.uuid4().hex}"
    attempt.mkdir(parents=True)
    counter = LineCounter()
    faults: list[ReadFault] = []
    try:
        stream = EnrichStream(_worker_dbs(city, asn), lang, filters, since, until)
        written: list[Path] = []
        batches = _parsed_batches(
            [inp], fmt, counter, faults, RejectWriter(None), None, None, options=options
        )
        for n, rows in enumerate(batches):
            written += write_partitioned(stream(rows), attempt, f"f{index:05d}-{n:06d}")
    except LogAnalyzerError as exc:
        return EnrichResult(index, (), LineCounter(), (), 0, error=exc)
    files = tuple(str(p.relative_to(attempt)) for p in written)
    return EnrichResult(
        index, tuple(str(attempt / f) for f in files), counter, tuple(faults), stream.matched
    )


def enrich_distributed(
    paths: Sequence[str | Path],
    output: str | Path,
    *,
    client: Client | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    log_format: str | LogFormat = AUTO,
    parse_options: ParseOptions | None = None,
    where: Sequence[str | Filter] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    city_db: str | Path | None = None,
    asn_db: str | Path | None = None,
    geoip_dir: str | Path | None = None,
    lang: str = "en",
    retries: int = 2,
) -> dict[str, Any]:
    """``enrich`` with one task per file, into a Hive-partitioned dataset by date.

    Workers write their partitions into a staging folder beside ``output``
    (which must be on a file system they share); the dataset appears at
    ``output`` only when every file is done.

    Args:
        paths: log files or globs.
        output: the dataset folder to create (must not exist, or be empty).
        client: a ``distributed.Client`` (else made from scheduler/workers).
        scheduler: the address of a running scheduler.
        workers: start a local cluster with this many worker processes.
        log_format: as for :func:`~loganalyzer.analyze`.
        parse_options: as for :func:`~loganalyzer.analyze`.
        where: as for :func:`~loganalyzer.analyze`.
        since: as for :func:`~loganalyzer.analyze`.
        until: as for :func:`~loganalyzer.analyze`.
        city_db: a City or Country database the workers can read.
        asn_db: an ASN database.
        geoip_dir: a folder of databases (resolved here, passed as paths).
        lang: language of place names.
        retries: how often the scheduler reruns the task of a lost worker.

    Returns:
        The ``meta`` object, as from :func:`~loganalyzer.analysis.enrich_logs.enrich_logs`.
    """
    import os
    import shutil
    import tempfile

    from loganalyzer.analysis.enrich_logs import unify_schemas
    from loganalyzer.analysis.meta import enrich_meta

    fmt = None if log_format == AUTO else get_format(log_format)
    inputs = expand_inputs(paths, keep_going=bool(parse_options and parse_options.skip_bad_files))
    if any(inp.is_stdin for inp in inputs):
        raise UsageError("a cluster cannot read standard input; give files")
    filters = tuple(f if isinstance(f, Filter) else parse_filter(f) for f in where)
    dbs = GeoDatabases.open(city=city_db, asn=asn_db, geoip_dir=geoip_dir)
    dbs.require_city()
    role_paths = {info.role: str(Path(info.path).resolve()) for info in dbs.infos}
    out = Path(output).resolve()
    staging = Path(tempfile.mkdtemp(prefix=".loganalyzer-staging-", dir=out.parent))
    own = client is None
    try:
        if client is None:
            client = connect(scheduler, workers)
        from distributed import as_completed

        futures = [
            client.submit(
                enrich_file,
                i,
                inp,
                fmt,
                parse_options or ParseOptions(),
                filters,
                _utc(since),
                _utc(until),
                role_paths.get("city"),
                role_paths.get("asn"),
                lang,
                str(staging / "attempts"),
                key=f"loganalyzer-enrich-{i}-{inp.name}",
                retries=retries,
                pure=False,
            )
            for i, inp in enumerate(inputs)
        ]
        results: list[EnrichResult] = [f.result() for f in as_completed(futures, loop=client.loop)]
        results.sort(key=lambda r: r.index)
        failed = [r for r in results if r.error is not None]
        if failed and failed[0].error is not None:
            raise failed[0].error
        dataset = staging / "dataset"
        dataset.mkdir()
        for r in results:
            for f in r.files:
                src = Path(f)
                folder = dataset / src.parent.name
                folder.mkdir(exist_ok=True)
                os.replace(src, folder / src.name)
        unify_schemas(sorted(dataset.glob("*/*.parquet")))
        os.replace(dataset, out)
    finally:
        if own and client is not None:
            cluster = client.cluster
            client.close()
            if cluster is not None:
                cluster.close()
        shutil.rmtree(staging, ignore_errors=True)
    counter, faults = _merge_counts(results)
    return enrich_meta(counter, faults, dbs, sum(r.matched for r in results))


__all__ = [
    "EnrichResult",
    "FileResult",
    "analyze_distributed",
    "connect",
    "enrich_distributed",
    "enrich_file",
    "merge_results",
    "scan_file",
]
