"""Parsed batches: every input read, parsed and counted, as requests or as partials.

:func:`_parsed_batches` is the stream every report, comparison and ``enrich``
run consumes. The reader threads (:mod:`loganalyzer.analysis.reading`) hand it
each file's batches, the format detected per file when none is given. For a
report summed per client, the native scanner sums the lines it can as they are
read, and the lines it leaves are held and parsed some thousands at a time,
small files in the same format together; otherwise each batch is parsed on its
own. Every line is counted per file, and every reject is written in the order
of the lines (:mod:`loganalyzer.analysis.counts`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass

import polars as pl

from loganalyzer import schema as S
from loganalyzer.analysis.aggregate import Grouping, partials
from loganalyzer.analysis.counts import (
    FileStats,
    LineCounter,
    RejectWriter,
    parse_counted,
    parse_counted_files,
)
from loganalyzer.analysis.reading import _Direct, _every_batch, _in_turns, _Item, _read_direct
from loganalyzer.analysis.tally import Tally
from loganalyzer.errors import TooManyBadLinesError
from loganalyzer.ingest import native
from loganalyzer.ingest.detect import format_for
from loganalyzer.ingest.formats import LogFormat
from loganalyzer.ingest.parse import ParseOptions, ParseState
from loganalyzer.ingest.prefetch import prefetch_turns
from loganalyzer.ingest.presets import AUTO
from loganalyzer.ingest.read import InputFile, LineBatch, ReadFault

# How many lines the scanner leaves to Polars before they are parsed. On the
# 20M benchmark log (172,097 lines dated 30 February, which Polars rejects)
# 20,000 at a time raised the peak by 10 MB; 10,000 by 6 MB more than 5,000,
# once the table of clients grew in place, at 0.2 s of that log's 4.
_REST_LINES = 5_000


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
    parser = _BatchParser(
        inputs,
        fmt,
        counter,
        faults,
        rejects,
        on_bytes,
        max_bad_lines,
        columns,
        options,
        reduce_by,
        tally,
    )
    yield from parser.batches()


class _BatchParser:
    """One pass of :func:`_parsed_batches`: its arguments and what it keeps between batches.

    Each step of an item from the readers is a method: a file's start
    (:meth:`start`), its format (:meth:`detect`), a batch summed by the scanner
    (:meth:`sum_batch`) or parsed here (:meth:`parse_batch`), the rest of a
    plain file read by the scanner (:meth:`read_rest`), and a file's end
    (:meth:`end`). Lines the scanner leaves are held (:meth:`hold`) and parsed
    together (:meth:`parse_held`).
    """

    def __init__(
        self,
        inputs: Sequence[InputFile],
        fmt: LogFormat | None,
        counter: LineCounter,
        faults: list[ReadFault],
        rejects: RejectWriter,
        on_bytes: Callable[[int], None] | None,
        max_bad_lines: int | None,
        columns: Collection[str] | None,
        options: ParseOptions | None,
        reduce_by: Grouping | None,
        tally: Tally | None,
    ) -> None:
        self.inputs = inputs
        self.fmt = fmt
        self.counter = counter
        self.faults = faults
        self.rejects = rejects
        self.on_bytes = on_bytes
        self.max_bad_lines = max_bad_lines
        self.columns = columns
        self.options = options
        self.reduce_by = reduce_by
        self.tally = tally
        self.run = _FileRun(InputFile("", None, None), FileStats("", 0), fmt, ParseState())
        self.sums: native.Sums | Tally | None = tally
        # Lines the scanner left (in a file's batches, or in its windows when it
        # reads the file itself), parsed some thousands at a time: each parse has a
        # fixed cost of some milliseconds (0.2 s over the 50 batches of the gzipped
        # benchmark log), while the scanner's threads wait. A file's end parses
        # them unless the file was small: then they wait for the next files' in
        # the same format (200 gzip files took 1.2 s more, parsed one by one), and
        # so does the file's end check. Not with --max-bad-lines, whose message
        # counts the lines read so far.
        self.held: list[tuple[pl.DataFrame, _FileRun]] = []
        self.n_held = 0
        self.waiting: list[_FileRun] = []  # files read whose end check waits for held lines

    def batches(self) -> Iterator[pl.DataFrame]:
        """What :func:`_parsed_batches` yields: every input's requests or partials, in order."""
        # Files dealt to two readers when there are several with little to inflate,
        # taken in turns in the files' order (see _in_turns); else one reader.
        readers = 2 if _in_turns(self.inputs) else 1
        streams = [
            _every_batch(
                self.inputs[k::readers],
                self.on_bytes,
                self.faults,
                self.fmt,
                self.options,
                self.direct,
            )
            for k in range(readers)
        ]
        items = prefetch_turns(
            streams,
            lambda item: item.batch is None,
            helper=self.helper if self.reduce_by is not None else None,
        )
        while True:
            try:
                item = next(items)
            except StopIteration:
                break
            except Exception:
                # A later file's error waits for the check of the files before it.
                for _ in self.parse_held():
                    pass
                raise
            yield from self.take(item)
        yield from self.parse_held()
        # Two readers note their faults as they meet them: list them in the files' order.
        where = {inp.name: i for i, inp in reversed(list(enumerate(self.inputs)))}
        self.faults.sort(key=lambda fault: where.get(fault.source, len(self.inputs)))
        if isinstance(self.sums, native.Sums) and self.reduce_by is not None:
            order = partials(pl.LazyFrame(schema=S.PARSED_SCHEMA), self.reduce_by).collect_schema()
            yield self.sums.partial().select(order.names())

    def take(self, item: _Item) -> Iterator[pl.DataFrame]:
        """One item from the readers: a batch (a file's first, or a later one), or a file's end."""
        batch = item.batch
        if item.starts:
            self.start(item.inp)
        if item.skipped is not None:
            self.skip(self.run, item.skipped)
            return
        if batch is None:  # the file's end
            yield from self.end(item.inp)
            return
        file_fmt = self.run.fmt
        if file_fmt is None:
            file_fmt = self.detect(item, batch)
        if self.held and self.held[-1][1].fmt != file_fmt:
            yield from self.parse_held()  # one format per parse
        kind = native.kind_for(file_fmt, self.columns, self.options)
        if item.direct is not None and not batch.data:
            yield from self.read_rest(item.direct)  # the scanner reads the whole file
            return
        if kind is not None and self.reduce_by is not None:
            yield from self.sum_batch(item, batch, kind)
            return
        yield from self.parse_batch(batch, file_fmt, kind, item.lines)

    def start(self, inp: InputFile) -> None:
        """A file's first batch: its counts start, in the format given (or not yet known)."""
        stats = FileStats(inp.name, inp.size, format=self.fmt.name if self.fmt else "")
        self.counter.files.append(stats)
        self.run = _FileRun(inp, stats, self.fmt, ParseState())

    def skip(self, run: _FileRun, problem: str) -> None:
        """An input left out whole (``--keep-going``): noted in its counts and as a fault."""
        run.stats.skipped = problem
        self.faults.append(ReadFault(run.inp.name, 0, problem, skipped=True))

    def detect(self, item: _Item, batch: LineBatch) -> LogFormat:
        """The file's format: detected by the reader from the first batch, or here."""
        stats = self.run.stats
        found = item.found or format_for(
            AUTO, batch.to_frame(), source=item.inp.name, options=self.options
        )
        self.run.fmt, stats.format = found.format, found.format.name
        stats.format_match_rate = found.rate
        return found.format

    def sum_batch(self, item: _Item, batch: LineBatch, kind: int) -> Iterator[pl.DataFrame]:
        """A batch summed per client as it is read; the lines the scanner leaves are held."""
        # Summed per client as they are read (the sums leave at the end);
        # the rest go through the general parser, which counts and rejects
        # them as ever.
        stats = self.run.stats
        self.sums = self.sums or native.Sums()
        rest, _, accepted = self.sums.add(batch, kind)
        stats.total += accepted
        stats.parsed += accepted
        yield from self.hold(rest)
        if item.direct is not None:
            yield from self.read_rest(item.direct)

    def parse_batch(
        self, batch: LineBatch, fmt: LogFormat, kind: int | None, lines: pl.DataFrame | None
    ) -> Iterator[pl.DataFrame]:
        """A batch parsed here (its plain lines by the scanner when it can): requests or partials.

        ``lines`` is the batch as lines when the reader made them for detection.
        """
        yield from self.parse_held()  # rejects are written in the order of the lines
        run = self.run
        stats = run.stats
        fast: pl.DataFrame | None = None
        if kind is not None:
            scanned = native.scan(batch, kind)
            fast, lines = scanned.rows, scanned.rest
            stats.total += fast.height
            stats.parsed += fast.height
        elif lines is None:
            lines = batch.to_frame()
        rows, kept_out = parse_counted(
            lines, fmt, self.columns, self.options, run.state, stats, self.counter, self.rejects
        )
        self.counted(kept_out, run)
        if self.reduce_by is not None:
            if rows.height:
                yield from self.emit(partials(rows.lazy(), self.reduce_by).collect())
            return
        if fast is not None:
            # Partials are sums, minima and maxima: the order of rows is free.
            fast = fast.select(rows.columns)
            rows = pl.concat([fast, rows]) if rows.height else fast
        yield rows

    def read_rest(self, after: _Direct) -> Iterator[pl.DataFrame]:
        """The rest of a plain file, read by the scanner (its own sums leave at the end)."""
        self.sums = self.sums or native.Sums()
        for rest in _read_direct(self.run.inp, after, self.sums, self.run.stats, self.on_bytes):
            yield from self.hold(rest)

    def end(self, inp: InputFile) -> Iterator[pl.DataFrame]:
        """A file's end: its read fault noted; its end check made now, or waiting."""
        run = self.run
        for fault in self.faults:
            if fault.source == inp.name:
                run.stats.fault = f"{fault.problem} after line {fault.line_no}"
        self.waiting.append(run)
        if not self.deferred(run):
            yield from self.parse_held()

    def hold(self, rest: pl.DataFrame) -> Iterator[pl.DataFrame]:
        """Hold lines the scanner left; parse all that is held once there are enough."""
        self.held.append((rest, self.run))
        self.n_held += rest.height
        if self.n_held >= _REST_LINES:
            yield from self.parse_held()

    def parse_held(self) -> Iterator[pl.DataFrame]:
        """Parse the held lines, those of files in one format at once; then the end checks."""
        entries, self.held, self.n_held = self.held, [], 0
        while entries:
            first = entries[0][1]
            assert self.reduce_by is not None
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

            def settle(
                k: int, kept: int, parts: list[tuple[pl.DataFrame, _FileRun]] = parts
            ) -> None:
                # In file order, each file's end check right after its rejects: a
                # failing run leaves the same --rejects as with the scanner off.
                owner = parts[k][1]
                self.counted(kept, owner)
                if any(run is owner for run in self.waiting):
                    self.waiting = [run for run in self.waiting if run is not owner]
                    self.ended(owner)

            rows, _ = parse_counted_files(
                [(frame, owner.stats) for frame, owner in parts],
                first.fmt,
                self.columns,
                self.options,
                first.state,
                self.counter,
                self.rejects,
                each=settle,
            )
            if rows.height:
                yield from self.emit(partials(rows.lazy(), self.reduce_by).collect())
        done, self.waiting = self.waiting, []
        for owner in done:
            self.ended(owner)

    def deferred(self, run: _FileRun) -> bool:
        """Whether a small file's leftovers and end check may wait for later files'."""
        return (
            self.reduce_by is not None
            and self.max_bad_lines is None
            and run.fmt is not None
            and not run.fmt.header_driven
            and self.n_held < _REST_LINES
        )

    def counted(self, kept_out: int, run: _FileRun) -> None:
        """Note a file's rejected lines; past ``max_bad_lines`` in all, stop."""
        run.nonblank_rejects += kept_out
        if self.max_bad_lines is not None and self.counter.rejected > self.max_bad_lines:
            raise TooManyBadLinesError(
                self.counter.rejected,
                self.counter.total,
                run.stats.first_reject or 0,
                run.inp.name,
                run.stats.format,
            )

    def ended(self, run: _FileRun) -> None:
        """A file's end check: a file none of whose lines parse is in another format."""
        stats = run.stats
        if stats.parsed == 0 and run.nonblank_rejects > 0:
            if self.options is not None and self.options.skip_bad_files:
                # Its lines stay counted as rejected: the totals still add up.
                self.skip(run, f"none of its {stats.total:,} lines parse as {stats.format}")
                return
            raise TooManyBadLinesError(
                run.nonblank_rejects,
                stats.total,
                stats.first_reject or 0,
                run.inp.name,
                stats.format,
            )

    def emit(self, part: pl.DataFrame) -> Iterator[pl.DataFrame]:
        """A partial: yielded, or with a tally summed into it."""
        if self.tally is None:
            yield part
        else:
            self.tally.merge(part)

    def direct(self, inp: InputFile, found: LogFormat) -> int | None:
        """The scanner's kind for a plain local file it can sum: it reads the file itself."""
        if self.reduce_by is None:
            return None
        kind = native.kind_for(found, self.columns, self.options)
        return kind if kind is not None and native.plain_file(inp) else None

    def helper(self, wait_ms: int) -> int:
        """For the reader's thread: help with the sums, which are made here on the first batch."""
        now = self.sums
        if now is None:
            time.sleep(wait_ms / 1000)
            return 0
        return now.help(wait_ms)
