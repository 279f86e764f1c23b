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
import io
import lzma
import os
import re
import sys
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Any, Literal, Protocol, cast

import polars as pl

from loganalyzer import schema as S
from loganalyzer.errors import InputError, InputFileError, MissingDependencyError

_native_count_lines: Callable[[bytes | bytearray | memoryview], int] | None
try:
    # bytes.count looked at one byte at a time: a third of reading's CPU.
    from loganalyzer._clf import count_lines as _native_count_lines
except ImportError:  # built without a C compiler (see loganalyzer/ingest/native.py)
    _native_count_lines = None


def native_switched_on() -> bool:
    """Whether native code may run: ``LOGANALYZER_NATIVE=0`` turns all of it off.

    Read at each call: the reference test turns it off and on within one
    process. Here, below :mod:`loganalyzer.ingest.native` (which imports this
    module), so that :func:`count_lines` obeys the same switch.
    """
    return os.environ.get("LOGANALYZER_NATIVE", "1") != "0"


def count_lines(data: bytes | bytearray | memoryview, /) -> int:
    """The number of newlines in ``data``: in C unless that is missing or switched off."""
    if _native_count_lines is not None and native_switched_on():
        return _native_count_lines(data)
    return bytes(data).count(b"\n") if isinstance(data, memoryview) else data.count(b"\n")


Compression = Literal["none", "gzip", "bzip2", "xz", "zstd"]

_MAGIC: tuple[tuple[bytes, Compression], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
# "BZh" alone is too common a start for text (a log line may well begin "BZh"):
# bzip2 also needs its block size digit and the magic of a first block (pi) or
# of the end of an empty stream (sqrt(pi)).
_BZIP2_BLOCK = (b"1AY&SY", b"\x17rE8P\x90")
_HEAD_BYTES = 10
# Formats people hand over as "the logs" that are not read here: named at once,
# with the way to feed them in, rather than reported as lines that do not parse.
_UNSUPPORTED: tuple[tuple[bytes, str, str], ...] = (
    (b"PK\x03\x04", "a zip archive", "unzip -p FILE"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "7z x -so FILE"),
    (b"\x04\x22\x4d\x18", "lz4-compressed", "lz4 -dc FILE"),
    (b"\x1f\x9d", "compress(1)-compressed (.Z)", "zcat FILE"),
    (b"LZIP\x01", "lzip-compressed", "lzip -dc FILE"),
)

# glibc serves allocations of 32 MiB and more with a fresh mmap, which the kernel
# must fault in and zero: reading 830 MB in 32 MiB pieces took 0.50 s against
# 0.10 s in pieces just under that, so batches stay below it. Memory follows the
# batch (Polars' frames are several times its size, three batches are in flight):
# on the 5M-line benchmark 16 MiB batches peaked at 550-650 MB against 680-840 MB
# for 31 MiB, in the same time.
DEFAULT_BATCH_BYTES = 16 * 1024 * 1024
STDIN = "-"

# Batches up to this size are split into lines in Python (LineBatch._small_frame).
_SMALL_FRAME = 64 * 1024
# Streams are read in pieces of this many decoded bytes (see _pieced_batches).
_PIECE = 1 << 20
# Compressed bytes handed to a decoder at a time. This bounds what a corrupt
# stream loses: the output of the decoder call that fails is never seen.
_RAW_PIECE = 64 * 1024
# gzip's decoder takes an output limit, so what a corrupt stream loses stays
# within one piece of output whatever it is given: a larger input piece means
# fewer calls (830 MB of gzip read in 0.84 s instead of 1.09 s).
_GZIP_RAW_PIECE = 256 * 1024
# zstd's decoder object has no output limit, and 64 bytes of zstd can stand for
# 2 MB of zeros: its input slices start that small and grow while the output
# stays small, so a bomb never inflates more than a couple of MB at once.
_ZSTD_MIN_SLICE = 64


@dataclass(frozen=True)
class InputFile:
    """One input as the user named it.

    Attributes:
        name: the path as given (or ``-`` for standard input); used in reports.
            Bytes of a file name that are not UTF-8 appear as ``\\xNN`` escapes.
        path: the file, or None for standard input and URLs.
        size: bytes on disk (compressed size for compressed files), None for stdin.
        url: an object-store or other fsspec URL (``s3://bucket/key``), read
            through fsspec; None for files and stdin.
        problem: why the input cannot be read (missing, a directory, no
            permission), when :func:`expand_inputs` was told to keep going: the
            run lists it as skipped instead of failing.
    """

    name: str
    path: Path | None
    size: int | None
    url: str | None = None
    problem: str | None = None

    @property
    def is_stdin(self) -> bool:
        """Whether this input is standard input (which nobody else can read)."""
        return self.path is None and self.url is None


Piece = bytes | memoryview


@dataclass(frozen=True)
class LineBatch:
    """Complete lines from one input, and where they start.

    Attributes:
        source: the input's name.
        first_line_no: the 1-based line number of the first line in ``data``.
        body: the lines, each ending in a newline except perhaps the file's last
            (a ``bytearray`` when read from plain text: see ``_read_into_batches``),
            or a tuple of the pieces that make them up together (a line may run
            across pieces), as a decompressor hands them out: see ``data``.
        compressed: inflated on the reader's thread (see ``Sums.add``).
    """

    source: str
    first_line_no: int
    body: bytes | bytearray | tuple[Piece, ...]
    compressed: bool = False

    @property
    def pieces(self) -> tuple[Piece | bytearray, ...]:
        """The lines in pieces: the native scanner sums them without joining them."""
        return self.body if isinstance(self.body, tuple) else (self.body,)

    @cached_property
    def data(self) -> bytes | bytearray:
        """The lines in one buffer (pieces are joined at the first call)."""
        # Joining is a copy of every byte, which the reader's thread no longer
        # makes for the scanner: only the other paths pay for it.
        return b"".join(self.body) if isinstance(self.body, tuple) else self.body

    def to_frame(self) -> pl.DataFrame:
        r"""Split the batch into a frame of ``source``, ``line_no``, ``line``.

        Invalid UTF-8 is kept visible as ``\\xNN`` escapes (the way Apache itself
        escapes non-printable bytes), so no line is lost or rejected for its bytes.
        """
        if len(self.data) <= _SMALL_FRAME:
            return self._small_frame()
        # Polars reads bytes only; plain files arrive as a bytearray.
        data = self.data if isinstance(self.data, bytes) else bytes(self.data)
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

    def _small_frame(self) -> pl.DataFrame:
        """:meth:`to_frame` of a few lines, split here rather than by Polars.

        Polars' scan cost 0.5 ms however few the lines, for each of the
        scanner's leftovers: about 0.1 s of the benchmark report.
        """
        try:
            text = self.data.decode("utf-8")
        except UnicodeDecodeError:
            text = self.data.decode("utf-8", "backslashreplace")
        # As Polars reads lines: split at "\n", one "\r" before it dropped, and
        # nothing after a final "\n".
        lines = text.split("\n")
        if not lines[-1]:
            lines.pop()
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
        first = self.first_line_no
        return pl.DataFrame(
            {
                S.SOURCE: pl.Series([self.source] * len(lines), dtype=pl.String),
                S.LINE_NO: pl.Series(range(first, first + len(lines)), dtype=pl.Int64),
                S.LINE: pl.Series(lines, dtype=pl.String),
            }
        )


def display_name(name: str) -> str:
    r"""A file name as text that can be printed and stored anywhere.

    Names that are not UTF-8 reach Python with surrogate escapes, which no
    terminal, JSON or Polars string can hold: their bytes are shown as ``\xNN``.

    Example:
        >>> display_name("caf\udce9.log")
        'caf\\xe9.log'
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")
    return name


def expand_inputs(paths: Sequence[str | Path], *, keep_going: bool = False) -> list[InputFile]:
    """Expand globs and check that every input exists and is a readable file.

    A directory is an error rather than being read recursively: rotated logs sit
    next to other files (``error.log``, ``*.pid``) that would pollute a report,
    so the user names the files, for example with ``DIR/access.log*``.

    Args:
        paths: file paths, glob patterns (``logs/access.log*``) or ``-`` for stdin.
        keep_going: a path that cannot be read is returned with its ``problem``
            (to be listed as skipped) instead of raising.

    Returns:
        The inputs in the order given; each glob's matches sorted by name.

    Raises:
        InputFileError: for a missing file, a glob matching nothing, or a directory
            (without ``keep_going``).
    """
    found: list[InputFile] = []
    for raw in paths:
        if keep_going:
            try:
                found.extend(expand_inputs([raw]))
            except InputFileError as exc:
                text = os.fspath(raw)
                url = text if _URL_RE.match(text) else None
                path = None if url else Path(text)
                found.append(InputFile(exc.path, path, None, url=url, problem=exc.problem))
            continue
        text = os.fspath(raw)
        if text == STDIN:
            found.append(InputFile(STDIN, None, None))
            continue
        if _URL_RE.match(text):
            found.extend(_expand_url(text))
            continue
        if not Path(text).exists() and glob.has_magic(text):
            matches = sorted(glob.glob(text))
            if not matches:
                raise InputFileError(display_name(text), "no file matches this pattern")
            names = matches
        else:
            names = [text]
        for name in names:
            path = Path(name)
            shown = display_name(name)
            if path.is_dir():
                raise InputFileError(shown, "is a directory; name its files, e.g. DIR/*.log*")
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                raise InputFileError(shown, "no such file") from None
            except OSError as exc:
                raise InputFileError(shown, f"cannot be read ({exc.strerror})") from None
            if not os.access(path, os.R_OK):
                raise InputFileError(shown, "permission denied")
            found.append(InputFile(shown, path, size))
    if not found:
        raise InputError("no input files given")
    return found


_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _url_fs(url: str) -> tuple[Any, str]:
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise MissingDependencyError(
            f"{url}: reading URLs needs fsspec (and s3fs, gcsfs or adlfs for the store): "
            "pip install 'loganalyzer[cluster]' s3fs"
        ) from None
    try:
        fs, path = url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise InputFileError(url, f"cannot be opened ({exc})") from None
    return fs, path


def _expand_url(url: str) -> list[InputFile]:
    """Object-store inputs: globs expanded by the store, each object's size asked."""
    fs, path = _url_fs(url)
    try:
        if glob.has_magic(path):
            names = sorted(fs.glob(path))
            if not names:
                raise InputFileError(url, "no object matches this pattern")
        else:
            names = [path]
        out = []
        for name in names:
            full = fs.unstrip_protocol(name)
            info = fs.info(name)
            if info.get("type") == "directory":
                raise InputFileError(full, "is a directory; name its objects, e.g. DIR/*.log*")
            out.append(InputFile(full, None, info.get("size"), url=full))
        return out
    except FileNotFoundError:
        raise InputFileError(url, "no such file or object") from None
    except PermissionError:
        raise InputFileError(url, "permission denied") from None
    except OSError as exc:
        raise InputFileError(url, f"cannot be read ({exc})") from None


def detect_compression(head: bytes, *, complete: bool = False) -> Compression:
    """Name the compression of a stream from its first bytes.

    Args:
        head: the first bytes (10 suffice).
        complete: ``head`` is the whole stream, so a bzip2 header cut short by
            the end of the file still counts as bzip2 (a truncated file).

    Example:
        >>> detect_compression(b"BZh91AY&SY"), detect_compression(b"BZh Ltd GET /")
        ('bzip2', 'none')
    """
    for magic, kind in _MAGIC:
        if head.startswith(magic) and _header_ok(kind, head):
            return kind
    # pzstd (and seekable zstd) files open with a skippable frame, 0x184D2A5?.
    if head[1:4] == b"\x2a\x4d\x18" and 0x50 <= head[0] <= 0x5F:
        return "zstd"
    if head[:3] == b"BZh" and head[3:4] in b"123456789" and len(head) >= 4:
        block = head[4:_HEAD_BYTES]
        short = complete and len(block) < len(_BZIP2_BLOCK[0])
        if any(m.startswith(block) if short else block == m for m in _BZIP2_BLOCK):
            return "bzip2"
    return "none"


def _header_ok(kind: Compression, head: bytes) -> bool:
    """Whether the bytes after the magic fit the format (or the file ends first).

    Text can start with any bytes, scanners' junk included; checking the fixed
    bits of each header keeps such a log from being taken for a broken archive.
    """
    if kind == "gzip":  # CM is 8 (deflate); FLG's top three bits are reserved
        return (len(head) < 3 or head[2] == 8) and (len(head) < 4 or head[3] & 0xE0 == 0)
    if kind == "xz":  # stream flags: a zero byte, then the check type in the low nibble
        return (len(head) < 7 or head[6] == 0) and (len(head) < 8 or head[7] & 0xF0 == 0)
    if kind == "zstd":  # frame header descriptor: bit 3 is reserved
        return len(head) < 5 or head[4] & 0x08 == 0
    return True


class ByteStream(Protocol):
    """What :func:`open_input` returns: ``read`` and ``close``, like a binary file."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (all with -1); ``b""`` only at the end."""
        ...  # pragma: no cover

    def close(self) -> None:
        """Release the stream."""
        ...  # pragma: no cover


def _open_raw(inp: InputFile) -> IO[bytes]:
    if inp.url is not None:
        fs, path = _url_fs(inp.url)
        try:
            opened: IO[bytes] = fs.open(path, "rb")
        except OSError as exc:
            raise InputFileError(inp.name, f"cannot be opened ({exc})") from None
        return opened
    if inp.path is None:
        return sys.stdin.buffer
    try:
        return inp.path.open("rb")
    except OSError as exc:
        raise InputFileError(inp.name, f"cannot be opened ({exc.strerror})") from None


def open_input(inp: InputFile) -> tuple[ByteStream, Compression, IO[bytes]]:
    """Open an input, decompressing what needs it.

    Returns:
        The decompressed stream, the compression found, and the raw stream (whose
        position measures progress through the file on disk). Reading the stream
        raises :class:`StreamBroken` at a truncation or corruption, only after
        every byte decoded before it has been returned.

    Raises:
        InputFileError: the file cannot be opened, or is an archive or a
            compression that is not read (zip, 7-Zip, lz4, .Z, lzip).
    """
    raw = _open_raw(inp)
    buffered: Any
    if hasattr(raw, "peek"):
        buffered = raw
    elif inp.url is not None:
        buffered = io.BufferedReader(cast(Any, raw))
    else:
        buffered = open(raw.fileno(), "rb", closefd=False)  # noqa: SIM115
    head = buffered.peek(_HEAD_BYTES)[:_HEAD_BYTES]
    for magic, what, command in _UNSUPPORTED:
        if head.startswith(magic):
            if not inp.is_stdin:
                raw.close()
            raise InputFileError(
                inp.name, f"is {what}, not a log; feed it in with {command} | loganalyzer ... -"
            )
    kind = detect_compression(head, complete=len(head) < _HEAD_BYTES)
    if kind == "none":
        return buffered, kind, raw
    return _Decoder(buffered, kind), kind, raw


class StreamBroken(Exception):
    """A compressed stream that is truncated or corrupt part-way through."""


_TRUNCATED = "Compressed file ended before the end-of-stream marker was reached"


class _Decoder:
    """Decode gzip members, bzip2 and xz streams, zstd frames, one after another.

    The standard library's file objects (GzipFile, BZ2File, LZMAFile) raise at
    a truncation and discard what they decoded in that same read, up to a whole
    batch of lines; here each decoder call's output is handed out before the
    next call, so a break loses nothing that could be decoded. Output per call
    is bounded (``max_length``, or small input slices for zstd), so memory does
    not depend on how well the data compresses.
    """

    def __init__(self, raw: IO[bytes], kind: Compression) -> None:
        self._raw = raw
        self._kind = kind
        self._dec = self._new()
        self._input = b""  # compressed bytes not yet given to the decoder
        self._more = False  # the decoder may hold output without needing input
        self._fed = False  # the current member has started, so it must finish
        self._members = 0
        self._done = False
        self._spill = b""  # decoded bytes beyond what the last read asked for
        self._slice = _ZSTD_MIN_SLICE

    def _new(self) -> Any:
        if self._kind == "gzip":
            from isal import isal_zlib

            return isal_zlib.decompressobj(wbits=31)
        if self._kind == "bzip2":
            return bz2.BZ2Decompressor()
        if self._kind == "xz":
            return lzma.LZMADecompressor()
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj()

    def read(self, size: int = -1, /) -> bytes:
        """Return up to ``size`` decoded bytes (fewer is not the end); ``b""`` at the end.

        Raises:
            StreamBroken: at a truncation or corruption, once everything before
                it has been returned.
        """
        if size < 0:
            return b"".join(iter(lambda: self.read(_PIECE), b""))
        size = max(size, 1)
        if self._spill:
            out, self._spill = self._spill[:size], self._spill[size:]
            return out
        while True:
            if self._input or self._more:
                out = self._step(size)
                if len(out) > size:
                    out, self._spill = out[:size], out[size:]
                if out:
                    return out
                continue
            if self._done:
                return b""
            chunk = self._raw.read(_GZIP_RAW_PIECE if self._kind == "gzip" else _RAW_PIECE)
            if not chunk:
                self._done = True
                if self._fed:
                    raise StreamBroken(_TRUNCATED)
                return b""
            if not self._fed and self._members:
                # Padding between or after members (xz stream padding, zero-filled
                # tails of preallocated files) is not a new member.
                chunk = chunk.lstrip(b"\x00")
            self._input = chunk

    def _step(self, size: int) -> bytes:
        dec, data = self._dec, self._input
        if data:
            self._fed = True
        try:
            if self._kind == "gzip":
                out: bytes = dec.decompress(data, size)
                self._input = dec.unconsumed_tail
                self._more = len(out) == size
            elif self._kind == "zstd":
                n = self._slice
                out = dec.decompress(data[:n]) if data else b""
                self._input = data[n:]
                self._more = False
                if len(out) > size:
                    self._slice = _ZSTD_MIN_SLICE
                elif len(out) < size // 4:
                    self._slice = min(2 * n, _RAW_PIECE)
            else:
                out = dec.decompress(data, size)
                self._input = b""
                self._more = bool(out) and not dec.eof and not dec.needs_input
        except Exception as exc:  # isal, bz2, lzma and zstd each raise their own type
            self._input, self._more, self._done = b"", False, True
            raise StreamBroken(str(exc) or type(exc).__name__) from None
        if dec.eof:
            self._members += 1
            rest = dec.unused_data + self._input
            self._dec, self._fed, self._more = self._new(), False, False
            self._input = rest.lstrip(b"\x00")
        return out

    def close(self) -> None:
        """Nothing to release: the raw stream is closed by its owner."""


@dataclass
class ReadFault:
    """A stream that broke part-way, or an input left out whole (``--keep-going``).

    What was read before a break has been yielded. A skipped input has
    ``skipped`` set and ``line_no`` 0.
    """

    source: str
    line_no: int
    problem: str
    skipped: bool = False  # the whole input was left out (--keep-going), not cut short


def _read_error(exc: BaseException) -> str:
    if isinstance(exc, StreamBroken):
        return f"compressed data is truncated or corrupt ({exc})"
    assert isinstance(exc, OSError)
    return f"read failed ({exc.strerror or exc})"


def _pieced_batches(
    stream: ByteStream, batch_bytes: int, problems: list[str]
) -> Iterator[tuple[Piece, ...]]:
    """Batches of whole lines from a stream that hands out pieces (decompressors).

    Each batch is the pieces as decoded, the last cut after its last newline:
    concatenating and re-slicing 32 MB buffers cost more than inflating them,
    and joining the pieces once per batch was a copy of every byte on the
    reader's thread, which is the busier of the two (``LineBatch.data`` joins
    them for the paths that need one buffer).
    """
    pieces: list[bytes] = []
    held = 0
    clean = 0  # pieces[:clean] are known to hold no newline
    while True:
        want = min(_PIECE, batch_bytes - held if held < batch_bytes else batch_bytes)
        try:
            piece = stream.read(want)
        except (StreamBroken, OSError) as exc:
            problems.append(_read_error(exc))
            piece = b""
        if not piece:
            break
        pieces.append(piece)
        held += len(piece)
        if held < batch_bytes:
            continue
        for i in range(len(pieces) - 1, clean - 1, -1):
            cut = pieces[i].rfind(b"\n")
            if cut >= 0:
                break
        else:
            clean = len(pieces)  # one line longer than a batch: read on
            continue
        head = pieces[i]
        body: tuple[Piece, ...] = (*pieces[:i], memoryview(head)[: cut + 1])
        pieces = [p for p in (head[cut + 1 :], *pieces[i + 1 :]) if p]
        held = sum(map(len, pieces))
        clean = len(pieces)
        yield body
    if pieces:
        yield tuple(pieces)


def _read_into_batches(stream: Any, batch_bytes: int, problems: list[str]) -> Iterator[bytearray]:
    """Batches of whole lines from plain text, each read straight into its own buffer.

    No pieces are joined: that was a second copy of every byte, made with the
    GIL held while the parser waited for it. The buffer is a ``bytearray``
    trimmed in place to the last whole line; what follows starts the next one.
    """
    carry = b""
    while True:
        size = max(batch_bytes, 2 * len(carry))
        buf = bytearray(size)
        buf[: len(carry)] = carry
        n = len(carry)
        with memoryview(buf) as view:
            while n < size:
                try:
                    got = stream.readinto(view[n:])
                except OSError as exc:
                    problems.append(_read_error(exc))
                    got = 0
                if not got:
                    break
                n += got
        if n < size or problems:  # the end (or a failed read): all that is left
            del buf[n:]
            if buf:
                yield buf
            return
        cut = buf.rfind(b"\n")
        if cut < 0:  # one line longer than a batch: read on with a bigger buffer
            carry = bytes(buf)
            continue
        carry = bytes(buf[cut + 1 :])
        del buf[cut + 1 :]
        yield buf


def iter_batches(
    inp: InputFile,
    *,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    on_bytes: Callable[[int], None] | None = None,
    faults: list[ReadFault] | None = None,
) -> Generator[LineBatch, None, None]:
    """Yield one input's lines in batches that end on line boundaries.

    Args:
        inp: the input.
        batch_bytes: roughly how many decompressed bytes a batch holds (a batch
            holds more only when one line is longer than this).
        on_bytes: called with the number of raw (on-disk) bytes consumed since the
            last call, for progress bars.
        faults: where to record a stream that breaks part-way (truncated or
            corrupt compressed data). Without it, the break raises at the end.

    Raises:
        TruncatedInputError: for a broken stream when ``faults`` is None.
    """
    from loganalyzer.errors import TruncatedInputError

    stream, kind, raw = open_input(inp)
    line_no = 1
    last_pos = 0
    problems: list[str] = []

    def progress() -> None:
        nonlocal last_pos
        if on_bytes is not None and not inp.is_stdin:
            try:
                pos = raw.tell()
            except OSError:  # a named pipe has no position
                return
            on_bytes(pos - last_pos)
            last_pos = pos

    plain = kind == "none" and hasattr(stream, "readinto")
    try:
        bodies: Iterator[bytearray | tuple[Piece, ...]] = (
            _read_into_batches(cast(Any, stream), batch_bytes, problems)
            if plain
            else _pieced_batches(stream, batch_bytes, problems)
        )
        for body in bodies:
            progress()
            batch = LineBatch(inp.name, line_no, body, compressed=not plain)
            yield batch
            pieces = batch.pieces
            line_no += sum(map(count_lines, pieces)) + (pieces[-1][-1:] != b"\n")
        progress()
    finally:
        if stream is not raw:
            stream.close()
        if not inp.is_stdin:
            raw.close()
    problem = problems[0] if problems else None
    if problem is not None:
        fault = ReadFault(inp.name, line_no - 1, problem)
        if faults is None:
            raise TruncatedInputError(fault.source, fault.line_no, fault.problem)
        faults.append(fault)


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
