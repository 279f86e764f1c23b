"""Reading: paths, globs and stdin to batches of complete lines.

Compression is detected from the first bytes, never from the name: rotated logs
are often renamed, and ``access.log.2.gz`` may well be plain text. Files are read
in large batches that end on a line boundary, on a background thread, so that
inflating the next batch overlaps with Polars parsing this one, and memory stays
bounded by the batch size, not by the file size.
"""

from __future__ import annotations

import bz2
import glob
import lzma
import os
import queue
import sys
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import polars as pl

from loganalyzer import schema as S
from loganalyzer.errors import InputError, InputFileError

Compression = Literal["none", "gzip", "bzip2", "xz", "zstd"]

_MAGIC: tuple[tuple[bytes, Compression], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)

DEFAULT_BATCH_BYTES = 32 * 1024 * 1024
STDIN = "-"


@dataclass(frozen=True)
class InputFile:
    """One input as the user named it.

    Attributes:
        name: the path as given (or ``-`` for standard input); used in reports.
        path: the file, or None for standard input.
        size: bytes on disk (compressed size for compressed files), None for stdin.
    """

    name: str
    path: Path | None
    size: int | None


@dataclass(frozen=True)
class LineBatch:
    """Complete lines from one input, and where they start.

    Attributes:
        source: the input's name.
        first_line_no: the 1-based line number of the first line in ``data``.
        data: the lines, each ending in a newline except perhaps the file's last.
    """

    source: str
    first_line_no: int
    data: bytes

    def to_frame(self) -> pl.DataFrame:
        r"""Split the batch into a frame of ``source``, ``line_no``, ``line``.

        Invalid UTF-8 is kept visible as ``\\xNN`` escapes (the way Apache itself
        escapes non-printable bytes), so no line is lost or rejected for its bytes.
        """
        data = self.data
        # Polars sniffs compression from the first bytes it is given: a batch that
        # happens to start like gzip, zlib or zstd (junk sent by a scanner) would be
        # "decompressed". A leading empty line, dropped below, keeps it plain text.
        guard = data[:1] in (b"\x1f", b"\x28", b"\x78")
        if guard:
            data = b"\n" + data
        try:
            frame = pl.scan_lines(data, name=S.LINE, row_index_name=S.LINE_NO).collect()
        except pl.exceptions.ComputeError:
            text = data.decode("utf-8", "backslashreplace").encode("utf-8")
            frame = pl.scan_lines(text, name=S.LINE, row_index_name=S.LINE_NO).collect()
        if guard:
            frame = frame.slice(1).with_columns(pl.col(S.LINE_NO) - 1)
        return frame.select(
            pl.lit(self.source, pl.String).alias(S.SOURCE),
            (pl.col(S.LINE_NO).cast(pl.Int64) + self.first_line_no),
            pl.col(S.LINE),
        )


def expand_inputs(paths: Sequence[str | Path]) -> list[InputFile]:
    """Expand globs and check that every input exists and is a readable file.

    Args:
        paths: file paths, glob patterns (``logs/access.log*``) or ``-`` for stdin.

    Returns:
        The inputs in the order given; each glob's matches sorted by name.

    Raises:
        InputFileError: for a missing file, a glob matching nothing, or a directory.
    """
    found: list[InputFile] = []
    for raw in paths:
        text = str(raw)
        if text == STDIN:
            found.append(InputFile(STDIN, None, None))
            continue
        if not Path(text).exists() and glob.has_magic(text):
            matches = sorted(glob.glob(text))
            if not matches:
                raise InputFileError(text, "no file matches this pattern")
            names = matches
        else:
            names = [text]
        for name in names:
            path = Path(name)
            if path.is_dir():
                raise InputFileError(name, "is a directory; name its files, e.g. DIR/*.log*")
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                raise InputFileError(name, "no such file") from None
            except OSError as exc:
                raise InputFileError(name, f"cannot be read ({exc.strerror})") from None
            if not os.access(path, os.R_OK):
                raise InputFileError(name, "permission denied")
            found.append(InputFile(name, path, size))
    if not found:
        raise InputError("no input files given")
    return found


def detect_compression(head: bytes) -> Compression:
    """Name the compression of a stream from its first bytes."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return "none"


def _open_raw(inp: InputFile) -> IO[bytes]:
    if inp.path is None:
        return sys.stdin.buffer
    try:
        return inp.path.open("rb")
    except OSError as exc:
        raise InputFileError(inp.name, f"cannot be opened ({exc.strerror})") from None


def open_input(inp: InputFile) -> tuple[IO[bytes], Compression, IO[bytes]]:
    """Open an input, decompressing what needs it.

    Returns:
        The decompressed stream, the compression found, and the raw stream (whose
        position measures progress through the file on disk).
    """
    raw = _open_raw(inp)
    buffered = raw if hasattr(raw, "peek") else open(raw.fileno(), "rb", closefd=False)  # noqa: SIM115
    head = buffered.peek(8)[:8]
    kind = detect_compression(head)
    stream: IO[bytes]
    if kind == "gzip":
        stream = _GzipStream(buffered)  # type: ignore[assignment]
    elif kind == "bzip2":
        stream = bz2.BZ2File(buffered, "rb")
    elif kind == "xz":
        stream = lzma.LZMAFile(buffered, "rb")  # noqa: SIM115 - closed by iter_batches
    elif kind == "zstd":
        import zstandard

        stream = zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True)
    else:
        stream = buffered
    return stream, kind, raw


_BROKEN = (EOFError, OSError, zlib.error, lzma.LZMAError, ValueError)


class _GzipStream:
    """Inflate gzip (all members) with ISA-L, handing out every byte before a break.

    gzip.GzipFile and isal's GzipFile both raise at a truncation without returning
    the data decoded in that last read; here the decoded bytes are returned first
    and the error is raised on the following read.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        from isal import isal_zlib

        self._zlib = isal_zlib
        self._raw = raw
        self._inflater = isal_zlib.decompressobj(wbits=31)
        self._error: BaseException | None = None
        self._done = False
        self._pending = bytearray()

    def read(self, size: int = -1) -> bytes:
        """Return up to ``size`` inflated bytes (all with -1); ``b""`` at the end."""
        limit = size if size >= 0 else 1 << 62
        while len(self._pending) < limit and not self._done:
            self._fill()
        if not self._pending and self._error is not None:
            error, self._error = self._error, None
            raise error
        out = bytes(self._pending[:limit])
        del self._pending[:limit]
        return out

    def _fill(self) -> None:
        piece = self._raw.read(1 << 20)
        if not piece:
            if not self._inflater.eof and self._started:
                self._error = EOFError(
                    "Compressed file ended before the end-of-stream marker was reached"
                )
            self._done = True
            return
        self._started = True
        while piece:
            try:
                self._pending += self._inflater.decompress(piece)
            except Exception as exc:  # isal_zlib.error, untyped
                self._error = zlib.error(str(exc))
                self._done = True
                return
            piece = b""
            if self._inflater.eof:
                rest = self._inflater.unused_data
                if rest.strip(b"\x00"):  # another member follows
                    self._inflater = self._zlib.decompressobj(wbits=31)
                    piece = rest

    _started = False

    def close(self) -> None:
        """Nothing to release: the raw stream is closed by its owner."""


@dataclass
class ReadFault:
    """A stream that broke part-way: what was read before it has been yielded."""

    source: str
    line_no: int
    problem: str


def iter_batches(
    inp: InputFile,
    *,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    on_bytes: Callable[[int], None] | None = None,
    faults: list[ReadFault] | None = None,
) -> Iterator[LineBatch]:
    """Yield one input's lines in batches that end on line boundaries.

    Args:
        inp: the input.
        batch_bytes: roughly how many decompressed bytes a batch holds.
        on_bytes: called with the number of raw (on-disk) bytes consumed since the
            last call, for progress bars.
        faults: where to record a stream that breaks part-way (truncated or
            corrupt compressed data). Without it, the break raises at the end.

    Raises:
        TruncatedInputError: for a broken stream when ``faults`` is None.
    """
    from loganalyzer.errors import TruncatedInputError

    stream, _kind, raw = open_input(inp)
    line_no = 1
    carry = b""
    last_pos = 0
    problem: str | None = None
    try:
        while True:
            try:
                chunk = stream.read(batch_bytes)
            except _BROKEN as exc:
                problem = f"compressed data is truncated or corrupt ({exc})"
                chunk = b""
            if on_bytes is not None and inp.path is not None:
                pos = raw.tell()
                on_bytes(pos - last_pos)
                last_pos = pos
            if not chunk:
                break
            data = carry + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            carry = data[cut + 1 :]
            body = data[: cut + 1]
            yield LineBatch(inp.name, line_no, body)
            line_no += body.count(b"\n")
        if carry:
            yield LineBatch(inp.name, line_no, carry)
            line_no += 1
    finally:
        if stream is not raw:
            stream.close()
        if inp.path is not None:
            raw.close()
    if problem is not None:
        fault = ReadFault(inp.name, line_no - 1, problem)
        if faults is None:
            raise TruncatedInputError(fault.source, fault.line_no, fault.problem)
        faults.append(fault)


def prefetch(batches: Iterator[LineBatch], depth: int = 2) -> Iterator[LineBatch]:
    """Run a batch iterator on a background thread, ``depth`` batches ahead.

    Inflating and reading release the GIL, as does Polars, so the next batch is
    read while the current one is parsed. Exceptions reach the consumer.
    """
    q: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for batch in batches:
                if stop.is_set():
                    return
                q.put(("item", batch))
            q.put(("done", None))
        except BaseException as exc:  # handed to the consumer, which re-raises
            q.put(("error", exc))

    thread = threading.Thread(target=work, name="loganalyzer-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "done":
                return
            if kind == "error":
                assert isinstance(value, BaseException)
                raise value
            assert isinstance(value, LineBatch)
            yield value
    finally:
        stop.set()
        while not q.empty():
            q.get_nowait()


def read_lines(paths: Sequence[str | Path]) -> pl.LazyFrame:
    """Read every line of the inputs into one frame (for notebooks and small logs).

    The pipeline itself streams batches instead; this is the convenient form.

    Args:
        paths: files, globs or ``-``.

    Returns:
        A LazyFrame of ``source``, ``line_no``, ``line``.

    Example:
        >>> from loganalyzer import sample_paths
        >>> read_lines([sample_paths().log]).collect().height > 0
        True
    """
    frames = [batch.to_frame() for inp in expand_inputs(paths) for batch in iter_batches(inp)]
    if not frames:
        return pl.LazyFrame(schema={S.SOURCE: pl.String, S.LINE_NO: pl.Int64, S.LINE: pl.String})
    return pl.concat(frames).lazy()
