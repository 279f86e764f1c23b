"""The whole analysis in one call: read -> parse -> reduce -> enrich -> aggregate.

Batches stream through parsing and are reduced to per-client partials at once,
so memory follows the number of distinct clients, not the size of the logs.
Enrichment then looks up each distinct client once.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import polars as pl

from loganalyzer import schema as S
from loganalyzer.analysis.aggregate import (
    Grouping,
    mark_watched,
    merge_partials,
    partials,
    resolve_grouping,
    summarize,
    summarize_groups,
    top,
)
from loganalyzer.analysis.filters import Filter, combine, parse_filter
from loganalyzer.analysis.tally import Tally, can_tally
from loganalyzer.anonymity.sources import AnonymizerSources, classify, stale_sources
from loganalyzer.errors import (
    InputError,
    InputFileError,
    SourceError,
    TooManyBadLinesError,
    TruncatedInputError,
    UsageError,
)
from loganalyzer.geo.databases import GeoDatabases
from loganalyzer.geo.enrich import lookup
from loganalyzer.ingest import native
from loganalyzer.ingest.detect import SAMPLE_LINES, Detection, FormatDetectionError, format_for
from loganalyzer.ingest.formats import LogFormat
from loganalyzer.ingest.parse import (
    REASON_BLANK,
    REASON_COMMENT,
    ParseOptions,
    ParseState,
    parse_lines,
    split_parsed,
)
from loganalyzer.ingest.prefetch import prefetch, prefetch_turns
from loganalyzer.ingest.presets import AUTO, get_format
from loganalyzer.ingest.read import (
    InputFile,
    LineBatch,
    ReadFault,
    count_lines,
    expand_inputs,
    iter_batches,
)

CAVEAT = (
    "IP geolocation is approximate: it places the network, not the person, within "
    "the accuracy radius; an address seen here may be a VPN, proxy or cloud exit, "
    "and must never be used to identify a household."
)
NO_ANON_SOURCES = (
    "no anonymizer sources loaded: no address was checked against VPN, Tor, proxy or "
    "hosting lists, so none is known to be direct (see --sources-dir)"
)
"""``meta.anonymizers`` of a report made without sources, and its stderr note."""


def anonymizer_note(sources: AnonymizerSources | None) -> str:
    """What ``meta.anonymizers`` says: how many sources judged the addresses, or none."""
    if not sources:
        return NO_ANON_SOURCES
    n = len(sources.infos)
    return f"{n} anonymizer source{'s' if n != 1 else ''} loaded; none_known is not proof of direct"


# Partials are re-merged once the rows held pass this many, and twice what the
# last merge left: memory stays within a small multiple of the distinct
# (client, key) pairs, and each row is merged a bounded number of times.
_COMPACT_ROWS = 400_000


@dataclass(frozen=True)
class SamplePaths:
    """The bundled sample log and its invented sample databases."""

    log: Path
    city_db: Path
    asn_db: Path


def anonymizer_settings(sources: AnonymizerSources) -> dict[str, Any]:
    """The choices besides the files that shape the verdicts, for ``meta``."""
    return {
        "tor_window_hours": sources.tor_slack.total_seconds() / 3600,
        "stale_after_days": sources.stale_days,
    }


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
        rows: the report rows (see :func:`loganalyzer.analysis.aggregate.summarize`).
        meta: provenance and counts, the ``meta`` object of the JSON output.
        faults: inputs that broke part-way (already counted up to the break).
    """

    rows: pl.DataFrame
    meta: dict[str, Any]
    faults: tuple[ReadFault, ...] = ()


@dataclass
class LineCounter:
    """Line counts per file and rejects per reason, across every input."""

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


@dataclass
class _FileRun:
    """One input as it is read: its counts, its format once known, its parse state."""

    inp: InputFile
    stats: FileStats
    fmt: LogFormat | None
    state: ParseState
    nonblank_rejects: int = 0  # rejected lines neither blank nor comments


def _parsed_batches(
    inputs: Sequence[InputFile],
    fmt: LogFormat | None,
    counter: LineCounter,
    faults: list[ReadFault],
    rejects: RejectWriter,
    on_bytes: Callable[[int], None] | None,
    max_bad_lines: int | None,
    columns: Collection[str] | None = None,
    options: ParseOptions | None = None,
    reduce_by: Grouping | None = None,
    tally: Tally | None = None,
) -> Iterator[pl.DataFrame]:
    """Parse every batch of every input; yield requests, count and route rejects.

    With ``fmt`` None the format is detected per file from its first batch.
    With ``reduce_by`` (a grouping without row keys, for a scan without
    filters) partials are yielded instead of requests: the native scanner's
    sums at the end, and the partials of any lines it leaves to Polars.
    With ``tally`` too, everything is summed into it and nothing is yielded.
    """
    run = _FileRun(InputFile("", None, None), FileStats("", 0), fmt, ParseState())
    sums: native.Sums | Tally | None = tally

    def emit(part: pl.DataFrame) -> Iterator[pl.DataFrame]:
        if tally is None:
            yield part
        else:
            tally.merge(part)

    def direct(inp: InputFile, found: LogFormat) -> int | None:
        # A plain local file the scanner can sum: it reads the file itself.
        if reduce_by is None:
            return None
        kind = native.kind_for(found, columns, options)
        return kind if kind is not None and native.plain_file(inp) else None

    def counted(kept_out: int, run: _FileRun) -> None:
        run.nonblank_rejects += kept_out
        if max_bad_lines is not None and counter.rejected > max_bad_lines:
            raise TooManyBadLinesError(
                counter.rejected,
                counter.total,
                run.stats.first_reject or 0,
                run.inp.name,
                run.stats.format,
            )

    def ended(run: _FileRun) -> None:
        # A file none of whose lines parse is in another format.
        stats = run.stats
        if stats.parsed == 0 and run.nonblank_rejects > 0:
            raise TooManyBadLinesError(
                run.nonblank_rejects,
                stats.total,
                stats.first_reject or 0,
                run.inp.name,
                stats.format,
            )

    # Lines the scanner left (in a file's batches, or in its windows when it
    # reads the file itself), parsed some thousands at a time: each parse has a
    # fixed cost of some milliseconds (0.2 s over the 50 batches of the gzipped
    # benchmark log), while the scanner's threads wait. A file's end parses
    # them unless the file was small: then they wait for the next files' in
    # the same format (200 gzip files took 1.2 s more, parsed one by one), and
    # so does the file's end check. Not with --max-bad-lines, whose message
    # counts the lines read so far.
    held: list[tuple[pl.DataFrame, _FileRun]] = []
    n_held = 0
    waiting: list[_FileRun] = []  # files read whose end check waits for held lines

    def hold(rest: pl.DataFrame) -> Iterator[pl.DataFrame]:
        nonlocal n_held
        held.append((rest, run))
        n_held += rest.height
        if n_held >= _REST_LINES:
            yield from parse_held()

    def read_rest(after: _Direct) -> Iterator[pl.DataFrame]:
        # The rest of a plain file, read by the scanner (its own sums leave at the end).
        nonlocal sums
        sums = sums or native.Sums()
        for rest in _read_direct(run.inp, after, sums, run.stats, on_bytes):
            yield from hold(rest)

    def parse_held() -> Iterator[pl.DataFrame]:
        nonlocal held, n_held, waiting
        entries, held, n_held = held, [], 0
        while entries:
            first = entries[0][1]
            assert reduce_by is not None
            assert first.fmt is not None
            size = 1
            while size < len(entries) and entries[size][1].fmt == first.fmt:
                size += 1
            group, entries = entries[:size], entries[size:]
            # One part per file, in order (a file's held lines are together).
            parts: list[tuple[pl.DataFrame, _FileRun]] = []
            for frame, owner in group:
                if parts and parts[-1][1] is owner:
                    parts[-1] = (pl.concat([parts[-1][0], frame]), owner)
                else:
                    parts.append((frame, owner))
            rows, kept_out = parse_counted_files(
                [(frame, owner.stats) for frame, owner in parts],
                first.fmt,
                columns,
                options,
                first.state,
                counter,
                rejects,
            )
            for (_, owner), kept in zip(parts, kept_out, strict=True):
                counted(kept, owner)
            if rows.height:
                yield from emit(partials(rows.lazy(), reduce_by).collect())
        done, waiting = waiting, []
        for owner in done:
            ended(owner)

    def deferred(run: _FileRun) -> bool:
        # Whether a small file's leftovers and end check may wait for later files'.
        return (
            reduce_by is not None
            and max_bad_lines is None
            and run.fmt is not None
            and not run.fmt.header_driven
            and n_held < _REST_LINES
        )

    def helper(wait_ms: int) -> int:
        # For the reader's thread: the sums it may help with are made here on
        # the first batch.
        now = sums
        if now is None:
            time.sleep(wait_ms / 1000)
            return 0
        return now.help(wait_ms)

    # Files dealt to two readers when there are several with little to inflate,
    # taken in turns in the files' order (see _in_turns); else one reader.
    readers = 2 if _in_turns(inputs) else 1
    streams = [
        _every_batch(inputs[k::readers], on_bytes, faults, fmt, options, direct)
        for k in range(readers)
    ]
    batches = prefetch_turns(
        streams,
        lambda item: item.batch is None,
        helper=helper if reduce_by is not None else None,
    )
    while True:
        try:
            item = next(batches)
        except StopIteration:
            break
        except Exception:
            # A later file's error waits for the check of the files before it.
            for _ in parse_held():
                pass
            raise
        inp, batch = item.inp, item.batch
        if item.starts:
            stats = FileStats(inp.name, inp.size, format=fmt.name if fmt else "")
            counter.files.append(stats)
            run = _FileRun(inp, stats, fmt, ParseState())
        stats = run.stats
        if batch is None:  # the file's end
            for fault in faults:
                if fault.source == inp.name:
                    stats.fault = f"{fault.problem} after line {fault.line_no}"
            waiting.append(run)
            if not deferred(run):
                yield from parse_held()
            continue
        lines = item.lines
        if run.fmt is None:
            found = item.found or format_for(
                AUTO, batch.to_frame(), source=inp.name, options=options
            )
            run.fmt, stats.format = found.format, found.format.name
            stats.format_match_rate = found.rate
        if held and held[-1][1].fmt != run.fmt:
            yield from parse_held()  # one format per parse
        file_fmt = run.fmt
        kind = native.kind_for(file_fmt, columns, options)
        fast: pl.DataFrame | None = None
        if item.direct is not None and not batch.data:
            yield from read_rest(item.direct)  # the scanner reads the whole file
            continue
        if kind is not None and reduce_by is not None:
            # Summed per client as they are read (the sums leave at the end);
            # the rest go through the general parser, which counts and rejects
            # them as ever.
            sums = sums or native.Sums()
            rest, _, accepted = sums.add(batch, kind)
            stats.total += accepted
            stats.parsed += accepted
            yield from hold(rest)
            if item.direct is not None:
                yield from read_rest(item.direct)
            continue
        yield from parse_held()  # rejects are written in the order of the lines
        if kind is not None:
            scanned = native.scan(batch, kind)
            fast, lines = scanned.rows, scanned.rest
            stats.total += fast.height
            stats.parsed += fast.height
        elif lines is None:
            lines = batch.to_frame()
        rows, kept_out = parse_counted(
            lines, file_fmt, columns, options, run.state, stats, counter, rejects
        )
        counted(kept_out, run)
        if reduce_by is not None:
            if rows.height:
                yield from emit(partials(rows.lazy(), reduce_by).collect())
            continue
        if fast is not None:
            # Partials are sums, minima and maxima: the order of rows is free.
            fast = fast.select(rows.columns)
            rows = pl.concat([fast, rows]) if rows.height else fast
        yield rows
    yield from parse_held()
    # Two readers note their faults as they meet them: list them in the files' order.
    where = {inp.name: i for i, inp in reversed(list(enumerate(inputs)))}
    faults.sort(key=lambda fault: where.get(fault.source, len(inputs)))
    if isinstance(sums, native.Sums) and reduce_by is not None:
        order = partials(pl.LazyFrame(schema=S.PARSED_SCHEMA), reduce_by).collect_schema()
        yield sums.partial().select(order.names())


# Two threads read the inputs when they hold less compressed data than this a file.
_TURNS_BELOW = 1 << 20


def _in_turns(inputs: Sequence[InputFile]) -> bool:
    """Whether two threads read the inputs: several files, little to inflate in each.

    A file costs its reader some milliseconds however small (opening it,
    detecting its format): over 200 rotated files of 0.6 MB (gzip) or 4 MB
    (plain, which the scanner reads) one reader was the slower thread, and two
    read them in 2.5 s and 2.0 s instead of 3.3 s and 2.4 s. Larger gzip
    files gained nothing from a second reader (64 of 2 MB, 16 of 8 MB) and two
    of 64 MB lost (1.66 s against 1.55 s), each holding 30-55 MB more: two
    threads inflate beside the summing, where one reader helps sum once ahead.
    """
    sizes = [inp.size for inp in inputs]
    if len(sizes) < 2 or any(size is None for size in sizes):
        return False
    packed = sum(cast(int, inp.size) for inp in inputs if not native.plain_file(inp))
    return packed < _TURNS_BELOW * len(inputs)


# How much of a file one call of the scanner reads (two threads, half each).
# Between calls a report by region looks its new clients up (tally.py): with
# 64 MiB the clients pending meanwhile raised the peak by 40 MB.
_DIRECT_WINDOW = 16 * 1024 * 1024
# How many lines the scanner leaves to Polars before they are parsed. On the
# 20M benchmark log (172,097 lines dated 30 February, which Polars rejects)
# 20,000 at a time raised the peak by 10 MB; 10,000 by 6 MB more than 5,000,
# once the table of clients grew in place, at 0.2 s of that log's 4.
_REST_LINES = 5_000


def _read_direct(
    inp: InputFile,
    direct: _Direct,
    sums: native.Sums | Tally,
    stats: FileStats,
    on_bytes: Callable[[int], None] | None,
) -> Iterator[pl.DataFrame]:
    """The rest of a plain file after its first batch, read by the scanner itself.

    Counts the lines it sums; yields the lines it leaves to the general parser,
    read back from the file a piece at a time: a window can hold a hundred
    thousand of them (the 20M benchmark log has a stretch dated 30 February),
    and held whole they raised the peak by 70 MB.
    """
    assert inp.path is not None
    try:
        fd = os.open(inp.path, os.O_RDONLY)
    except OSError as exc:
        raise InputFileError(inp.name, f"cannot be opened ({exc.strerror})") from None
    offset, line_no, reported = direct.offset, direct.line_no, direct.reported
    try:
        while True:
            try:
                end, spans, lines, accepted = sums.read(fd, offset, _DIRECT_WINDOW, direct.kind)
            except OSError as exc:
                raise _read_failed(inp, line_no, exc) from None
            if end == offset:
                break
            # A window always ends past its start; anything else is a bug that
            # would read the same lines again.
            assert end > offset, (inp.name, offset, end)
            stats.total += accepted
            stats.parsed += accepted
            if on_bytes is not None and end > reported:
                on_bytes(end - reported)
                reported = end
            rests = native.span_lines(fd, spans, inp.name, line_no)
            while True:
                try:
                    rest = next(rests)
                except StopIteration:
                    break
                except OSError as exc:
                    raise _read_failed(inp, line_no, exc) from None
                yield rest
            offset, line_no = end, line_no + lines
    finally:
        os.close(fd)


def _read_failed(inp: InputFile, line_no: int, exc: OSError) -> InputFileError:
    return InputFileError(inp.name, f"read failed after line {line_no - 1} ({exc.strerror})")


def parse_counted(
    lines: pl.DataFrame,
    fmt: LogFormat,
    columns: Collection[str] | None,
    options: ParseOptions | None,
    state: ParseState,
    stats: FileStats,
    counter: LineCounter,
    rejects: RejectWriter,
) -> tuple[pl.DataFrame, int]:
    """Parse one batch, count it, and write its rejects.

    Returns:
        The parsed requests, and how many rejected lines were neither blank nor
        comments (a file all of whose lines are such is in no known format).
    """
    rows, kept_out = parse_counted_files(
        [(lines, stats)], fmt, columns, options, state, counter, rejects
    )
    return rows, kept_out[0]


_FILE = "_file"


def parse_counted_files(
    parts: Sequence[tuple[pl.DataFrame, FileStats]],
    fmt: LogFormat,
    columns: Collection[str] | None,
    options: ParseOptions | None,
    state: ParseState,
    counter: LineCounter,
    rejects: RejectWriter,
) -> tuple[pl.DataFrame, list[int]]:
    """:func:`parse_counted` of lines from one or more files at once, each file counted.

    One parse for the leftovers of many small files: each parse costs some
    milliseconds however few its lines (1.2 s of the benchmark log as 200 gzip
    files). Several files only for a format without per-file state (not W3C).

    Returns:
        The parsed requests of all, and for each part how many of its rejected
        lines were neither blank nor comments.
    """
    assert len(parts) == 1 or not fmt.header_driven, "W3C carries state within a file"
    lines = parts[0][0] if len(parts) == 1 else pl.concat([p for p, _ in parts])
    frame = parse_lines(lines.lazy(), fmt, columns=columns, options=options, state=state).collect()
    if len(parts) == 1:
        which = np.zeros(frame.height, np.int64)
    else:
        # One row per line, in order: each file's rows are where its lines were.
        assert frame.height == lines.height, (frame.height, lines.height)
        which = np.repeat(np.arange(len(parts)), [p.height for p, _ in parts])
    frame = frame.with_columns(pl.Series(_FILE, which))
    rows = split_parsed(frame.lazy()).rows.collect()
    bad = frame.filter(pl.col(S.REASON).is_not_null()).select(
        _FILE, S.SOURCE, S.LINE_NO, S.REASON, S.LINE
    )
    n = len(parts)
    totals = np.bincount(which, minlength=n)
    parsed = np.bincount(rows[_FILE].to_numpy(), minlength=n)
    rejected = np.bincount(bad[_FILE].to_numpy(), minlength=n)
    kept = bad.filter(~pl.col(S.REASON).is_in([REASON_BLANK, REASON_COMMENT]))
    kept_out = np.bincount(kept[_FILE].to_numpy(), minlength=n)
    firsts = dict(
        bad.group_by(_FILE, maintain_order=True).agg(pl.col(S.LINE_NO).first()).iter_rows()
    )
    for k, (_, stats) in enumerate(parts):
        stats.total += int(totals[k])
        stats.parsed += int(parsed[k])
        stats.rejected += int(rejected[k])
        if stats.first_reject is None and k in firsts:
            stats.first_reject = int(firsts[k])
    if bad.height:
        for reason, count in bad.group_by(S.REASON).len().iter_rows():
            counter.reasons[reason] = counter.reasons.get(reason, 0) + count
        rejects.write(bad.drop(_FILE))
    return rows.drop(_FILE), [int(k) for k in kept_out]


@dataclass(frozen=True)
class _Direct:
    """The rest of a plain file is the scanner's to read, from ``offset`` on."""

    kind: int
    offset: int  # where the first batch ended
    line_no: int  # the number of the line that starts there
    reported: int  # how far the reader has reported progress through the file


@dataclass(frozen=True)
class _Item:
    """What the reader thread hands on: a batch, or (``batch`` None) an input's end."""

    inp: InputFile
    batch: LineBatch | None
    starts: bool
    found: Detection | None = None  # the format, detected from the first batch
    lines: pl.DataFrame | None = None  # the batch as lines, when detection made them
    direct: _Direct | None = None


# Enough of a file's start to hold the lines format detection samples.
_HEAD_BYTES = 256 * 1024


def _direct_head(
    inp: InputFile,
    fmt: LogFormat | None,
    options: ParseOptions | None,
    direct: Callable[[InputFile, LogFormat], int | None],
) -> _Item | None:
    """The first item of a plain file the scanner can read from its first byte.

    Detection reads only the file's start: its sample is the first
    ``SAMPLE_LINES`` data lines, the same lines the first batch would give
    whenever the start holds that many. Otherwise (or for a file the scanner
    cannot read) None, or an item carrying only the detection, and the reader
    takes the usual path.
    """
    if not native.plain_file(inp):
        return None
    assert inp.path is not None
    found = None
    if fmt is None:
        try:
            with inp.path.open("rb") as f:
                data = f.read(_HEAD_BYTES)
        except OSError:
            return None  # the usual path reports it
        found = _detected_from_start(inp.name, data, options)
        if found is None:
            return None
    kind = direct(inp, found.format if found else cast(LogFormat, fmt))
    empty = LineBatch(inp.name, 1, b"")
    after = _Direct(kind, 0, 1, 0) if kind is not None else None
    return _Item(inp, empty, True, found, None, after)


def _detect(
    inp: InputFile, batch: LineBatch, options: ParseOptions | None
) -> tuple[Detection, pl.DataFrame | None]:
    """A file's format from its first batch, and the batch as lines if they were made.

    Detection samples the first ``SAMPLE_LINES`` data lines, so the batch's
    start is enough when it holds that many: splitting the whole first batch
    into lines took more time than inflating a small rotated log.
    """
    head, size = [], 0
    for piece in batch.pieces:
        head.append(bytes(piece[: _HEAD_BYTES - size]))
        size += len(head[-1])
        if size >= _HEAD_BYTES:
            break
    start = b"".join(head)
    if size < sum(map(len, batch.pieces)):
        found = _detected_from_start(inp.name, start, options)
        if found is not None:
            return found, None
    lines = batch.to_frame()
    return format_for(AUTO, lines, source=inp.name, options=options), lines


def _detected_from_start(name: str, start: bytes, options: ParseOptions | None) -> Detection | None:
    """A file's format from its first bytes, if they hold the lines detection samples.

    None otherwise, or when nothing fits: the whole first batch decides then,
    and an error says why from it, as ever.
    """
    start = start[: start.rfind(b"\n") + 1]
    if not start:
        return None
    try:
        found = format_for(AUTO, LineBatch(name, 1, start).to_frame(), source=name, options=options)
    except FormatDetectionError:
        return None
    return found if found.sampled >= SAMPLE_LINES else None


def _every_batch(
    inputs: Sequence[InputFile],
    on_bytes: Callable[[int], None] | None,
    faults: list[ReadFault],
    fmt: LogFormat | None = None,
    options: ParseOptions | None = None,
    direct: Callable[[InputFile, LogFormat], int | None] | None = None,
) -> Iterator[_Item]:
    """Every batch of every input, then an item with no batch at each input's end.

    One reader thread runs over all the inputs: one per file left the parser
    waiting at each file's start for its first batch (0.7 s over 200 rotated
    logs). The end follows the last batch, so a file's read faults are known
    when it is reached. With ``fmt`` None the reader detects each file's format
    from its first batch. When ``direct`` gives a scanner kind for the file,
    the reader stops after the first batch and leaves the rest of the file to
    the scanner, which reads it on both cores without passing through Python.
    """
    for inp in inputs:
        head = _direct_head(inp, fmt, options, direct) if direct is not None else None
        if head is not None and head.direct is not None:
            yield head
            yield _Item(inp, None, False)
            continue
        reported = 0

        def report(n: int) -> None:
            nonlocal reported
            reported += n
            if on_bytes is not None:
                on_bytes(n)

        starts = True
        batches = iter_batches(inp, on_bytes=report, faults=faults)
        for batch in batches:
            if not starts:
                yield _Item(inp, batch, starts)
                continue
            starts = False
            found = head.found if head is not None else None
            lines = None
            if fmt is None and found is None:
                found, lines = _detect(inp, batch, options)
            kind = direct(inp, found.format if found else cast(LogFormat, fmt)) if direct else None
            if kind is None:
                yield _Item(inp, batch, True, found, lines)
                continue
            after = _Direct(
                kind, len(batch.data), batch.first_line_no + count_lines(batch.data), reported
            )
            yield _Item(inp, batch, True, found, lines, after)
            batches.close()  # the scanner reads on from here
            break
        yield _Item(inp, None, starts)


def _meta(
    *,
    counter: LineCounter,
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
    sources: AnonymizerSources | None = None,
) -> dict[str, Any]:
    from loganalyzer._version import version

    return {
        "tool": {"name": "loganalyzer", "version": version()},
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
        "sources": [i.as_dict() for i in sources.infos] if sources else [],
        "anonymizers": anonymizer_note(sources),
        **({"anonymizer_settings": anonymizer_settings(sources)} if sources else {}),
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


@dataclass(frozen=True)
class ScanPlan:
    """What every batch goes through before the merge: the map side of a report.

    It holds only picklable values, so the same plan runs on a cluster worker
    (see :mod:`loganalyzer.analysis.cluster`) exactly as it runs here.
    """

    fmt: LogFormat | None  # None: detected per file
    grouping: Grouping
    row_filters: tuple[Filter, ...]
    since: datetime | None
    until: datetime | None
    columns: frozenset[str]
    options: ParseOptions = field(default_factory=ParseOptions)

    @classmethod
    def make(
        cls,
        fmt: LogFormat | None,
        grouping: Grouping,
        row_filters: Sequence[Filter],
        since: datetime | None,
        until: datetime | None,
        options: ParseOptions | None = None,
    ) -> ScanPlan:
        """Plan a scan; parse only what the report uses (lines are accepted the same)."""
        columns = {S.CLIENT, S.TS, S.STATUS, S.BYTES}
        columns |= {k for k in grouping.row_keys if k in S.PARSED_SCHEMA}
        columns |= {f.column for f in row_filters if f.column in S.PARSED_SCHEMA}
        return cls(
            fmt,
            grouping,
            tuple(row_filters),
            since,
            until,
            frozenset(columns),
            options or ParseOptions(),
        )

    @property
    def part_keys(self) -> list[str]:
        """The columns that identify a partial."""
        return [S.CLIENT, *self.grouping.row_keys]


def reduce_batches(batches: Iterable[pl.DataFrame], plan: ScanPlan) -> pl.DataFrame:
    """Reduce parsed batches to one merged partial (per client and row keys).

    Partials from any split of the input merge exactly, which is what lets
    files be reduced separately, here or on a cluster, and merged afterwards.
    """
    return reduce_batches_by(batches, [plan])[0]


def reduce_batches_by(
    batches: Iterable[pl.DataFrame], plans: Sequence[ScanPlan], *, reduced: bool = False
) -> list[pl.DataFrame]:
    """Reduce each parsed batch once per plan: one read, one merged partial per plan.

    A briefing needs partials per (client, hour), per (client, path) and per
    (client, user agent); one key set holding all three would multiply their
    distinct values together, so each plan keeps its own partials while the
    logs are read, parsed and filtered once.

    With ``reduced`` the batches are partials already (see ``reduce_by`` in
    ``_parsed_batches``): one plan without filters, merged as they come.
    """
    conds = [
        (_time_filter(plan.since, plan.until), combine(list(plan.row_filters))) for plan in plans
    ]
    parts: list[list[pl.DataFrame]] = [[] for _ in plans]
    held = [0] * len(plans)
    base = [0] * len(plans)
    for rows in batches:
        for i, (plan, (time_cond, row_cond)) in enumerate(zip(plans, conds, strict=True)):
            lf = rows.lazy()
            if time_cond is not None:
                lf = lf.filter(time_cond)
            if row_cond is not None:
                lf = lf.filter(row_cond)
            part = rows if reduced else partials(lf, plan.grouping).collect()
            parts[i].append(part)
            held[i] += part.height
            if held[i] > max(_COMPACT_ROWS, 2 * base[i]) and len(parts[i]) > 1:
                parts[i] = [merge_partials(parts[i], plan.part_keys).collect()]
                held[i] = base[i] = parts[i][0].height
    out = []
    for plan, mine in zip(plans, parts, strict=True):
        if not mine:
            out.append(partials(pl.LazyFrame(schema=S.PARSED_SCHEMA), plan.grouping).collect())
        else:
            out.append(merge_partials(mine, plan.part_keys).collect())
    return out


def geo_fields(
    plan: ScanPlan, filters: Sequence[Filter], sources: AnonymizerSources | None = None
) -> set[str]:
    """The enrichment columns a report needs (keys, filters, and the ASN list's ASN)."""
    wanted = {k for k in plan.grouping.geo_keys if k in S.GEO_SCHEMA}
    wanted |= {f.column for f in filters if not f.on_rows and f.column in S.GEO_SCHEMA}
    if sources and sources.needs_asn:
        wanted |= {S.ASN, S.AS_ORG}
    return wanted - {S.CLIENT}


def finish_analysis(
    merged: pl.DataFrame,
    *,
    counter: LineCounter,
    faults: Sequence[ReadFault],
    plan: ScanPlan,
    filters: Sequence[Filter],
    dbs: GeoDatabases | None,
    lang: str = "en",
    watch: Sequence[str] = (),
    top_n: int | None = None,
    table: pl.DataFrame | None = None,
    sources: AnonymizerSources | None = None,
) -> Analysis:
    """The reduce side: enrich the merged partials, group, watch, and describe.

    Args:
        merged: the merged partials of every input.
        counter: line counts of every input.
        faults: inputs that broke part-way.
        plan: the scan's plan (grouping, time window, row filters).
        filters: every filter (those on enrichment columns apply here).
        dbs: the databases (only their descriptions when ``table`` is given).
        lang: language of place names.
        watch: codes always shown and marked.
        top_n: keep the first N rows.
        table: the clients' lookup table when already made (a cluster's
            workers look up their own clients); looked up here otherwise.
        sources: anonymizer sources; the verdict is made here, from the merged
            partials, so each client's first and last request are global.
    """
    if table is None:
        assert dbs is not None
        fields = geo_fields(plan, filters, sources)
        table = lookup(merged[S.CLIENT], dbs, fields=fields, lang=lang)
    table = _judged_table(table, merged, filters, sources)
    return _described(
        _summarized(merged, table, plan.grouping),
        counter=counter,
        faults=faults,
        plan=plan,
        filters=filters,
        dbs=dbs,
        watch=watch,
        top_n=top_n,
        sources=sources,
    )


def _judged_table(
    table: pl.DataFrame,
    merged: pl.DataFrame,
    filters: Sequence[Filter],
    sources: AnonymizerSources | None,
) -> pl.DataFrame:
    """The lookup table with the anonymizer verdicts, filtered on enrichment columns."""
    if sources:
        table = _classify_clients(table, merged, sources)
    geo_cond = combine([f for f in filters if not f.on_rows])
    if geo_cond is not None:
        table = table.filter(geo_cond)
    return table


def _summarized(merged: pl.DataFrame, table: pl.DataFrame, grouping: Grouping) -> pl.DataFrame:
    """Group enriched partials by the report's keys.

    ``merged`` may carry more row keys than the grouping (per hour when the
    view is per region): the grouping sums over them, and distinct clients stay
    exact because each partial row belongs to one client.
    """
    enriched = merged.lazy().join(table.lazy(), on=S.CLIENT, how="inner")
    return summarize(enriched, grouping)


def _described(
    rows_out: pl.DataFrame,
    *,
    counter: LineCounter,
    faults: Sequence[ReadFault],
    plan: ScanPlan,
    filters: Sequence[Filter],
    dbs: GeoDatabases | None,
    watch: Sequence[str],
    top_n: int | None,
    sources: AnonymizerSources | None,
) -> Analysis:
    """Mark watched rows, keep the top, and describe the report's rows."""
    grouping = plan.grouping
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
        since=plan.since,
        until=plan.until,
        matched=matched,
        first=first if isinstance(first, datetime) else None,
        last=last if isinstance(last, datetime) else None,
        watch=watch,
        top_n=top_n,
        rows_total=rows_total,
        sources=sources,
    )
    if sources:
        meta["warnings"] = stale_sources(sources, _as_datetime(first), _as_datetime(last))
    return Analysis(rows=rows_out, meta=meta, faults=tuple(faults))


def prepare(
    paths: Sequence[str | Path],
    log_format: str | LogFormat,
    by: Sequence[str],
    where: Sequence[str | Filter],
    since: datetime | None,
    until: datetime | None,
    dbs: GeoDatabases | None,
    city_db: str | Path | None,
    asn_db: str | Path | None,
    geoip_dir: str | Path | None,
    sources: AnonymizerSources | None,
    parse_options: ParseOptions | None = None,
) -> tuple[list[InputFile], ScanPlan, list[Filter], GeoDatabases]:
    """Check a report's arguments and plan it, before any log is read.

    Shared by :func:`analyze` and the cluster backend so that both refuse the
    same things with the same messages.
    """
    fmt = None if log_format == AUTO else get_format(log_format)
    inputs = expand_inputs(paths)
    grouping = resolve_grouping(by)
    filters = [f if isinstance(f, Filter) else parse_filter(f) for f in where]
    row_filters = [f for f in filters if f.on_rows]
    geo_filters = [f for f in filters if not f.on_rows]
    anon_filters = [f for f in geo_filters if f.column in S.ANON_KEY_COLUMNS]
    geo_filters = [f for f in geo_filters if f.column not in S.ANON_KEY_COLUMNS]
    needs_geo = grouping.needs_geo or any(f.column != S.CLIENT_IP for f in geo_filters)
    if (grouping.needs_anonymizers or anon_filters) and not sources:
        raise UsageError(
            "anonymizer columns need sources: --anon-db, --tor-exits, --ip-list, "
            "--cloud-ranges, --asn-list or --sources-dir"
        )
    if dbs is None:
        dbs = GeoDatabases.open(city=city_db, asn=asn_db, geoip_dir=geoip_dir)
    if needs_geo and dbs.city is None and dbs.asn is None:
        dbs.require_city()
    if sources and sources.needs_asn and dbs.asn is None:
        raise SourceError(None, "--asn-list needs an ASN database: pass --asn-db FILE")
    plan = ScanPlan.make(fmt, grouping, row_filters, _utc(since), _utc(until), parse_options)
    return list(inputs), plan, filters, dbs


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
    sources: AnonymizerSources | None = None,
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
        sources: anonymizer sources (Tor, VPN, proxy, hosting, relay lists);
            with them, each client gets a verdict and the rows
            ``requests_direct``, ``requests_anonymized``,
            ``unique_ips_anonymized`` and ``requests_<category>``.

    Returns:
        The :class:`Analysis`.

    Raises:
        InputError: unreadable inputs, or a file none of whose lines parse.
        GeoDatabaseError: missing or wrong databases when the report needs them.
        SourceError: an ASN list without an ASN database.
        UsageError: bad ``by`` or ``where``, or grouping by anonymizer without sources.

    Example:
        >>> s = sample_paths()
        >>> a = analyze([s.log], city_db=s.city_db, asn_db=s.asn_db, watch=["CN-LN"])
        >>> a.rows.filter(a.rows["watched"])["region_iso"].to_list()
        ['CN-LN']
    """
    inputs, plan, filters, dbs = prepare(
        paths,
        log_format,
        by,
        where,
        since,
        until,
        dbs,
        city_db,
        asn_db,
        geoip_dir,
        sources,
        parse_options,
    )
    counter = LineCounter()
    faults: list[ReadFault] = []
    # A report keyed by client alone, unfiltered, is summed per client as the
    # lines are read (the native scanner's reduce): no frame of every request.
    by_client = not plan.grouping.row_keys and not plan.row_filters
    by_client = by_client and plan.since is None and plan.until is None
    totals: Tally | None = None
    if by_client and can_tally(plan.grouping, sources):
        # Summed per row as they are read, each client looked up (and judged) once.
        geo_cond = combine([f for f in filters if not f.on_rows])
        fields = geo_fields(plan, filters, sources)
        totals = Tally(plan.grouping, dbs, fields, lang, geo_cond, sources)
    batches = _parsed_batches(
        inputs,
        plan.fmt,
        counter,
        faults,
        RejectWriter(rejects),
        on_bytes,
        max_bad_lines,
        plan.columns,
        plan.options,
        reduce_by=plan.grouping if by_client else None,
        tally=totals,
    )
    if totals is not None:
        for _ in batches:
            pass  # nothing is yielded: everything is summed into totals
        return _described(
            summarize_groups(totals.rows(), plan.grouping),
            counter=counter,
            faults=faults,
            plan=plan,
            filters=filters,
            dbs=dbs,
            watch=watch,
            top_n=top_n,
            sources=sources,
        )
    # Parsing runs a batch ahead on its own thread while this one reduces the
    # last: Polars releases the GIL, and each stage's Python leaves a core idle.
    merged = reduce_batches_by(prefetch(batches), [plan], reduced=by_client)[0]
    return finish_analysis(
        merged,
        counter=counter,
        faults=faults,
        plan=plan,
        filters=filters,
        dbs=dbs,
        lang=lang,
        watch=watch,
        top_n=top_n,
        sources=sources,
    )


@dataclass(frozen=True)
class View:
    """One report of :func:`analyze_views`: what :func:`analyze` would be given.

    Attributes:
        by: grouping names or columns (``region``, ``asn``, ``path``, ``hour``...).
        watch: country or subdivision codes always shown and marked.
        top_n: keep the first N rows (watched rows are always kept).
    """

    by: tuple[str, ...]
    watch: tuple[str, ...] = ()
    top_n: int | None = None


def analyze_views(
    paths: Sequence[str | Path],
    views: Mapping[str, View],
    *,
    log_format: str | LogFormat = AUTO,
    parse_options: ParseOptions | None = None,
    where: Sequence[str | Filter] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    city_db: str | Path | None = None,
    asn_db: str | Path | None = None,
    geoip_dir: str | Path | None = None,
    dbs: GeoDatabases | None = None,
    lang: str = "en",
    rejects: IO[str] | None = None,
    max_bad_lines: int | None = None,
    on_bytes: Callable[[int], None] | None = None,
    sources: AnonymizerSources | None = None,
) -> dict[str, Analysis]:
    """Several reports from one read of the logs, each equal to its own :func:`analyze`.

    Views whose row keys (``hour``, ``path``, ``user_agent``...) one partial
    already holds are summarised from it: per-region rows come from the
    per-(client, hour) partials, and distinct clients stay exact because every
    partial row belongs to one client. Each other set of row keys gets its own
    partials, reduced from the same parsed batches (see :func:`reduce_batches_by`).
    Clients are looked up once per set of enrichment fields a view asks for, as
    :func:`analyze` would look them up, so even ``geo_status`` is the same.

    Args:
        paths: log files, globs, or ``-`` for stdin (read once).
        views: a name for each report and its :class:`View`.
        log_format: as for :func:`analyze`.
        parse_options: as for :func:`analyze`.
        where: as for :func:`analyze`, applied to every view.
        since: as for :func:`analyze`.
        until: as for :func:`analyze`.
        city_db: as for :func:`analyze`.
        asn_db: as for :func:`analyze`.
        geoip_dir: as for :func:`analyze`.
        dbs: as for :func:`analyze`.
        lang: as for :func:`analyze`.
        rejects: receives each rejected line once.
        max_bad_lines: as for :func:`analyze`.
        on_bytes: as for :func:`analyze`.
        sources: as for :func:`analyze`.

    Returns:
        ``{name: Analysis}`` in the order of ``views``.

    Raises:
        UsageError: no views, or a bad ``by`` or ``where``.
        InputError: as for :func:`analyze`.
        GeoDatabaseError: as for :func:`analyze`.

    Example:
        >>> s = sample_paths()
        >>> got = analyze_views([s.log], {"regions": View(("region",)), "hours": View(("hour",))},
        ...                     city_db=s.city_db, asn_db=s.asn_db)
        >>> got["regions"].rows.equals(analyze([s.log], city_db=s.city_db, asn_db=s.asn_db).rows)
        True
    """
    if not views:
        raise UsageError("analyze_views needs at least one view")
    names = [n for v in views.values() for n in v.by or ("region",)]
    inputs, base, filters, dbs = prepare(
        paths,
        log_format,
        names,
        where,
        since,
        until,
        dbs,
        city_db,
        asn_db,
        geoip_dir,
        sources,
        parse_options,
    )
    row_filters = [f for f in filters if f.on_rows]
    plans = {
        name: ScanPlan.make(
            base.fmt,
            resolve_grouping(v.by or ("region",)),
            row_filters,
            base.since,
            base.until,
            base.options,
        )
        for name, v in views.items()
    }
    # One partial per set of row keys that no other set contains.
    scans: list[ScanPlan] = []
    for plan in sorted(plans.values(), key=lambda p: -len(p.grouping.row_keys)):
        keys = set(plan.grouping.row_keys)
        if not any(keys <= set(s.grouping.row_keys) for s in scans):
            scans.append(plan)
    counter = LineCounter()
    faults: list[ReadFault] = []
    batches = _parsed_batches(
        inputs,
        base.fmt,
        counter,
        faults,
        RejectWriter(rejects),
        on_bytes,
        max_bad_lines,
        frozenset().union(*(s.columns for s in scans)),
        base.options,
    )
    merged_by_scan = reduce_batches_by(prefetch(batches), scans)  # as in analyze
    tables: dict[frozenset[str], pl.DataFrame] = {}
    out: dict[str, Analysis] = {}
    for name, view in views.items():
        plan = plans[name]
        keys = set(plan.grouping.row_keys)
        merged = min(
            (
                m
                for m, s in zip(merged_by_scan, scans, strict=True)
                if keys <= set(s.grouping.row_keys)
            ),
            key=lambda m: m.height,
        )
        fields = frozenset(geo_fields(plan, filters, sources))
        if fields not in tables:
            # Looked up with this view's fields only: a client found in the ASN
            # database alone is "ok" for a network view and "not_found" for a
            # province view, exactly as two analyze() calls would say.
            table = lookup(merged[S.CLIENT], dbs, fields=fields, lang=lang)
            tables[fields] = _judged_table(table, merged, filters, sources)
        out[name] = _described(
            _summarized(merged, tables[fields], plan.grouping),
            counter=counter,
            faults=faults,
            plan=plan,
            filters=filters,
            dbs=dbs,
            watch=view.watch,
            top_n=view.top_n,
            sources=sources,
        )
    return out


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


def _as_datetime(value: object) -> datetime | None:
    """A datetime from a report column's min/max (None for an empty report)."""
    return value if isinstance(value, datetime) else None


def _classify_clients(
    table: pl.DataFrame, merged: pl.DataFrame, sources: AnonymizerSources
) -> pl.DataFrame:
    """Add the anonymizer verdict to the lookup table, one row per client.

    Each client's first and last request decide whether a time-windowed source
    (TorDNSEL) applies: an exit measured outside that span is not this client's.
    """
    seen = merged.group_by(S.CLIENT).agg(pl.col(S.FIRST_SEEN).min(), pl.col(S.LAST_SEEN).max())
    with_times = table.join(seen, on=S.CLIENT, how="left", maintain_order="left")
    return classify(with_times, sources).drop(S.FIRST_SEEN, S.LAST_SEEN)


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
    inputs = expand_inputs(paths)
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


def enrich_meta(
    counter: LineCounter,
    faults: Sequence[ReadFault],
    dbs: GeoDatabases,
    matched: int,
    sources: AnonymizerSources | None = None,
) -> dict[str, Any]:
    """The ``meta`` object of an enrich run."""
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
        "sources": [i.as_dict() for i in sources.infos] if sources else [],
        "anonymizers": anonymizer_note(sources),
        **({"anonymizer_settings": anonymizer_settings(sources)} if sources else {}),
        "faults": [f"{f.source}: {f.problem} after line {f.line_no}" for f in faults],
        "_faults": list(faults),
    }


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
    "View",
    "analyze",
    "analyze_views",
    "enrich_logs",
    "raise_for_faults",
    "sample_paths",
]
