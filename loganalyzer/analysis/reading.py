"""Reading the inputs: every batch of every file, in order, for the parser to take.

One reader thread goes through the files, or two taking them in turns when
there are several with little to inflate (:func:`_in_turns`); each detects a
file's format from its start when none is given (:func:`_detect`). A plain
local file the native scanner can sum is left to it after its first batch, or
from its first byte (:func:`_direct_head`): the scanner then reads the file
itself a window at a time and hands back only the lines it leaves
(:func:`_read_direct`). :mod:`loganalyzer.analysis.batches` consumes all this.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import cast

import polars as pl

from loganalyzer.analysis.counts import FileStats
from loganalyzer.analysis.tally import Tally
from loganalyzer.errors import InputFileError
from loganalyzer.ingest import native
from loganalyzer.ingest.detect import SAMPLE_LINES, Detection, FormatDetectionError, format_for
from loganalyzer.ingest.formats import LogFormat
from loganalyzer.ingest.parse import ParseOptions
from loganalyzer.ingest.presets import AUTO
from loganalyzer.ingest.read import InputFile, LineBatch, ReadFault, count_lines, iter_batches


@dataclass(frozen=True)
class _Item:
    """What the reader thread hands on: a batch, or (``batch`` None) an input's end."""

    inp: InputFile
    batch: LineBatch | None
    starts: bool
    found: Detection | None = None  # the format, detected from the first batch
    lines: pl.DataFrame | None = None  # the batch as lines, when detection made them
    direct: _Direct | None = None
    skipped: str | None = None  # why the input is left out whole (--keep-going); no end follows


@dataclass(frozen=True)
class _Direct:
    """The rest of a plain file is the scanner's to read, from ``offset`` on."""

    kind: int
    offset: int  # where the first batch ended
    line_no: int  # the number of the line that starts there
    reported: int  # how far the reader has reported progress through the file


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
    skip_bad = options is not None and options.skip_bad_files
    for inp in inputs:
        if inp.problem is not None:
            yield _Item(inp, None, True, skipped=inp.problem)
            continue
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
        skipped: str | None = None
        batches = iter_batches(inp, on_bytes=report, faults=faults)
        for batch in _first_checked(batches, inp, skip_bad):
            if isinstance(batch, str):  # the file cannot be opened: skipped
                skipped = batch
                break
            if not starts:
                yield _Item(inp, batch, starts)
                continue
            starts = False
            found = head.found if head is not None else None
            lines = None
            if fmt is None and found is None:
                try:
                    found, lines = _detect(inp, batch, options)
                except FormatDetectionError as exc:
                    if not skip_bad:
                        raise
                    batches.close()
                    skipped = str(exc).removeprefix(f"{exc.path}: ")
                    break
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
        # A skipped input has no end: nothing of it was handed on.
        yield (
            _Item(inp, None, starts) if skipped is None else _Item(inp, None, True, skipped=skipped)
        )


def _first_checked(
    batches: Iterator[LineBatch], inp: InputFile, skip_bad: bool
) -> Iterator[LineBatch | str]:
    """The batches; with ``skip_bad``, the reason instead when the file cannot be opened.

    Only the first batch opens the file: a failure later is a truncation, which
    the reader records as a fault and which ends the batches by itself.
    """
    try:
        first = next(batches)
    except StopIteration:
        return
    except InputFileError as exc:
        if not skip_bad:
            raise
        yield exc.problem
        return
    yield first
    yield from batches


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


# How much of a file one call of the scanner reads (two threads, half each).
# Between calls a report by region looks its new clients up (tally.py): with
# 64 MiB the clients pending meanwhile raised the peak by 40 MB.
_DIRECT_WINDOW = 16 * 1024 * 1024


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
