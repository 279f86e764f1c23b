"""The commands' requests as library calls: one function per choice a command makes.

A command line hands over option values; these functions turn them into the
library's arguments (times, formats) or pick the library function that does the
work: :func:`analyze_logs` and :func:`enrich_logs_to` run here or on a Dask
cluster with the *same* read options, so no option can reach one branch and
miss the other. Nothing here prints; progress and notes go through callbacks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from loganalyzer.errors import LogAnalyzerError, UsageError

if TYPE_CHECKING:
    from loganalyzer.analysis.bench import BenchResult
    from loganalyzer.analysis.pipeline import Analysis
    from loganalyzer.anonymity.sources import AnonymizerSources
    from loganalyzer.geo.databases import GeoDatabases

ENRICH_ON_CLUSTER = "on a cluster, enrich writes a --partitioned dataset, without --rejects"


def parse_time(value: str | None, option: str, *, zone: str | None = None) -> datetime | None:
    """An ISO 8601 time from an option; one without a zone is read in ``zone``.

    Args:
        value: the text given, or None.
        option: the option's name, for the message.
        zone: an IANA zone for times written without one (UTC when None).

    Raises:
        UsageError: the text is not ISO 8601.

    Example:
        >>> parse_time("2026-09-14T08:00", "--since", zone="Asia/Shanghai").isoformat()
        '2026-09-14T08:00:00+08:00'
    """
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{option}: cannot read {value!r}; "
            "use ISO 8601, e.g. 2026-09-14 or 2026-09-14T08:00+08:00"
        ) from None
    if parsed.tzinfo is None and zone and zone != "UTC":
        from zoneinfo import ZoneInfo

        parsed = parsed.replace(tzinfo=ZoneInfo(zone))
    return parsed


def json_log_format(log_format: str, json_fields: Sequence[str]) -> str:
    """The log format that ``--json-field COL=PATH`` options make of ``--log-format``.

    Raises:
        UsageError: fields given with a format other than ``auto`` or ``json``.

    Example:
        >>> json_log_format("auto", ["client_ip=remote_addr", "ts=time"])
        'json:client_ip=remote_addr,ts=time'
    """
    if not json_fields:
        return log_format
    if log_format not in ("auto", "json"):
        raise UsageError("--json-field goes with --log-format json (or auto)")
    return "json:" + ",".join(json_fields)


def analyze_logs(
    paths: Sequence[str | Path],
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    **analyze_args: Any,
) -> Analysis:
    """:func:`~loganalyzer.analyze` here, or the same report with one task per file on Dask.

    Args:
        paths: log files or globs.
        scheduler: a running dask.distributed scheduler's address.
        workers: a local cluster of this many processes (unless ``scheduler``).
        **analyze_args: everything else ``analyze`` takes, for either branch.
    """
    if not scheduler and not workers:
        from loganalyzer.analysis.pipeline import analyze

        return analyze(paths, **analyze_args)
    from loganalyzer.analysis.cluster import analyze_distributed

    return analyze_distributed(
        paths, scheduler=scheduler, workers=None if scheduler else workers, **analyze_args
    )


def enrich_logs_to(
    paths: Sequence[str | Path],
    output: str | Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    partitioned: bool = False,
    dbs: GeoDatabases | None = None,
    city_db: str | Path | None = None,
    asn_db: str | Path | None = None,
    geoip_dir: str | Path | None = None,
    lang: str = "en",
    rejects: IO[str] | None = None,
    max_bad_lines: int | None = None,
    on_bytes: Callable[[int], None] | None = None,
    sources: AnonymizerSources | None = None,
    **read_args: Any,
) -> dict[str, Any]:
    """Write every request with its enrichment to Parquet, here or on a Dask cluster.

    Args:
        paths: log files or globs.
        output: the Parquet file, or with ``partitioned`` the dataset folder.
        scheduler: a running dask.distributed scheduler's address.
        workers: a local cluster of this many processes (unless ``scheduler``).
        partitioned: a Hive-partitioned dataset by date (required on a cluster).
        dbs: databases already open (else opened from the paths below).
        city_db: a City or Country database.
        asn_db: an ASN database.
        geoip_dir: a folder of databases under their usual names.
        lang: language of place names.
        rejects: a stream for rejected lines (not on a cluster).
        max_bad_lines: fail when more lines than this are rejected (here only).
        on_bytes: progress callback in bytes read (here only).
        sources: anonymizer sources (here only).
        **read_args: ``log_format``, ``parse_options``, ``where``, ``since`` and
            ``until``, which both branches honour alike.

    Returns:
        The ``meta`` object, as from :func:`~loganalyzer.analysis.enrich_logs.enrich_logs`.

    Raises:
        UsageError: on a cluster, without ``partitioned`` or with ``rejects``.
    """
    if scheduler or workers:
        if not partitioned or rejects is not None:
            raise UsageError(ENRICH_ON_CLUSTER)
        from loganalyzer.analysis.cluster import enrich_distributed

        return enrich_distributed(
            paths,
            output,
            scheduler=scheduler,
            workers=None if scheduler else workers,
            city_db=city_db,
            asn_db=asn_db,
            geoip_dir=geoip_dir,
            lang=lang,
            **read_args,
        )
    from loganalyzer.analysis.enrich_logs import enrich_logs
    from loganalyzer.geo.databases import GeoDatabases

    if dbs is None:
        dbs = GeoDatabases.open(city=city_db, asn=asn_db, geoip_dir=geoip_dir)
    dbs.require_city()
    return enrich_logs(
        paths,
        output,
        dbs=dbs,
        lang=lang,
        rejects=rejects,
        max_bad_lines=max_bad_lines,
        on_bytes=on_bytes,
        partitioned=partitioned,
        sources=sources,
        **read_args,
    )


def lookup_given(
    addresses: Sequence[str],
    dbs: GeoDatabases,
    *,
    lang: str = "en",
    sources: AnonymizerSources | None = None,
) -> Analysis:
    """Every database's answer for some addresses, with the provenance of a report.

    Args:
        addresses: addresses as typed (ports, brackets and zone ids allowed).
        dbs: the open databases.
        lang: language of place names.
        sources: anonymizer sources: each row gets the verdict and its evidence.

    Returns:
        An :class:`~loganalyzer.analysis.pipeline.Analysis` with one row an input.
    """
    from loganalyzer._version import version
    from loganalyzer.analysis.lookup import lookup_addresses
    from loganalyzer.analysis.meta import CAVEAT, anonymizer_settings
    from loganalyzer.analysis.pipeline import Analysis

    rows = lookup_addresses(addresses, dbs, lang=lang, sources=sources)
    meta = {
        "tool": {"name": "loganalyzer", "version": version()},
        "databases": [d.as_dict() for d in dbs.infos],
        **({"sources": [i.as_dict() for i in sources.infos]} if sources else {}),
        **({"anonymizer_settings": anonymizer_settings(sources)} if sources else {}),
        "caveat": CAVEAT,
    }
    return Analysis(rows=rows, meta=meta)


def benchmark(
    log: str | None,
    *,
    dbs: GeoDatabases,
    by: str = "region",
    lang: str = "en",
    lines: int = 1_000_000,
    seed: int = 7,
    keep: str | None = None,
    repeat: int = 3,
    with_gzip: bool = False,
    split: int | None = None,
    longer: str | None = None,
    peers: bool = False,
    with_sources: bool = False,
    sources_dir: str | None = None,
    presets: Sequence[str] = (),
    commands: bool = False,
    note: Callable[[str], None] = lambda _message: None,
) -> BenchResult:
    """Time ``report`` on a log (generated when None) and the variants asked for.

    Args:
        log: the log to time, or None to generate ``lines`` lines first.
        dbs: the open databases; the City one is required.
        by: the report's grouping.
        lang: the report's language of place names.
        lines: lines to generate.
        seed: seed of the generated log and sources.
        keep: where to keep the generated log (else a temporary folder).
        repeat: rounds; the fastest of each variant counts.
        with_gzip: also time a gzip copy.
        split: also time the log cut into this many gzip files.
        longer: also time this longer log.
        peers: also time a hand-written loop and GoAccess with the City database.
        with_sources: also time with synthetic anonymizer sources.
        sources_dir: also time with these anonymizer sources.
        presets: also time the log's requests in these presets' formats.
        commands: also time enrich, ips, compare and lookup.
        note: receives one line per step, before it starts.

    Returns:
        The :class:`~loganalyzer.analysis.bench.BenchResult`.

    Raises:
        GeoDatabaseError: no City database.
        LogAnalyzerError: the timed report itself failed.
    """
    import tempfile

    from loganalyzer.analysis.bench import (
        COMMANDS,
        generate_log,
        generate_sources,
        run_benchmark,
    )

    dbs.require_city()
    report_args = ["--by", by, "-O", "csv", "--lang", lang]
    for info in dbs.infos:
        report_args += [f"--{info.role}-db", str(info.path)]
    city = next(i.path for i in dbs.infos if i.role == "city")
    with tempfile.TemporaryDirectory(prefix="loganalyzer-bench-") as tmp:
        if log is None:
            target = Path(keep) if keep else Path(tmp) / "bench.log"
            note(f"Generating {lines:,} lines (seed {seed}) into {target}...")
            log = str(generate_log(target, lines=lines, seed=seed, city_db=city))
        timed_sources = sources_dir
        if with_sources and timed_sources is None:
            timed_sources = str(Path(tmp) / "sources")
            note(f"Drawing anonymizer sources from the log's clients into {timed_sources}...")
            generate_sources(timed_sources, log, seed=seed)
        variants = ["floor", "report"]
        variants += ["gzip"] * with_gzip + ["files"] * bool(split) + ["longer"] * bool(longer)
        variants += ["parse", "sources", "first run"] if timed_sources else []
        variants += [f"floor and report of {p}" for p in presets]
        variants += list(COMMANDS) * commands
        if presets:
            note(f"Writing the log's requests as {', '.join(presets)}...")
        note(f"Timing {repeat} rounds, each running {', '.join(variants)} once...")
        result = run_benchmark(
            log,
            report_args=report_args,
            repeat=repeat,
            with_gzip=with_gzip,
            workdir=tmp,
            peers_city_db=city if peers else None,
            split=split or 0,
            longer=longer,
            sources_dir=timed_sources,
            presets=presets,
            commands=commands,
        )
    if sources_dir is None:
        result.sources_dir = None  # a temporary folder, gone by now
    if result.report.returncode != 0:
        raise LogAnalyzerError(
            f"the report failed (exit {result.report.returncode}): " + " ".join(result.command)
        )
    return result


__all__ = [
    "ENRICH_ON_CLUSTER",
    "analyze_logs",
    "benchmark",
    "enrich_logs_to",
    "json_log_format",
    "lookup_given",
    "parse_time",
]
