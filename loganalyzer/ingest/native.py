"""The native fast path for common and combined logs, when a report needs few columns.

A report (``report``, ``compare``, ``brief``, the cluster's map side) needs only
the client, the time, the status and the bytes of each line. For the two NCSA
presets, the C scanner (``loganalyzer/native/scan.c``) checks each line and reads
those four in one pass over the bytes, which Polars expressions cannot do at the
same cost (issue 6). It accepts only lines it is sure of; every other line goes,
verbatim and with its line number, through
:func:`loganalyzer.ingest.parse.parse_lines` as before, so counts, rejects and
reports are unchanged (``tests/ingest/test_native.py``).

The scanner is built when the package is installed. Where no C compiler is
available the install still succeeds without it, :data:`AVAILABLE` is False,
and every line takes the Polars path. ``LOGANALYZER_NATIVE=0`` turns off every
native function (:func:`enabled`). The C is built with the sanitizers and
fuzzed by ``.ci/sanitize`` (``docs/fuzzing.md``).
"""

from __future__ import annotations

import errno
import importlib
import mmap
import os
import stat
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import polars as pl

from loganalyzer import schema as S
from loganalyzer.ingest.formats import LogFormat
from loganalyzer.ingest.parse import ParseOptions
from loganalyzer.ingest.presets import COMBINED, COMMON
from loganalyzer.ingest.read import (
    _UNSUPPORTED,
    InputFile,
    LineBatch,
    detect_compression,
    native_switched_on,
)

_clf: ModuleType | None
try:
    from loganalyzer import _clf
except ImportError:  # built without a C compiler: the Polars path does everything
    _clf = None

AVAILABLE = _clf is not None
"""Whether the scanner was built."""

# The module: the package exports a function of the same name.
_parse_module = importlib.import_module("loganalyzer.ingest.parse")
_KINDS = {0: COMMON, 1: COMBINED}
_COLUMNS = frozenset({S.SOURCE, S.LINE_NO, S.CLIENT, S.TS, S.STATUS, S.BYTES})


def enabled() -> bool:
    """The scanner is built and not turned off with ``LOGANALYZER_NATIVE=0``.

    Every caller of the native module asks this first (``count_lines`` asks
    :func:`~loganalyzer.ingest.read.native_switched_on`, the same switch), so
    that with the switch off no C runs and the reference test compares the
    whole native side with the Polars path.
    """
    return AVAILABLE and native_switched_on()


def kind_for(
    fmt: LogFormat | None, columns: Collection[str] | None, options: ParseOptions | None
) -> int | None:
    """The scanner's kind for this format and these columns, or None for the Polars path.

    The format must be one of the two presets to the letter (by its regex, so a
    ``--log-format`` that spells one out qualifies), the client the connection's
    address, and the columns wanted among those the scanner reads.
    """
    # Read at each call: the reference test turns the quick time path off.
    if fmt is None or columns is None or not enabled() or not _parse_module.QUICK_CLF_TIMES:
        return None
    if not set(columns) <= _COLUMNS:
        return None
    if options is not None and options.client_ip != "conn":
        return None
    for kind, preset in _KINDS.items():
        if fmt.regex == preset.regex and fmt.columns == preset.columns and fmt.time == "clf":
            return kind
    return None


def plain_file(inp: InputFile) -> bool:
    """A local regular file, not compressed: the scanner can read it by offset."""
    if inp.path is None or inp.url is not None or inp.is_stdin:
        return False
    try:
        if not stat.S_ISREG(inp.path.stat().st_mode):
            return False
        with open(inp.path, "rb") as f:
            head = f.read(10)
    except OSError:
        return False
    # An archive or a compression that is not read is named by the usual path.
    if any(head.startswith(magic) for magic, _, _ in _UNSUPPORTED):
        return False
    return detect_compression(head, complete=len(head) < 10) == "none"


@dataclass(frozen=True)
class Scanned:
    """One batch through the scanner.

    Attributes:
        rows: the accepted lines as parsed requests (``source``, ``line_no``,
            ``client``, ``ts``, ``status``, ``bytes_sent``), in line order.
        rest: every other line as ``source``, ``line_no``, ``line``, in line order,
            for the general parser.
        lines: how many lines the batch held.
    """

    rows: pl.DataFrame
    rest: pl.DataFrame
    lines: int


def scan(batch: LineBatch, kind: int) -> Scanned:
    """Split a batch into the lines the scanner read and the rest."""
    assert _clf is not None
    lines, index, clients, ts, status, nbytes, rest, rest_index = _clf.scan(batch.data, kind)
    rows = pl.DataFrame(
        [
            pl.Series(S.LINE_NO, np.frombuffer(index, np.int64)),
            _names(clients, S.CLIENT),
            pl.Series(S.TS, np.frombuffer(ts, np.int64)),
            pl.Series(S.STATUS, np.frombuffer(status, np.int32)),
            pl.Series(S.BYTES, np.frombuffer(nbytes, np.int64)),
        ]
    ).select(
        pl.lit(batch.source, pl.String).alias(S.SOURCE),
        pl.col(S.LINE_NO) + batch.first_line_no,
        pl.col(S.CLIENT),
        pl.col(S.TS).cast(S.DATETIME),
        # -1: the server wrote "-".
        pl.when(pl.col(S.STATUS) >= 0).then(pl.col(S.STATUS)).alias(S.STATUS),
        pl.when(pl.col(S.BYTES) >= 0).then(pl.col(S.BYTES)).alias(S.BYTES),
    )
    return Scanned(rows, _rest_lines(batch.source, batch.first_line_no, rest, rest_index), lines)


# The sums reduce() returns, in its order (native/table.c's N_SUMS).
_SUMS = (S.REQUESTS, S.BYTES, *S.STATUS_CLASSES)


class Sums:
    """Per-client sums of the lines the scanner reads, across every batch of a run.

    For a report keyed by client alone with no filters: what
    :func:`loganalyzer.analysis.aggregate.partials` makes of those lines, without a frame
    of every request. Lines the scanner does not read come back from
    :meth:`add` for the general parser, verbatim and numbered.
    """

    _grouped = False

    def __init__(self) -> None:
        assert _clf is not None
        # A random hash seed per run: the client strings come from the log.
        seed = int.from_bytes(os.urandom(8), "little")
        self._reducer = _clf.Reducer(seed=seed, grouped=self._grouped)

    def add(self, batch: LineBatch, kind: int) -> tuple[pl.DataFrame, int, int]:
        """Sum a batch's lines of the usual shape.

        Returns:
            The other lines (``source``, ``line_no``, ``line``, in line order),
            how many lines the batch held, and how many were summed.
        """
        if batch.compressed:
            # The reader inflating the next batch has a core of its own, and
            # lends it to this one when the read-ahead is full (help()): two
            # threads of ours beside it were slower (1.40-1.54 s against
            # 1.25-1.31 s with one for the gzipped benchmark log). The pieces
            # are summed as inflated, never joined (see LineBatch.data).
            result = self._reducer.add_pieces(batch.pieces, kind, True)
        else:
            result = self._reducer.add(batch.data, kind, 2)
        lines, accepted, rest, rest_index = result
        return _rest_lines(batch.source, batch.first_line_no, rest, rest_index), lines, accepted

    def help(self, wait_ms: int) -> int:
        """Sum pieces of a compressed batch another thread is adding, if one comes.

        For the reader's thread while the read-ahead queue is full: it waits up
        to ``wait_ms`` for :meth:`add` to start on a compressed batch and sums
        its pieces with the adding thread until none is left, into a table of
        its own. One helper at a time. Returns how many pieces it summed.
        """
        helped: int = self._reducer.help(wait_ms)
        return helped

    def read(self, fd: int, offset: int, size: int, kind: int) -> tuple[int, np.ndarray, int, int]:
        """Read and sum the lines of a plain file that start in ``[offset, offset + size)``.

        ``offset`` must start a line. Two threads each read and sum a half,
        a megabyte at a time, so nothing passes through Python but where the
        lines the scanner does not read are.

        Returns:
            Where the next line starts (the file's size at its end: no further
            call is needed when it equals ``offset``); the runs of lines left
            for the general parser, one row each of file offset, length, first
            line (counted from 0 at ``offset``) and lines, for
            :func:`span_lines`; and how many lines were read and how many summed.

        Raises:
            OSError: a read failed; the sums are then incomplete and refuse
                further use.
        """
        end, lines, accepted, spans = self._reducer.read(fd, offset, size, kind)
        return end, np.frombuffer(spans, np.int64).reshape(-1, 4), lines, accepted

    def partial(self) -> pl.DataFrame:
        """The sums so far, one partial row per client.

        The columns are ``client``, ``requests``, ``bytes_sent``, the status
        classes, ``first_seen`` and ``last_seen``. Each half of a batch is summed
        into a table of its own; the second is folded into the first here.
        """
        n, names, sums, first, last = self._reducer.sums()
        columns = np.frombuffer(sums, np.int64).reshape(len(_SUMS), n)
        return pl.DataFrame(
            [
                _names(names, S.CLIENT),
                *(pl.Series(name, col) for name, col in zip(_SUMS, columns, strict=True)),
                pl.Series(S.FIRST_SEEN, np.frombuffer(first, np.int64)).cast(S.DATETIME),
                pl.Series(S.LAST_SEEN, np.frombuffer(last, np.int64)).cast(S.DATETIME),
            ]
        )


class GroupSums(Sums):
    """Sums per group (a report's row), each client looked up once.

    The reader's side is that of :class:`Sums` (:meth:`add`, :meth:`read`).
    A client first seen is summed on its own and *pending* until it is given
    its group with :meth:`assign`; from then on its lines are summed straight
    into the group's sums, and only its key and group are kept (see
    ``Groups`` in ``native/table.c``). :mod:`loganalyzer.analysis.tally` says which group.
    """

    _grouped = True

    def waiting(self) -> int:
        """At most how many clients are pending (each half-batch's count, added)."""
        waiting: int = self._reducer.waiting()
        return waiting

    def pending(self) -> pl.Series:
        """The pending clients, distinct, in the order :meth:`assign` takes."""
        return _names(self._reducer.pending(), S.CLIENT)

    def assign(self, groups: pl.Series, whos: pl.Series) -> None:
        """Give the pending clients their groups (numbered from 0; -1 to leave out).

        ``whos`` are their canonical addresses (the client itself when it is
        none): each who counts once among its group's distinct clients.
        """
        self._reducer.assign(groups.cast(pl.Int32).to_numpy().tobytes(), _joined(whos))

    def merge(self, partials: pl.DataFrame) -> None:
        """Add per-client partials made by Polars.

        See :func:`~loganalyzer.analysis.aggregate.partials`.
        """
        # A report joins clients to their lookup: a null client never reaches it.
        rows = partials.filter(pl.col(S.CLIENT).is_not_null())
        if rows.is_empty():
            return
        sums = np.concatenate([rows[c].cast(pl.Int64).to_numpy() for c in _SUMS])
        first = rows[S.FIRST_SEEN].dt.epoch("us").fill_null(_NO_FIRST).to_numpy()
        last = rows[S.LAST_SEEN].dt.epoch("us").fill_null(_NO_LAST).to_numpy()
        self._reducer.merge(
            _joined(rows[S.CLIENT]), sums.tobytes(), first.tobytes(), last.tobytes()
        )

    def groups(self) -> pl.DataFrame:
        """Every group's sums, row ``i`` for group ``i``; nothing may be pending.

        The columns are ``requests``, ``bytes_sent``, the status classes,
        ``first_seen``, ``last_seen`` and ``unique_ips``.
        """
        n, sums, first, last, unique = self._reducer.groups()
        columns = np.frombuffer(sums, np.int64).reshape(len(_SUMS), n)

        def time(raw: bytes, none: int, name: str) -> pl.Series:
            values = pl.Series(name, np.frombuffer(raw, np.int64))
            return values.set(values == none, None).cast(S.DATETIME)

        return pl.DataFrame(
            [
                *(pl.Series(name, col) for name, col in zip(_SUMS, columns, strict=True)),
                time(first, _NO_FIRST, S.FIRST_SEEN),
                time(last, _NO_LAST, S.LAST_SEEN),
                pl.Series(S.UNIQUE_IPS, np.frombuffer(unique, np.int64)),
            ]
        )

    def partial(self) -> pl.DataFrame:
        """Not kept: the sums are per group (see :meth:`groups`)."""
        raise TypeError("GroupSums keeps no per-client partials; see groups()")


@dataclass(frozen=True)
class AddressKeys:
    """Addresses as numbers (:func:`address_keys`), one row per address given.

    Attributes:
        versions: 4 or 6; 0 where ``inet_pton`` does not read the text.
        hi: the first 64 bits of each 128-bit key (IPv4 as IPv4-mapped IPv6).
        lo: the last 64 bits.
    """

    versions: np.ndarray
    hi: np.ndarray
    lo: np.ndarray

    def keys(self) -> pl.Series:
        """The 128-bit keys, null where the version is 0."""
        wide = pl.lit(1 << 64, pl.UInt128)
        keys = pl.select(
            pl.when(pl.Series(self.versions) != 0).then(
                pl.Series(self.hi).cast(pl.UInt128) * wide + pl.Series(self.lo).cast(pl.UInt128)
            )
        )
        return keys.to_series()


def address_keys(ips: pl.Series) -> AddressKeys:
    """Each plain address's version and 128-bit key, read in C (``ip_keys`` in ``native/addr.c``).

    Anything ``inet_pton`` does not read as it stands (a null, leading zeros,
    brackets, zone ids, spaces) gets version 0, for the caller's slower path.
    """
    assert _clf is not None
    n = ips.len()
    none = AddressKeys(np.zeros(n, np.int8), np.zeros(n, np.uint64), np.zeros(n, np.uint64))
    if ips.is_empty():
        return none
    versions, hi, lo = _clf.ip_keys(_joined(ips.fill_null(""))[1:])
    if len(versions) != n:
        # A newline split a name in two: such a column is left whole to the caller.
        return none
    return AddressKeys(
        np.frombuffer(versions, np.int8), np.frombuffer(hi, np.uint64), np.frombuffer(lo, np.uint64)
    )


def v6_texts(hi: np.ndarray, lo: np.ndarray) -> list[str]:
    """The RFC 5952 text of each IPv6 address, given as its first and last 64 bits.

    As :mod:`ipaddress` writes it (``v6_text`` in ``native/addr.c``): never a dotted tail.
    """
    assert _clf is not None
    if len(hi) == 0:
        return []
    text: bytes = _clf.v6_texts(hi.astype(np.uint64).tobytes(), lo.astype(np.uint64).tobytes())
    return text.decode("ascii").split("\n")[:-1]


# From this many addresses a walk of the search tree runs on two threads.
_SPLIT_WALK = 4096


class SearchTree:
    """A MaxMind DB's search tree, walked in C for many addresses at once.

    The reference readers find each address's data and decode it; a report
    needs the data of some tens of thousands of distinct records, one per
    network it saw, for a hundred thousand addresses. :meth:`records` says which
    record each address has, so that each record is decoded once
    (:func:`loganalyzer.geo.enrich.lookup`).

    Args:
        path: the database file.

    Raises:
        maxminddb.InvalidDatabaseError, OSError, ValueError: as
            :func:`maxminddb.open_database` raises them.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        import maxminddb

        with maxminddb.open_database(str(path), maxminddb.MODE_MMAP) as reader:
            meta = reader.metadata()
        self._node_count = int(meta.node_count)
        self._record_size = int(meta.record_size)
        self._ip_version = int(meta.ip_version)
        with open(path, "rb") as fh:
            # Mapped: the walk and the decoder read only the pages they need.
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        # The data section follows the tree (two records a node) and 16 zero bytes.
        self._data_start = self._node_count * self._record_size // 4 + 16

    def records(self, keys: AddressKeys) -> pl.Series:
        """Each address's record: equal numbers for the same data, null for none."""
        return self.find(keys)[0]

    def find(self, keys: AddressKeys) -> tuple[pl.Series, np.ndarray]:
        """Each address's record (as :meth:`records`) and the length of its network.

        The lengths (uint8) are those of ``maxminddb``'s ``get_with_prefix_len``:
        of the network the record covers, counted from the IPv4 start for IPv4.
        """
        assert _clf is not None
        # In address order, neighbours share most of their path and its nodes
        # are in cache: half the time of the log's order for the benchmark log.
        order = np.lexsort((keys.lo, keys.hi))
        versions, hi, lo = keys.versions[order], keys.hi[order], keys.lo[order]

        def walk(part: slice) -> tuple[bytes, bytes]:
            assert _clf is not None
            return _clf.mmdb_records(  # type: ignore[no-any-return]
                self._map,
                self._node_count,
                self._record_size,
                self._ip_version,
                versions[part].tobytes(),
                hi[part].tobytes(),
                lo[part].tobytes(),
            )

        if len(order) < _SPLIT_WALK:
            raw, lengths = walk(slice(None))
        else:
            # The walk releases the GIL, and a report looks clients up while the
            # scanner waits: the second half on another thread, beside this one.
            half = len(order) // 2
            with ThreadPoolExecutor(max_workers=1) as pool:
                second = pool.submit(walk, slice(half, None))
                first = walk(slice(None, half))
                rest = second.result()  # its exception, if any, is raised here
            raw, lengths = first[0] + rest[0], first[1] + rest[1]
        found = np.empty(len(order), np.int64)
        found[order] = np.frombuffer(raw, np.int64)
        prefixes = np.empty(len(order), np.uint8)
        prefixes[order] = np.frombuffer(lengths, np.uint8)
        series = pl.Series("_record", found)
        return series.set(series < 0, None), prefixes

    def decode(self, records: pl.Series, paths: list[tuple[str | int, ...]]) -> list[list[Any]]:
        """The value at each path (map keys and array indexes) of each record.

        ``records`` are numbers from :meth:`records`, without nulls. Values are
        as maxminddb decodes them (str, float, int, bool); None where a path
        leads nowhere, or to a map or an array. The empty path gives the
        number of pairs of a record that is a map.

        Raises:
            ValueError: the file's data section is damaged where it was read.
        """
        assert _clf is not None
        # A record number past the nodes is an offset into the data section.
        offsets = records.cast(pl.Int64) - (self._node_count + 16)
        with memoryview(self._map) as whole, whole[self._data_start :] as data:
            values: list[list[Any]] = _clf.mmdb_decode(data, offsets.to_numpy().tobytes(), paths)
        return values

    def close(self) -> None:
        """Unmap the file."""
        self._map.close()


# A group's or a row's time when it has none (native/table.c's acc_empty).
_NO_FIRST = np.iinfo(np.int64).max
_NO_LAST = np.iinfo(np.int64).min


def _joined(names: pl.Series) -> bytes:
    """Names as the scanner takes them: a newline first and after each."""
    if names.is_empty():
        return b"\n"
    joined: str = names.str.join("\n").item()
    return ("\n" + joined + "\n").encode()


# How much of a run of lines is read back at once (see span_lines).
_PIECE = 1 << 20


def span_lines(fd: int, spans: np.ndarray, source: str, line_no: int) -> Iterator[pl.DataFrame]:
    """The lines of :meth:`Sums.read`'s runs, read back from the file a piece at a time.

    ``line_no`` is the number of the line at the read's ``offset``. Yields
    ``source``, ``line_no``, ``line`` frames of about a megabyte or less: short
    runs (most are a single line) together, long ones cut at line ends.

    Raises:
        OSError: a read failed, or the file shrank since the scanner read it.
    """
    held: list[bytes] = []  # short runs, read and waiting to be yielded together
    numbers: list[np.ndarray] = []
    size = 0
    for off, length, first, count in spans.tolist():
        if length <= _PIECE:
            held.append(_pread(fd, length, off))
            numbers.append(np.arange(first, first + count, dtype=np.int64))
            size += length
        if held and (length > _PIECE or size >= _PIECE):
            yield _rest_lines(source, line_no, b"".join(held), np.concatenate(numbers))
            held, numbers, size = [], [], 0
        if length <= _PIECE:
            continue
        number, end = line_no + first, off + length
        while off < end:
            data = _pread(fd, min(_PIECE, end - off), off)
            cut = len(data) if off + len(data) == end else data.rfind(b"\n") + 1
            while cut == 0:  # one line longer than a piece: read on to its end
                data += _pread(fd, min(_PIECE, end - off - len(data)), off + len(data))
                cut = len(data) if off + len(data) == end else data.rfind(b"\n") + 1
            frame = LineBatch(source, number, data[:cut]).to_frame()
            yield frame
            number, off = number + frame.height, off + cut
    if held:
        yield _rest_lines(source, line_no, b"".join(held), np.concatenate(numbers))


def _pread(fd: int, size: int, offset: int) -> bytes:
    data = os.pread(fd, size, offset)
    if len(data) < size:
        raise OSError(errno.EIO, "the file shrank while it was read")
    return data


def _names(lines: bytes, name: str) -> pl.Series:
    """The scanner's newline-ended names (after one leading newline) as a column."""
    # The leading newline: Polars sniffs compression from a buffer's first bytes.
    return pl.scan_lines(lines, name=name).collect().to_series().slice(1)


def _rest_lines(
    source: str, first_line_no: int, rest: bytes, rest_index: bytes | np.ndarray
) -> pl.DataFrame:
    """The lines the scanner handed back, numbered, for the general parser."""
    if not rest:
        return pl.DataFrame(
            schema={S.SOURCE: pl.String(), S.LINE_NO: pl.Int64(), S.LINE: pl.String()}
        )
    frame = LineBatch(source, 1, rest).to_frame()
    return frame.with_columns(
        pl.Series(S.LINE_NO, np.frombuffer(rest_index, np.int64)) + first_line_no
    )
