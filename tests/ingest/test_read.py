"""Reading: inputs and globs, compression by content, batches on line boundaries."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import random
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
import zstandard
from hypothesis import example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import loganalyzer.ingest.read as read_module
from loganalyzer import schema as S
from loganalyzer.errors import InputError, InputFileError, TruncatedInputError
from loganalyzer.ingest.prefetch import prefetch, prefetch_turns
from loganalyzer.ingest.read import (
    DEFAULT_BATCH_BYTES,
    InputFile,
    LineBatch,
    ReadFault,
    detect_compression,
    expand_inputs,
    iter_batches,
    open_input,
    read_lines,
)

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "fixtures" / "logs"

LINES_SCHEMA = pl.Schema({S.SOURCE: pl.String, S.LINE_NO: pl.Int64, S.LINE: pl.String})

# Lines of very different lengths, so that small batches cut everywhere.
TEXT = (
    b"first line\n"
    b"\n"
    b"x\n"
    b"a considerably longer line that spans many tiny batches, with spaces\n"
    b"\n"
    b"\n"
    b"caf\xc3\xa9 \xe6\xb2\x88\xe9\x98\xb3\n"
    b"last\n"
)
TEXT_LINES = TEXT.decode().split("\n")[:-1]


def _zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "none": lambda data: data,
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zstd": _zstd,
}


def _one(path: Path) -> InputFile:
    (inp,) = expand_inputs([path])
    return inp


def _batches(path: Path, **kwargs: object) -> list[LineBatch]:
    return list(iter_batches(_one(path), **kwargs))  # type: ignore[arg-type]


def _frame(batches: list[LineBatch]) -> pl.DataFrame:
    if not batches:
        return pl.DataFrame(schema=LINES_SCHEMA)
    return pl.concat([b.to_frame() for b in batches])


# --- expand_inputs ---------------------------------------------------------------


def test_expand_inputs_sorts_each_glob_and_keeps_argument_order(tmp_path: Path) -> None:
    for name, data in [
        ("access.log", b"abc\n"),
        ("access.log.2.gz", b"12345"),
        ("access.log.10.gz", b""),
        ("other.log", b"zz\n"),
    ]:
        (tmp_path / name).write_bytes(data)
    found = expand_inputs([tmp_path / "other.log", f"{tmp_path}/access.log*"])
    assert found == [
        InputFile(f"{tmp_path}/other.log", tmp_path / "other.log", 3),
        InputFile(f"{tmp_path}/access.log", tmp_path / "access.log", 4),
        InputFile(f"{tmp_path}/access.log.10.gz", tmp_path / "access.log.10.gz", 0),
        InputFile(f"{tmp_path}/access.log.2.gz", tmp_path / "access.log.2.gz", 5),
    ]


def test_expand_inputs_takes_an_existing_name_with_glob_characters_literally(
    tmp_path: Path,
) -> None:
    (tmp_path / "a[1].log").write_bytes(b"x\n")
    (tmp_path / "a1.log").write_bytes(b"yy\n")
    found = expand_inputs([f"{tmp_path}/a[1].log"])
    assert found == [InputFile(f"{tmp_path}/a[1].log", tmp_path / "a[1].log", 2)]


def test_expand_inputs_stdin() -> None:
    assert expand_inputs(["-"]) == [InputFile("-", None, None)]


@pytest.mark.parametrize(
    ("make", "arg", "problem"),
    [
        pytest.param(None, "missing.log", "no such file", id="missing-file"),
        pytest.param(None, "*.nothing", "no file matches this pattern", id="glob-matches-nothing"),
        pytest.param(
            "dir", "logs", "is a directory; name its files, e.g. DIR/*.log*", id="directory"
        ),
        pytest.param(
            "dir", "log*", "is a directory; name its files, e.g. DIR/*.log*", id="glob-to-directory"
        ),
    ],
)
def test_expand_inputs_errors(tmp_path: Path, make: str | None, arg: str, problem: str) -> None:
    if make == "dir":
        (tmp_path / "logs").mkdir()
    name = f"{tmp_path}/{arg}"
    shown = f"{tmp_path}/logs" if make == "dir" else name
    with pytest.raises(InputFileError) as excinfo:
        expand_inputs([name])
    err = excinfo.value
    assert type(err) is InputFileError
    assert (err.path, err.problem) == (shown, problem)
    assert str(err) == f"{shown}: {problem}"
    assert err.exit_code == 3


def test_expand_inputs_reports_a_missing_file_after_good_ones(tmp_path: Path) -> None:
    (tmp_path / "ok.log").write_bytes(b"x\n")
    with pytest.raises(InputFileError) as excinfo:
        expand_inputs([tmp_path / "ok.log", tmp_path / "gone.log"])
    assert str(excinfo.value) == f"{tmp_path}/gone.log: no such file"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_expand_inputs_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.log"
    path.write_bytes(b"x\n")
    path.chmod(0)
    with pytest.raises(InputFileError) as excinfo:
        expand_inputs([path])
    assert str(excinfo.value) == f"{path}: permission denied"


def test_expand_inputs_nothing_given() -> None:
    with pytest.raises(InputError) as excinfo:
        expand_inputs([])
    assert type(excinfo.value) is InputError
    assert str(excinfo.value) == "no input files given"


# --- compression ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        pytest.param(b"\x1f\x8b\x08\x00", "gzip", id="gzip"),
        pytest.param(b"BZh91AY&SY", "bzip2", id="bzip2"),
        pytest.param(b"\xfd7zXZ\x00\x00\x04", "xz", id="xz"),
        pytest.param(b"\x28\xb5\x2f\xfd\x20", "zstd", id="zstd"),
        pytest.param(b"81.2.69.160 - - [", "none", id="text"),
        pytest.param(b"\x1f", "none", id="half-gzip-magic"),
        pytest.param(b"\xfd7zXZ", "none", id="short-xz-magic"),
        pytest.param(b"", "none", id="empty"),
        pytest.param(b"BZh9\x17rE8P\x90\x00", "bzip2", id="bzip2-empty-stream"),
        pytest.param(b"\x50\x2a\x4d\x18\x04\x00", "zstd", id="zstd-skippable-frame-first"),
        pytest.param(b"\x28\xb5\x2f\xfd\n", "none", id="zstd-magic-then-reserved-bit"),
        pytest.param(b"\x1f\x8b\x07\x00", "none", id="gzip-magic-not-deflate"),
        pytest.param(b"\x1f\x8b\x08\xff", "none", id="gzip-reserved-flags"),
        pytest.param(b"\xfd7zXZ\x00\x01\x01", "none", id="xz-magic-bad-stream-flags"),
        pytest.param(b"\x5f\x2a\x4d\x18\x04\x00", "zstd", id="zstd-skippable-frame-last"),
        pytest.param(b"\x60\x2a\x4d\x18\x04\x00", "none", id="not-a-skippable-frame"),
        pytest.param(b"BZh Ltd - - [14/Sep", "none", id="text-starting-BZh"),
        pytest.param(b"BZh91AY&SX", "none", id="bzip2-block-magic-wrong"),
        pytest.param(b"BZh01AY&SY", "none", id="bzip2-level-zero"),
        pytest.param(b"BZh91AY", "none", id="bzip2-header-cut-in-a-longer-stream"),
    ],
)
def test_detect_compression(head: bytes, kind: str) -> None:
    assert detect_compression(head) == kind


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        pytest.param(b"BZh91AY", "bzip2", id="bzip2-header-cut-by-the-end-of-file"),
        pytest.param(b"BZh9", "bzip2", id="bzip2-only-the-level"),
        pytest.param(b"BZh91AX", "none", id="text-like-a-cut-bzip2-header"),
        pytest.param(b"BZh", "none", id="three-letters"),
        pytest.param(b"\x28\xb5\x2f\xfd", "zstd", id="zstd-cut-after-its-magic"),
        pytest.param(b"\x1f\x8b", "gzip", id="gzip-cut-after-its-magic"),
    ],
)
def test_detect_compression_of_a_whole_short_file(head: bytes, kind: str) -> None:
    assert detect_compression(head, complete=True) == kind


@pytest.mark.parametrize("batch_bytes", [5, DEFAULT_BATCH_BYTES], ids=["tiny", "default"])
def test_a_plain_log_starting_with_bzh_is_read_as_text(tmp_path: Path, batch_bytes: int) -> None:
    data = b"BZh9 - - [14/Sep/2026] first\nsecond\n"
    path = tmp_path / "access.log"
    path.write_bytes(data)
    got = _frame(_batches(path, batch_bytes=batch_bytes))
    assert got[S.LINE].to_list() == ["BZh9 - - [14/Sep/2026] first", "second"]


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        pytest.param("none", "access.log.gz", id="plain-named-gz"),
        pytest.param("none", "access.log", id="plain-named-log"),
        pytest.param("gzip", "access.log", id="gzip-named-log"),
        pytest.param("gzip", "access.log.bz2", id="gzip-named-bz2"),
        pytest.param("bzip2", "access.log.xz", id="bzip2-named-xz"),
        pytest.param("xz", "access.log.zst", id="xz-named-zst"),
        pytest.param("zstd", "access.log.1", id="zstd-named-1"),
    ],
)
def test_compression_is_detected_by_content_not_name(tmp_path: Path, kind: str, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(COMPRESSORS[kind](TEXT))
    stream, found, raw = open_input(_one(path))
    try:
        assert found == kind
        assert stream.read() == TEXT
    finally:
        stream.close()
        raw.close()


@pytest.mark.parametrize("batch_bytes", [7, DEFAULT_BATCH_BYTES], ids=["tiny-batches", "default"])
@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz", "zstd"])
def test_every_compression_yields_the_plain_frame(
    tmp_path: Path, kind: str, batch_bytes: int
) -> None:
    plain = tmp_path / "plain" / "access.log"
    packed = tmp_path / kind / "access.log"
    for path, data in [(plain, TEXT), (packed, COMPRESSORS[kind](TEXT))]:
        path.parent.mkdir()
        path.write_bytes(data)
    expected = _frame(_batches(plain)).drop(S.SOURCE)
    got = _frame(_batches(packed, batch_bytes=batch_bytes))
    assert_frame_equal(got.drop(S.SOURCE), expected)
    assert got[S.SOURCE].unique().to_list() == [str(packed)]
    assert got[S.LINE].to_list() == TEXT_LINES


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz", "zstd"])
def test_concatenated_members_are_all_read(tmp_path: Path, kind: str) -> None:
    # `cat a.gz b.gz > c.gz` (and logrotate's delaycompress appends) make one file
    # of several members/streams/frames; every one of them must be read.
    cut = TEXT.index(b"x\n") + 1  # inside a line: members need not end on a newline
    path = tmp_path / "access.log"
    path.write_bytes(COMPRESSORS[kind](TEXT[:cut]) + COMPRESSORS[kind](TEXT[cut:]))
    got = _frame(_batches(path))
    assert got[S.LINE].to_list() == TEXT_LINES
    assert got[S.LINE_NO].to_list() == list(range(1, len(TEXT_LINES) + 1))


def _zip(data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("access.log", data)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        pytest.param(
            _zip(TEXT),
            "is a zip archive, not a log; feed it in with unzip -p FILE | loganalyzer ... -",
            id="zip",
        ),
        pytest.param(
            b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(24),
            "is a 7-Zip archive, not a log; feed it in with 7z x -so FILE | loganalyzer ... -",
            id="7z",
        ),
        pytest.param(
            b"\x04\x22\x4d\x18\x64\x40\xa7" + bytes(8),
            "is lz4-compressed, not a log; feed it in with lz4 -dc FILE | loganalyzer ... -",
            id="lz4",
        ),
        pytest.param(
            b"\x1f\x9d\x90" + b"line 1\n",
            "is compress(1)-compressed (.Z), not a log; "
            "feed it in with zcat FILE | loganalyzer ... -",
            id="dot-Z",
        ),
        pytest.param(
            b"LZIP\x01\x0c" + bytes(20),
            "is lzip-compressed, not a log; feed it in with lzip -dc FILE | loganalyzer ... -",
            id="lzip",
        ),
    ],
)
def test_archives_and_unread_compressions_are_named(
    tmp_path: Path, data: bytes, problem: str
) -> None:
    path = tmp_path / "access.log.1"
    path.write_bytes(data)
    with pytest.raises(InputFileError) as excinfo:
        _batches(path)
    assert (excinfo.value.path, excinfo.value.problem) == (str(path), problem)


@pytest.mark.parametrize("log_format", ["auto", "combined"])
def test_a_report_names_an_archive_whatever_the_format(
    tmp_path: Path, city_db: Path, log_format: str
) -> None:
    # A report's scanner reads plain files by offset, not through the stream
    # that names archives: with the format given (no detection read), a zip
    # was read as one line of junk.
    from loganalyzer.analysis.pipeline import analyze

    path = tmp_path / "access.log.1"
    path.write_bytes(_zip(TEXT))
    with pytest.raises(InputFileError) as excinfo:
        analyze([path], log_format=log_format, city_db=city_db)
    assert excinfo.value.problem.startswith("is a zip archive, not a log")


def test_text_that_merely_starts_like_lzip_is_text(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_bytes(b"LZIP host - - [14/Sep/2026]\n")
    assert _frame(_batches(path))[S.LINE].to_list() == ["LZIP host - - [14/Sep/2026]"]


def test_zstd_after_a_skippable_frame_as_pzstd_writes(tmp_path: Path) -> None:
    # RFC 8878 skippable frame: magic 0x184D2A5?, a 4-byte size, then that many bytes.
    skippable = (0x184D2A50).to_bytes(4, "little") + (4).to_bytes(4, "little") + b"\x00\x01\x02\x03"
    path = tmp_path / "access.log.zst"
    path.write_bytes(skippable + _zstd(TEXT[:20]) + skippable + _zstd(TEXT[20:]))
    faults: list[ReadFault] = []
    assert b"".join(b.data for b in _batches(path, faults=faults)) == TEXT
    assert faults == []


def test_compressed_empty_file_yields_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.gz"
    path.write_bytes(gzip.compress(b""))
    faults: list[ReadFault] = []
    assert _batches(path, faults=faults) == []
    assert faults == []


def _gzip_cut_after_line(lines: list[bytes], good: int) -> bytes:
    """A gzip stream of `lines`, cut at a full flush right after line `good`."""
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    head = comp.compress(b"".join(lines[:good])) + comp.flush(zlib.Z_FULL_FLUSH)
    comp.compress(b"".join(lines[good:]))
    comp.flush()
    return head


TRUNCATED_PROBLEM = (
    "compressed data is truncated or corrupt "
    "(Compressed file ended before the end-of-stream marker was reached)"
)


@pytest.mark.parametrize(
    "batch_bytes", [7, 4096, DEFAULT_BATCH_BYTES], ids=["tiny", "4k", "default"]
)
def test_truncated_gzip_yields_lines_before_the_break_and_a_fault(
    tmp_path: Path, batch_bytes: int
) -> None:
    lines = [b"line %d\n" % i for i in range(1, 101)]
    path = tmp_path / "access.log.1.gz"
    path.write_bytes(_gzip_cut_after_line(lines, 50))
    faults: list[ReadFault] = []
    got = _frame(_batches(path, faults=faults, batch_bytes=batch_bytes))
    assert got[S.LINE].to_list() == [f"line {i}" for i in range(1, 51)]
    assert got[S.LINE_NO].to_list() == list(range(1, 51))
    assert faults == [ReadFault(str(path), 50, TRUNCATED_PROBLEM)]


def test_gzip_missing_only_its_trailer_yields_every_line(tmp_path: Path) -> None:
    lines = [b"line %d\n" % i for i in range(1, 11)]
    path = tmp_path / "access.log.gz"
    path.write_bytes(gzip.compress(b"".join(lines))[:-4])  # ISIZE lost
    faults: list[ReadFault] = []
    got = _frame(_batches(path, faults=faults))
    assert got[S.LINE].to_list() == [f"line {i}" for i in range(1, 11)]
    assert faults == [ReadFault(str(path), 10, TRUNCATED_PROBLEM)]


def test_truncated_gzip_without_faults_list_raises_after_yielding(tmp_path: Path) -> None:
    lines = [b"line %d\n" % i for i in range(1, 101)]
    path = tmp_path / "access.log.1.gz"
    path.write_bytes(_gzip_cut_after_line(lines, 50))
    seen: list[LineBatch] = []
    with pytest.raises(TruncatedInputError) as excinfo:
        seen.extend(iter_batches(_one(path), batch_bytes=64))
    err = excinfo.value
    assert type(err) is TruncatedInputError
    assert (err.path, err.line_no, err.problem) == (str(path), 50, TRUNCATED_PROBLEM)
    assert str(err) == (
        f"{path}: {TRUNCATED_PROBLEM} after line 50; "
        "the lines before it were analysed (--keep-going analyses the other files too)"
    )
    assert _frame(seen)[S.LINE_NO].to_list() == list(range(1, 51))


def test_gzip_cut_inside_its_header_is_a_fault_at_line_zero(tmp_path: Path) -> None:
    path = tmp_path / "access.log.gz"
    path.write_bytes(gzip.compress(b"line 1\n")[:5])
    faults: list[ReadFault] = []
    assert _batches(path, faults=faults) == []
    assert faults == [ReadFault(str(path), 0, TRUNCATED_PROBLEM)]
    with pytest.raises(TruncatedInputError) as excinfo:
        _batches(path)
    assert str(excinfo.value) == (
        f"{path}: {TRUNCATED_PROBLEM} after line 0; "
        "the lines before it were analysed (--keep-going analyses the other files too)"
    )


def _varied_lines(n: int) -> list[bytes]:
    """Log-like lines that compress only moderately, so files span several blocks."""
    rng = random.Random(7)
    return [
        b"81.2.69.%d - - GET /%s %d\n"
        % (rng.randrange(256), rng.randbytes(rng.randrange(4, 40)).hex().encode(), i)
        for i in range(1, n + 1)
    ]


# bzip2 at level 1 uses 100 kB blocks, and zstd and xz are written in several
# frames/blocks, so a cut falls after some complete blocks and inside another.
MULTIBLOCK: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "bzip2": lambda data: bz2.compress(data, 1),
    "xz": lambda data: lzma.compress(data, preset=0),
    "zstd": lambda data: zstandard.ZstdCompressor(write_checksum=True).compress(data),
}


def _stdlib_decode(kind: str, data: bytes) -> bytes:
    """What the reference decoders give for a (cut) file, member after member."""
    out = b""
    while data:
        dec: object
        if kind == "gzip":
            dec = zlib.decompressobj(wbits=31)
        elif kind == "bzip2":
            dec = bz2.BZ2Decompressor()
        elif kind == "xz":
            dec = lzma.LZMADecompressor()
        else:
            dec = zstandard.ZstdDecompressor().decompressobj()
        out += dec.decompress(data)  # type: ignore[attr-defined]
        if not dec.eof:  # type: ignore[attr-defined]
            break
        data = dec.unused_data  # type: ignore[attr-defined]
    return out


def _lines_in(data: bytes) -> int:
    return data.count(b"\n") + (not data.endswith(b"\n") and bool(data))


@pytest.mark.parametrize("batch_bytes", [4096, DEFAULT_BATCH_BYTES], ids=["4k", "default"])
@pytest.mark.parametrize(
    "cut", [12, 0.3, 0.6, -1], ids=["in-header", "30%", "60%", "last-byte-lost"]
)
@pytest.mark.parametrize("members", [1, 2], ids=["one-member", "two-members"])
@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz", "zstd"])
def test_truncated_file_yields_what_the_reference_decoder_reads_and_a_fault(
    tmp_path: Path, kind: str, members: int, cut: float, batch_bytes: int
) -> None:
    lines = _varied_lines(6000)
    data = b"".join(lines)
    half = len(b"".join(lines[:2500]))
    parts = [data] if members == 1 else [data[:half], data[half:]]
    whole = b"".join(MULTIBLOCK[kind](part) for part in parts)
    end = int(cut) if cut >= 1 or cut < 0 else int(len(whole) * cut)
    path = tmp_path / "access.log.1"
    path.write_bytes(whole[:end])
    expected = _stdlib_decode(kind, whole[:end])
    faults: list[ReadFault] = []
    batches = _batches(path, faults=faults, batch_bytes=batch_bytes)
    got = b"".join(b.data for b in batches)
    if kind == "gzip":
        # ISA-L keeps the last byte or two of a cut stream back (zlib hands them
        # out): at most the tail of the line cut in half differs.
        assert expected.startswith(got)
        assert len(expected) - len(got) <= 8
    else:
        assert got == expected
    assert data.startswith(got)
    assert faults == [ReadFault(str(path), _lines_in(got), TRUNCATED_PROBLEM)]
    assert _frame(batches)[S.LINE_NO].to_list() == list(range(1, _lines_in(got) + 1))
    if cut == -1 or (cut == 0.6 and members == 2):
        # Not a vacuous comparison: most lines come back (the first member whole).
        assert _lines_in(got) >= 2500


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz", "zstd"])
def test_corrupt_member_keeps_the_lines_before_it_and_is_a_fault(tmp_path: Path, kind: str) -> None:
    lines = _varied_lines(6000)
    first, second = b"".join(lines[:2500]), b"".join(lines[2500:])
    broken = bytearray(MULTIBLOCK[kind](second))
    mid = len(broken) // 2
    broken[mid : mid + 64] = bytes(64)
    path = tmp_path / "access.log.2"
    path.write_bytes(MULTIBLOCK[kind](first) + bytes(broken))
    faults: list[ReadFault] = []
    batches = _batches(path, faults=faults)
    got = b"".join(b.data for b in batches)
    assert got.startswith(first)
    assert len(got) < len(first + second)
    (fault,) = faults
    assert (fault.source, fault.line_no) == (str(path), _lines_in(got))
    assert fault.problem.startswith("compressed data is truncated or corrupt (")
    assert _frame(batches)[S.LINE_NO].to_list() == list(range(1, _lines_in(got) + 1))


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz", "zstd"])
def test_zero_padding_after_the_last_member_is_not_a_fault(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "access.log.gz"
    path.write_bytes(COMPRESSORS[kind](TEXT) + bytes(4096))
    faults: list[ReadFault] = []
    assert b"".join(b.data for b in _batches(path, faults=faults)) == TEXT
    assert faults == []


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz", "zstd"])
def test_junk_after_the_last_member_is_a_fault_after_every_line(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "access.log.gz"
    path.write_bytes(COMPRESSORS[kind](TEXT) + b"this is not compressed\n")
    faults: list[ReadFault] = []
    assert b"".join(b.data for b in _batches(path, faults=faults)) == TEXT
    (fault,) = faults
    assert fault.line_no == len(TEXT_LINES)
    assert fault.problem.startswith("compressed data is truncated or corrupt (")


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz", "zstd"])
def test_output_per_read_is_bounded_whatever_the_ratio(tmp_path: Path, kind: str) -> None:
    # 16 MB of zeros compress to a few kB: reading must not inflate it all at once.
    path = tmp_path / "zeros.log"
    path.write_bytes(MULTIBLOCK[kind](bytes(16 << 20)))
    stream, found, raw = open_input(_one(path))
    try:
        assert found == kind
        sizes = list(iter(lambda: stream.read(1 << 20), b""))
    finally:
        raw.close()
    assert sum(map(len, sizes)) == 16 << 20
    assert max(map(len, sizes)) <= 1 << 20


def test_stdin_is_decompressed_too() -> None:
    code = (
        "from loganalyzer.ingest.read import expand_inputs, iter_batches\n"
        "for inp in expand_inputs(['-']):\n"
        "    for b in iter_batches(inp, batch_bytes=3):\n"
        "        print(b.source, b.first_line_no, repr(b.data))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        input=gzip.compress(b"a\nbb\nccc"),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().splitlines() == ["- 1 b'a\\n'", "- 2 b'bb\\n'", "- 3 b'ccc'"]


def test_truncated_gzip_on_stdin_yields_lines_before_the_break() -> None:
    code = (
        "from loganalyzer.ingest.read import expand_inputs, iter_batches\n"
        "faults = []\n"
        "for inp in expand_inputs(['-']):\n"
        "    for b in iter_batches(inp, faults=faults):\n"
        "        print(b.first_line_no, b.data.count(b'\\n'))\n"
        "print(faults)\n"
    )
    lines = [b"line %d\n" % i for i in range(1, 101)]
    proc = subprocess.run(
        [sys.executable, "-c", code],
        input=_gzip_cut_after_line(lines, 50),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().splitlines() == [
        "1 50",
        f"[ReadFault(source='-', line_no=50, problem={TRUNCATED_PROBLEM!r}, skipped=False)]",
    ]


# --- batches -------------------------------------------------------------------


@pytest.mark.parametrize("ending", [b"\n", b""], ids=["final-newline", "no-final-newline"])
@pytest.mark.parametrize("batch_bytes", [1, 7, 64])
def test_small_batches_equal_one_batch(tmp_path: Path, batch_bytes: int, ending: bytes) -> None:
    path = tmp_path / "access.log"
    path.write_bytes(TEXT.rstrip(b"\n") + ending)
    whole = _batches(path)
    batches = _batches(path, batch_bytes=batch_bytes)
    assert len(batches) > len(whole)
    # Every batch ends on a line boundary, except perhaps the file's last line.
    assert all(b.data.endswith(b"\n") for b in batches[:-1])
    assert b"".join(b.data for b in batches) == b"".join(b.data for b in whole) == path.read_bytes()
    # Line numbers continue from one batch to the next.
    starts = [b.first_line_no for b in batches]
    assert starts == [1] + [
        1 + sum(b.data.count(b"\n") for b in batches[:i]) for i in range(1, len(batches))
    ]
    got = _frame(batches)
    assert_frame_equal(got, _frame(whole))
    assert got[S.LINE_NO].to_list() == list(range(1, len(TEXT_LINES) + 1))
    assert got[S.LINE].to_list() == TEXT_LINES


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        pytest.param(b"a\nb\n", ["a", "b"], id="lf"),
        pytest.param(b"a\nb", ["a", "b"], id="last-line-without-newline"),
        pytest.param(b"a\r\nb\r\n", ["a", "b"], id="crlf"),
        pytest.param(b"a\r\nb", ["a", "b"], id="crlf-last-without-newline"),
        pytest.param(b"a\rb\n", ["a\rb"], id="lone-cr-inside-kept"),
        pytest.param(b"\n\n", ["", ""], id="blank-lines"),
        pytest.param(b"", [], id="empty"),
        pytest.param(b"a\x00b\n\x00\n", ["a\x00b", "\x00"], id="nul-bytes-kept"),
        pytest.param(
            b"caf\xc3\xa9 \xff\xfe\nok\n", ["caf\u00e9 \\xff\\xfe", "ok"], id="invalid-utf8"
        ),
        pytest.param(b"\x80\n", ["\\x80"], id="lone-continuation-byte"),
        pytest.param(b"\xe6\xb2\n", ["\\xe6\\xb2"], id="cut-multibyte-char"),
    ],
)
def test_file_lines(tmp_path: Path, data: bytes, lines: list[str]) -> None:
    path = tmp_path / "access.log"
    path.write_bytes(data)
    got = _frame(_batches(path))
    assert got.schema == LINES_SCHEMA
    assert got.rows() == [(str(path), i, line) for i, line in enumerate(lines, start=1)]


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        pytest.param(b"a\nb\n", ["a", "b"], id="lf"),
        pytest.param(b"a\r\nb", ["a", "b"], id="crlf"),
        pytest.param(b"\xff\n\xc3\xa9\n", ["\\xff", "\u00e9"], id="invalid-utf8"),
        pytest.param(b"\x00\n", ["\x00"], id="nul"),
        pytest.param(b"", [], id="empty"),
        pytest.param(
            b"\x1f\x8b\x08 not gzip\nok\n", ["\x1f\\x8b\x08 not gzip", "ok"], id="starts-like-gzip"
        ),
        pytest.param(
            b"\x28\xb5\x2f\xfd not zstd\nok\n",
            ["(\\xb5/\\xfd not zstd", "ok"],
            id="starts-like-zstd",
        ),
    ],
)
def test_line_batch_to_frame(data: bytes, lines: list[str]) -> None:
    frame = LineBatch("web1.log", 41, data).to_frame()
    assert frame.schema == LINES_SCHEMA
    assert frame.rows() == [("web1.log", 41 + i, line) for i, line in enumerate(lines)]


def _reference_lines(data: bytes) -> list[str]:
    """What to_frame must give: split on LF, drop one CR before it, show bad bytes."""
    pieces = data.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()
    return [p.removesuffix(b"\r").decode("utf-8", "backslashreplace") for p in pieces]


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz", "zstd", "zlib"])
def test_line_batch_never_decompresses_its_bytes(kind: str) -> None:
    # read decompresses once; bytes that are still compressed are data, shown escaped.
    data = zlib.compress(TEXT) if kind == "zlib" else COMPRESSORS[kind](TEXT)
    frame = LineBatch("double.gz", 1, data).to_frame()
    assert frame[S.LINE].to_list() == _reference_lines(data)


_MAGICS = st.sampled_from(
    [b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"\x78\x9c", b"BZh", b"\xfd7zXZ\x00", b"\r", b"\n"]
)


@settings(max_examples=150, deadline=None)
@given(chunks=st.lists(st.one_of(st.binary(max_size=40), _MAGICS), max_size=10))
@example(chunks=[b"\x1f\x8b", b"\x00\x00"])
def test_line_batch_to_frame_matches_the_byte_reference(chunks: list[bytes]) -> None:
    data = b"".join(chunks)
    lines = _reference_lines(data)
    frame = LineBatch("rand.log", 7, data).to_frame()
    assert frame.rows() == [("rand.log", 7 + i, line) for i, line in enumerate(lines)]


@settings(max_examples=150, deadline=None)
@given(
    chunks=st.lists(
        st.one_of(st.binary(max_size=40), st.text(max_size=20).map(str.encode), _MAGICS),
        max_size=12,
    )
)
def test_a_few_lines_split_in_python_as_polars_splits_them(chunks: list[bytes]) -> None:
    # Small batches (the scanner's leftovers) are split without Polars' scan,
    # which cost half a millisecond each however few lines they held.
    data = b"".join(chunks)
    small = LineBatch("rand.log", 7, data).to_frame()
    real = read_module._SMALL_FRAME
    read_module._SMALL_FRAME = -1
    try:
        scanned = LineBatch("rand.log", 7, data).to_frame()
    finally:
        read_module._SMALL_FRAME = real
    assert_frame_equal(small, scanned)


@pytest.mark.parametrize("batch_bytes", [1 << 20, DEFAULT_BATCH_BYTES], ids=["1MiB", "default"])
def test_a_ten_megabyte_line_is_kept_whole(tmp_path: Path, batch_bytes: int) -> None:
    big = b"GET /" + b"a" * (10 * 1024 * 1024) + b" HTTP/1.1"
    path = tmp_path / "access.log"
    path.write_bytes(b"before\n" + big + b"\nafter\n")
    got = _frame(_batches(path, batch_bytes=batch_bytes))
    assert got[S.LINE_NO].to_list() == [1, 2, 3]
    assert got[S.LINE].str.len_bytes().to_list() == [6, len(big), 5]
    assert got[S.LINE][1] == big.decode()
    assert (got[S.LINE][0], got[S.LINE][2]) == ("before", "after")


def test_empty_file_yields_no_batches(tmp_path: Path) -> None:
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    assert _batches(path) == []


@pytest.mark.parametrize("kind", ["none", "gzip"])
def test_on_bytes_adds_up_to_the_size_on_disk(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "access.log"
    path.write_bytes(COMPRESSORS[kind](TEXT * 50))
    calls: list[int] = []
    _batches(path, batch_bytes=100, on_bytes=calls.append)
    assert all(n >= 0 for n in calls)
    assert sum(calls) == path.stat().st_size


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_is_read_like_a_file(tmp_path: Path) -> None:
    fifo = tmp_path / "access.log"
    os.mkfifo(fifo)
    data = gzip.compress(TEXT * 3)

    def write() -> None:
        with fifo.open("wb") as f:
            f.write(data)

    writer = threading.Thread(target=write)
    writer.start()
    calls: list[int] = []
    try:
        got = _frame(_batches(fifo, batch_bytes=16, on_bytes=calls.append))
    finally:
        writer.join(timeout=30)
    assert got[S.LINE].to_list() == TEXT_LINES * 3
    assert calls == []  # a pipe has no position to report progress with


# --- prefetch ------------------------------------------------------------------


def _numbered(n: int, then: BaseException | None = None) -> Iterator[LineBatch]:
    for i in range(1, n + 1):
        yield LineBatch("s", i, b"%d\n" % i)
    if then is not None:
        raise then


@pytest.mark.parametrize("depth", [1, 2, 8])
def test_prefetch_yields_every_batch_in_order(depth: int) -> None:
    assert list(prefetch(_numbered(20), depth=depth)) == list(_numbered(20))


@pytest.mark.parametrize("before", [0, 1, 5], ids=["at-once", "after-1", "after-5"])
def test_prefetch_hands_the_exception_to_the_consumer(before: int) -> None:
    boom = ValueError("boom")
    seen: list[LineBatch] = []
    with pytest.raises(ValueError, match=r"^boom$") as excinfo:
        seen.extend(prefetch(_numbered(before, then=boom), depth=2))
    assert excinfo.value is boom
    assert seen == list(_numbered(before))


def test_prefetch_passes_a_truncated_input_error_through(tmp_path: Path) -> None:
    path = tmp_path / "access.log.gz"
    path.write_bytes(gzip.compress(b"line 1\n")[:5])
    with pytest.raises(TruncatedInputError) as excinfo:
        list(prefetch(iter_batches(_one(path))))
    assert (excinfo.value.path, excinfo.value.line_no) == (str(path), 0)


def test_prefetch_reader_thread_ends_when_the_consumer_stops() -> None:
    def reader_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "loganalyzer-reader"]

    before = set(reader_threads())
    gen = prefetch(_numbered(1000), depth=1)
    assert next(gen) == LineBatch("s", 1, b"1\n")
    gen.close()
    deadline = time.monotonic() + 10
    while set(reader_threads()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert set(reader_threads()) - before == set()


class _Consumer:
    """A consumer slower than its reader, and a helper that records when it is called."""

    def __init__(self) -> None:
        self.taken = 0
        self.calls: list[tuple[int, int]] = []  # (batches taken so far, wait_ms)

    def helper(self, wait_ms: int) -> int:
        self.calls.append((self.taken, wait_ms))
        time.sleep(0.001)
        return 0


def test_prefetch_lends_the_reader_while_the_queue_is_full_and_at_the_end() -> None:
    consumer = _Consumer()
    got = []
    for batch in prefetch(_numbered(6), depth=2, helper=consumer.helper):
        time.sleep(0.03)  # the reader fills the queue meanwhile
        consumer.taken += 1
        got.append(batch)
    assert got == list(_numbered(6))
    assert consumer.calls, "the reader never offered help"
    assert all(wait > 0 for _, wait in consumer.calls)
    # Called while the consumer works through batches, and after the reader
    # has read the last (6 read, 2 of them still waiting in the queue).
    assert {taken for taken, _ in consumer.calls} >= {1, 4, 5}


def test_prefetch_helper_is_not_called_while_there_is_room() -> None:
    produced = [0]

    def counted() -> Iterator[LineBatch]:
        for batch in _numbered(3):
            produced[0] += 1
            yield batch

    def helper(wait_ms: int) -> int:
        calls.append(produced[0])
        time.sleep(0.001)
        return 0

    calls: list[int] = []
    got = []
    for batch in prefetch(counted(), depth=8, helper=helper):
        time.sleep(0.01)
        got.append(batch)
    assert got == list(_numbered(3))
    # Only once everything is read, while batches still wait.
    assert set(calls) <= {3}


def test_prefetch_with_a_helper_hands_the_exception_over_and_ends() -> None:
    boom = ValueError("boom")
    consumer = _Consumer()
    seen: list[LineBatch] = []

    def consume() -> None:
        for batch in prefetch(_numbered(5, then=boom), depth=1, helper=consumer.helper):
            time.sleep(0.01)
            seen.append(batch)

    with pytest.raises(ValueError, match=r"^boom$"):
        consume()
    assert seen == list(_numbered(5))
    gen = prefetch(_numbered(1000), depth=1, helper=consumer.helper)
    next(gen)
    gen.close()  # the reader stops helping and ends (see the test above)
    deadline = time.monotonic() + 10
    while any(t.name == "loganalyzer-reader" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "a reader thread did not end"
        time.sleep(0.01)


def test_compressed_batches_are_the_decoder_s_pieces_cut_after_a_line(tmp_path: Path) -> None:
    # The scanner sums the pieces as inflated (Sums.add): each batch's pieces
    # together are whole lines, and data joins them for everything else.
    lines = [f"line {i} ".encode() * (i % 7) + b"\n" for i in range(5000)]
    path = tmp_path / "a.log.gz"
    path.write_bytes(gzip.compress(b"".join(lines)))
    batches = list(iter_batches(_one(path), batch_bytes=20_000))
    assert len(batches) > 3
    line_no = 1
    for batch in batches:
        assert isinstance(batch.body, tuple)
        assert batch.compressed
        assert batch.data == b"".join(batch.pieces)
        assert batch.data.endswith(b"\n")
        assert batch.first_line_no == line_no
        line_no += batch.data.count(b"\n")
    assert b"".join(b.data for b in batches) == b"".join(lines)


# --- read_lines ----------------------------------------------------------------


def test_read_lines_on_the_combined_fixture() -> None:
    path = LOGS / "combined.log"
    expected = path.read_text(encoding="utf-8").splitlines()
    frame = read_lines([path]).collect()
    assert frame.schema == LINES_SCHEMA
    assert frame.height == 21 == len(expected)
    assert frame[S.SOURCE].unique().to_list() == [str(path)]
    assert frame[S.LINE_NO].to_list() == list(range(1, 22))
    assert frame[S.LINE].to_list() == expected
    assert frame.row(11) == (
        str(path),
        12,
        '67.43.156.7 - - [14/Sep/2026:00:01:05 +0000] "GET /favicon.ico HTTP/1.1" 200',
    )


def test_read_lines_numbers_each_file_from_one(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(b"a1\na2\n")
    (tmp_path / "b.log.gz").write_bytes(gzip.compress(b"b1\nb2\nb3"))
    (tmp_path / "c.log").write_bytes(b"")
    frame = read_lines([f"{tmp_path}/*.log*"]).collect()
    a, b = f"{tmp_path}/a.log", f"{tmp_path}/b.log.gz"
    assert frame.rows() == [(a, 1, "a1"), (a, 2, "a2"), (b, 1, "b1"), (b, 2, "b2"), (b, 3, "b3")]


def test_read_lines_of_an_empty_file_keeps_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    frame = read_lines([path]).collect()
    assert frame.schema == LINES_SCHEMA
    assert frame.height == 0


def _units(name: str, sizes: list[int], then: BaseException | None = None) -> Iterator[str]:
    """A stream of units: unit i of ``name`` is its items then an "end" item."""
    for i, size in enumerate(sizes):
        yield from (f"{name}{i}.{k}" for k in range(size))
        yield f"{name}{i}.end"
    if then is not None:
        raise then


def _ends(item: str) -> bool:
    return item.endswith(".end")


@pytest.mark.parametrize(
    ("a", "b"),
    [([2, 0, 3], [1, 4]), ([1], []), ([3, 3], [3, 3]), ([], [])],
    ids=["uneven", "one-unit", "even", "none"],
)
def test_prefetch_turns_gives_units_in_turn_each_whole(a: list[int], b: list[int]) -> None:
    # The pipeline deals files 0, 2, 4... to one stream and 1, 3, 5... to the
    # other: taken in turns, they come back in the files' order.
    expected: list[str] = []
    for i in range(len(a) + len(b)):
        name, sizes = ("a", a) if i % 2 == 0 else ("b", b)
        unit = i // 2
        expected += [f"{name}{unit}.{k}" for k in range(sizes[unit])] + [f"{name}{unit}.end"]
    for depth in (1, 2, 5):
        got = list(prefetch_turns([_units("a", a), _units("b", b)], _ends, depth=depth))
        assert got == expected


def test_prefetch_turns_raises_a_streams_error_in_its_turn() -> None:
    # The second stream fails at its second unit; the first stream's second
    # unit comes before it, whole, and nothing after it.
    boom = ValueError("boom")
    seen: list[str] = []
    with pytest.raises(ValueError, match=r"^boom$") as excinfo:
        seen.extend(prefetch_turns([_units("a", [1, 2, 1]), _units("b", [1], then=boom)], _ends))
    assert excinfo.value is boom
    assert seen == ["a0.0", "a0.end", "b0.0", "b0.end", "a1.0", "a1.1", "a1.end"]


def test_prefetch_turns_reads_the_streams_at_once_and_stops_both() -> None:
    # Each stream waits at its start for the other to start: one reader for
    # both would wait forever (here, until the barrier's timeout breaks it).
    barrier = threading.Barrier(2, timeout=10)

    def stream(name: str) -> Iterator[str]:
        barrier.wait()
        yield from _units(name, [1000] * 5)

    def reader_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "loganalyzer-reader"}

    before = reader_threads()
    gen = prefetch_turns([stream("a"), stream("b")], _ends, depth=1)
    assert next(gen) == "a0.0"
    assert len(reader_threads() - before) == 2
    gen.close()
    deadline = time.monotonic() + 10
    while reader_threads() - before:
        assert time.monotonic() < deadline, "a reader thread did not end"
        time.sleep(0.01)
