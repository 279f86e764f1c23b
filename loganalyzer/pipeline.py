"""The whole analysis in one call: read -> parse -> reduce -> enrich -> aggregate.

Batches stream through parsing and are reduced to per-client partials at once,
so memory follows the number of distinct clients, not the size of the logs.
Enrichment then looks up each distinct client once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import IO, Any

import polars as pl

from loganalyzer import schema as S
from loganalyzer.aggregate import (
    Grouping,
    mark_watched,
    merge_partials,
    partials,
    resolve_grouping,
    summarize,
    top,
)
from loganalyzer.detect import format_for
from loganalyzer.enrich import GeoDatabases, lookup
from loganalyzer.errors import InputError, TooManyBadLinesError, TruncatedInputError
from loganalyzer.filters import Filter, combine, parse_filter
from loganalyzer.formats import AUTO, LogFormat, get_format
from loganalyzer.parse import (
    REASON_BLANK,
    REASON_COMMENT,
    ParseOptions,
    ParseState,
    parse_lines,
    split_parsed,
)
from loganalyzer.read import InputFile, ReadFault, expand_inputs, iter_batches, prefetch

CAVEAT = (
    "IP geolocation is approximate: it places the network, not the person, within "
    "the accuracy radius; an address seen here may be a VPN, proxy or cloud exit, "
    "and must never be used to identify a household."
)
# Partials are re-merged once this many rows pile up, bounding memory.
_COMPACT_ROWS = 2_000_000


@dataclass(frozen=True)
class SamplePaths:
    """The bundled sample log and its invented sample databases."""

    log: Path
    city_db: Path
    asn_db: Path


def sample_paths() -> SamplePaths:
    """Where the bundled sample lives (used by ``report --sample`` and the docs)."""
    base = Path(str(resources.files("loganalyzer") / "sample"))
    return SamplePaths(base / "access.log", base / "sample-City.mmdb", base / "sample-ASN.mmdb")


@dataclass
class FileStats:
    """Line counts for one input."""

    name: str
    size: int | None
    total: int = 0
    parsed: int = 0
    rejected: int = 0
    first_reject: int | None = None
    fault: str | None = None
    format: str = ""
    format_match_rate: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used in ``meta.files``."""
        return {
            "path": self.name,
            "format": self.format,
            **(
                {"format_match_rate": self.format_match_rate}
                if self.format_match_rate is not None
                else {}
            ),
            "size_bytes": self.size,
            "lines": {"total": self.total, "parsed": self.parsed, "rejected": self.rejected},
            **({"error": self.fault} if self.fault else {}),
        }


@dataclass(frozen=True)
class Analysis:
    """A finished report: its rows and everything needed to reproduce it.

    Attributes:
        rows: the report rows (see :func:`loganalyzer.aggregate.summarize`).
        meta: provenance and counts, the ``meta`` object of the JSON output.
        faults: inputs that broke part-way (already counted up to the break).
    """

    rows: pl.DataFrame
    meta: dict[str, Any]
    faults: tuple[ReadFault, ...] = ()


@dataclass
class _Counter:
    files: list[FileStats] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(f.total for f in self.files)

    @property
    def parsed(self) -> int:
        return sum(f.parsed for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)


class RejectWriter:
    """Writes rejected lines as JSON Lines: source, line_no, reason, line."""

    def __init__(self, handle: IO[str] | None) -> None:
        self.handle = handle

    def write(self, rejects: pl.DataFrame) -> None:
        """Append a batch of rejects."""
        if self.handle is None or rejects.is_empty():
            return
        for rec in rejects.iter_rows(named=True):
            self.handle.write(json.dumps(rec, ensure_ascii=False) + "\n")


def _parsed_batches(
    inputs: Sequence[InputFile],
    fmt: LogFormat | None,
    counter: _Counter,
    faults: list[ReadFault],
    rejects: RejectWriter,
    on_bytes: Callable[[int], None] | None,
    max_bad_lines: int | None,
    columns: set[str] | None = None,
    options: ParseOptions | None = None,
) -> Iterator[pl.DataFrame]:
    """Parse every batch of every input; yield requests, count and route rejects.

    With ``fmt`` None the format is detected per file from its first batch.
    """
    for inp in inputs:
        stats = FileStats(inp.name, inp.size, format=fmt.name if fmt else "")
        counter.files.append(stats)
        nonblank_rejects = 0
        file_fmt, state = fmt, ParseState()
        for batch in prefetch(iter_batches(inp, on_bytes=on_bytes, faults=faults)):
            lines = batch.to_frame()
            if file_fmt is None:
                found = format_for(AUTO, lines, source=inp.name, options=options)
                file_fmt, stats.format = found.format, found.format.name
                stats.format_match_rate = found.rate
            frame = parse_lines(
                lines.lazy(), file_fmt, columns=columns, options=options, state=state
            ).collect()
            result = split_parsed(frame.lazy())
            rows = result.rows.collect()
            bad = result.rejects.collect()
            stats.total += frame.height
            stats.parsed += rows.height
            stats.rejected += bad.height
            if bad.height:
                if stats.first_reject is None:
                    stats.first_reject = int(bad[S.LINE_NO][0])
                for reason, n in bad.group_by(S.REASON).len().iter_rows():
                    counter.reasons[reason] = counter.reasons.get(reason, 0) + n
                    if reason not in (REASON_BLANK, REASON_COMMENT):
                        nonblank_rejects += n
                rejects.write(bad)
            if max_bad_lines is not None and counter.rejected > max_bad_lines:
                raise TooManyBadLinesError(
                    counter.rejected, counter.total, stats.first_reject or 0, inp.name, stats.format
                )
            yield rows
        for fault in faults:
            if fault.source == inp.name:
                stats.fault = f"{fault.problem} after line {fault.line_no}"
        if stats.parsed == 0 and nonblank_rejects > 0:
            raise TooManyBadLinesError(
                nonblank_rejects, stats.total, stats.first_reject or 0, inp.name, stats.format
            )


def _meta(
    *,
    counter: _Counter,
    dbs: GeoDatabases | None,
    grouping: Grouping | None,
    filters: Sequence[Filter],
    since: datetime | None,
    until: datetime | None,
    matched: int,
    first: datetime | None,
    last: datetime | None,
    watch: Sequence[str],
    top_n: int | None,
    rows_total: int,
) -> dict[str, Any]:
    from loganalyzer import __version__

    return {
        "tool": {"name": "loganalyzer", "version": __version__},
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "lines": {
            "total": counter.total,
            "parsed": counter.parsed,
            "rejected": counter.rejected,
            "rejected_by_reason": dict(sorted(counter.reasons.items())),
            "matched": matched,
        },
        "files": [f.as_dict() for f in counter.files],
        "databases": [d.as_dict() for d in dbs.infos] if dbs else [],
        "group_by": list(grouping.names) if grouping else [],
        "keys": list(grouping.keys) if grouping else [],
        "filters": [f"{f.column}{f.op}{','.join(f.values)}" for f in filters],
        "since": _iso(since),
        "until": _iso(until),
        "time_range": {"first": _iso(first), "last": _iso(last)},
        "watch": list(watch),
        "top": top_n,
        "rows_total": rows_total,
        "caveat": CAVEAT,
    }


def _iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time_filter(since: datetime | None, until: datetime | None) -> pl.Expr | None:
    conds = []
    if since is not None:
        conds.append(pl.col(S.TS) >= since)
    if until is not None:
        conds.append(pl.col(S.TS) < until)
    return pl.all_horizontal(conds) if conds else None


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def analyze(
    paths: Sequence[str | Path],
    *,
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
    dbs: GeoDatabases | None = None,
    lang: str = "en",
    rejects: IO[str] | None = None,
    max_bad_lines: int | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> Analysis:
    """Read, parse, enrich and aggregate logs into one report.

    Args:
        paths: log files, globs, or ``-`` for stdin; compressed files are fine.
        log_format: ``auto`` (detected per file), a preset (``combined``,
            ``nginx_main``, ``w3c``...), ``apache:<LogFormat>``, ``nginx:<log_format>``
            or ``json:<column=path,...>``.
        parse_options: ``--assume-tz``, ``--client-ip`` and ``--trusted-proxy``.
        by: grouping names or columns (``region``, ``asn``, ``path``, ``day``...).
        where: filters such as ``region_iso=CN-LN`` or ``client_ip=175.167.0.0/16``.
        since: keep requests at or after this time (naive times are UTC).
        until: keep requests before this time.
        watch: country or subdivision codes always shown and marked.
        top_n: keep the first N rows (watched rows are always kept).
        city_db: a City or Country database.
        asn_db: an ASN database.
        geoip_dir: a folder of databases.
        dbs: already opened databases (instead of the three above).
        lang: language of place names.
        rejects: a text stream that receives rejected lines as JSON Lines.
        max_bad_lines: fail when more lines than this are rejected.
        on_bytes: progress callback, called with raw bytes consumed.

    Returns:
        The :class:`Analysis`.

    Raises:
        InputError: unreadable inputs, or a file none of whose lines parse.
        GeoDatabaseError: missing or wrong databases when the report needs them.
        UsageError: bad ``by`` or ``where``.

    Example:
        >>> s = sample_paths()
        >>> a = analyze([s.log], city_db=s.city_db, asn_db=s.asn_db, watch=["CN-LN"])
        >>> a.rows.filter(a.rows["watched"])["region_iso"].to_list()
        ['CN-LN']
    """
    fmt = None if log_format == AUTO else get_format(log_format)
    inputs = expand_inputs(paths)
    grouping = resolve_grouping(by)
    filters = [f if isinstance(f, Filter) else parse_filter(f) for f in where]
    row_filters = [f for f in filters if f.on_rows]
    geo_filters = [f for f in filters if not f.on_rows]
    needs_geo = grouping.needs_geo or any(f.column != S.CLIENT_IP for f in geo_filters)
    if dbs is None:
        dbs = GeoDatabases.open(city=city_db, asn=asn_db, geoip_dir=geoip_dir)
    if needs_geo and dbs.city is None and dbs.asn is None:
        dbs.require_city()
    since, until = _utc(since), _utc(until)
    counter = _Counter()
    faults: list[ReadFault] = []
    row_cond = combine(row_filters)
    time_cond = _time_filter(since, until)
    part_keys = [S.CLIENT, *grouping.row_keys]
    parts: list[pl.DataFrame] = []
    held = 0
    # Parse only what the report uses: the same lines are accepted either way.
    columns = {S.CLIENT, S.TS, S.STATUS, S.BYTES}
    columns |= {k for k in grouping.row_keys if k in S.PARSED_SCHEMA}
    columns |= {f.column for f in row_filters if f.column in S.PARSED_SCHEMA}
    for rows in _parsed_batches(
        inputs,
        fmt,
        counter,
        faults,
        RejectWriter(rejects),
        on_bytes,
        max_bad_lines,
        columns,
        parse_options,
    ):
        lf = rows.lazy()
        if time_cond is not None:
            lf = lf.filter(time_cond)
        if row_cond is not None:
            lf = lf.filter(row_cond)
        part = partials(lf, grouping).collect()
        parts.append(part)
        held += part.height
        if held > _COMPACT_ROWS and len(parts) > 1:
            parts = [merge_partials(parts, part_keys).collect()]
            held = parts[0].height
    merged = (
        merge_partials(parts, part_keys).collect()
        if parts
        else partials(pl.LazyFrame(schema=S.PARSED_SCHEMA), grouping).collect()
    )
    wanted = {k for k in grouping.geo_keys if k in S.GEO_SCHEMA} | {f.column for f in geo_filters}
    table = lookup(merged[S.CLIENT], dbs, fields=wanted - {S.CLIENT}, lang=lang)
    geo_cond = combine(geo_filters)
    if geo_cond is not None:
        table = table.filter(geo_cond)
    enriched = merged.lazy().join(table.lazy(), on=S.CLIENT, how="inner")
    rows_out = summarize(enriched, grouping)
    matched = int(rows_out[S.REQUESTS].sum()) if rows_out.height else 0
    first = rows_out[S.FIRST_SEEN].min() if rows_out.height else None
    last = rows_out[S.LAST_SEEN].max() if rows_out.height else None
    rows_total = rows_out.height
    if watch:
        rows_out = mark_watched(rows_out, watch)
    rows_out = top(rows_out, top_n)
    meta = _meta(
        counter=counter,
        dbs=dbs,
        grouping=grouping,
        filters=filters,
        since=since,
        until=until,
        matched=matched,
        first=first if isinstance(first, datetime) else None,
        last=last if isinstance(last, datetime) else None,
        watch=watch,
        top_n=top_n,
        rows_total=rows_total,
    )
    return Analysis(rows=rows_out, meta=meta, faults=tuple(faults))


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
) -> dict[str, Any]:
    """Write every parsed request with its enrichment columns to Parquet.

    Batches are enriched as they stream (each new client looked up once) and
    written as row groups of one file, which appears only when complete.

    Returns:
        The ``meta`` object (line counts, files, databases).
    """
    import os
    import tempfile

    fmt = None if log_format == AUTO else get_format(log_format)
    filters = [f if isinstance(f, Filter) else parse_filter(f) for f in where]
    row_cond = combine([f for f in filters if f.on_rows])
    geo_cond = combine([f for f in filters if not f.on_rows])
    time_cond = _time_filter(_utc(since), _utc(until))
    inputs = expand_inputs(paths)
    counter = _Counter()
    faults: list[ReadFault] = []
    known = pl.DataFrame(schema=S.GEO_SCHEMA)
    out = Path(output)
    tmpdir = Path(tempfile.mkdtemp(prefix=".loganalyzer-", dir=out.parent))
    matched = 0
    try:
        n = 0
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
            lf = rows.lazy()
            for cond in (time_cond, row_cond):
                if cond is not None:
                    lf = lf.filter(cond)
            batch = lf.collect()
            new = batch.select(pl.col(S.CLIENT).unique()).join(
                known.select(S.CLIENT), on=S.CLIENT, how="anti"
            )
            if new.height:
                known = pl.concat([known, lookup(new[S.CLIENT], dbs, lang=lang)])
            joined = batch.join(known, on=S.CLIENT, how="left", maintain_order="left")
            if geo_cond is not None:
                joined = joined.filter(geo_cond)
            matched += joined.height
            joined.write_parquet(tmpdir / f"part-{n:06d}.parquet")
            n += 1
        partial = tmpdir / "combined.parquet"
        if n:
            # Files in different formats (or W3C segments) bring different extra
            # columns: the union keeps them all, null where a batch had none.
            parts = [pl.scan_parquet(f) for f in sorted(tmpdir.glob("part-*.parquet"))]
            pl.concat(parts, how="diagonal_relaxed").sink_parquet(partial)
        else:
            pl.DataFrame(schema={**S.PARSED_SCHEMA, **S.GEO_SCHEMA}).write_parquet(partial)
        os.replace(partial, out)
    finally:
        for f in tmpdir.glob("*"):
            f.unlink()
        tmpdir.rmdir()
    return {
        "lines": {
            "total": counter.total,
            "parsed": counter.parsed,
            "rejected": counter.rejected,
            "rejected_by_reason": dict(sorted(counter.reasons.items())),
            "matched": matched,
        },
        "files": [f.as_dict() for f in counter.files],
        "databases": [d.as_dict() for d in dbs.infos],
        "faults": [f"{f.source}: {f.problem} after line {f.line_no}" for f in faults],
        "_faults": faults,
    }


def raise_for_faults(faults: Sequence[ReadFault]) -> None:
    """Raise the first read fault as an error (the CLI's default without --keep-going)."""
    if faults:
        f = faults[0]
        raise TruncatedInputError(f.source, f.line_no, f.problem)


__all__ = [
    "CAVEAT",
    "Analysis",
    "FileStats",
    "InputError",
    "SamplePaths",
    "analyze",
    "enrich_logs",
    "raise_for_faults",
    "sample_paths",
]
