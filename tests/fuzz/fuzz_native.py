"""A fuzz harness for every entry point of ``loganalyzer._clf`` (issue 26).

Each input is read every way the module reads bytes: as log lines (``scan``,
``count_lines``, a ``Reducer`` adding it whole, in pieces, from a file and by
groups), as newline-ended addresses (``ip_keys``, ``public_v6``), as pairs of
64-bit halves (``v6_texts``), and as a MaxMind DB (the search tree walk
``mmdb_records`` and the decoder ``mmdb_decode``, with the file's own metadata
when it has some). Besides memory errors, which the sanitizer build turns into
crashes, each call's result is checked against what the module promises, so a
wrong answer is a finding too.

Run by ``.ci/sanitize`` for a short smoke, and for a long campaign as
``docs/fuzzing.md`` says. Coverage of the C comes from building the extension
with ``-fsanitize=fuzzer-no-link`` and preloading atheris's libFuzzer runtime.
``tests/ingest/test_native_fuzz.py`` runs the corpus through :func:`one_input` in the
ordinary test run, so the harness cannot rot between campaigns.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import sys
from pathlib import Path

import numpy as np

try:
    from loganalyzer import _clf
except ImportError:  # built without a C compiler: nothing to fuzz (main() says so)
    _clf = None

_KINDS = (0, 1)  # common, combined
_MAX_BYTES = 1 << 48  # parse.MAX_BYTES: the scanner hands larger counts back
_METADATA = b"\xab\xcd\xefMaxMind.com"
_PATHS = [
    (),
    ("country", "iso_code"),
    ("subdivisions", 0, "iso_code"),
    ("city", "names", "en"),
    ("location", "latitude"),
    ("autonomous_system_number",),
]


def one_input(data: bytes) -> None:
    """Every entry point on ``data``; AssertionError when a result breaks a promise."""
    newlines = _clf.count_lines(data)
    assert newlines == data.count(b"\n")
    for kind in _KINDS:
        _lines(data, kind, newlines)
    _grouped(data)
    names = _addresses(data, newlines)
    _mmdb(data, names)


def _lines(data: bytes, kind: int, newlines: int) -> None:
    lines, index, clients, _, status, nbytes, rest, rest_index = _clf.scan(data, kind)
    accepted = len(index) // 8
    assert lines == newlines + (bool(data) and not data.endswith(b"\n"))
    assert accepted + len(rest_index) // 8 == lines
    assert clients.count(b"\n") == accepted + 1
    assert len(status) == 4 * accepted
    sent = np.frombuffer(nbytes, np.int64)
    assert ((sent == -1) | ((sent >= 0) & (sent <= _MAX_BYTES))).all()
    # The lines handed back are the input's own, in order.
    assert len(rest) <= len(data)
    whole = _clf.Reducer(seed=len(data))
    assert whole.add(data, kind, 2) == (lines, accepted, rest, rest_index)
    assert _requests(whole) == accepted
    pieces = _pieces(data)
    cut = _clf.Reducer(seed=1)
    assert cut.add_pieces(pieces, kind, False) == (lines, accepted, rest, rest_index)
    assert _totals(cut) == _totals(whole)
    read = _clf.Reducer(seed=2)
    fd = os.memfd_create("fuzz")
    try:
        os.write(fd, data)
        if data:
            end, read_lines, read_accepted, _ = read.read(fd, 0, len(data), kind)
            assert (end, read_lines, read_accepted) == (len(data), lines, accepted)
    finally:
        os.close(fd)
    assert _totals(read) == _totals(whole)


def _pieces(data: bytes) -> list[bytes]:
    """The input cut where its first bytes say, pieces of nothing included."""
    cuts = sorted(b * len(data) // 255 for b in data[:4])
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def _requests(reducer: _clf.Reducer) -> int:
    return _totals(reducer)[0]


def _totals(reducer: _clf.Reducer) -> tuple[int, ...]:
    n, _, sums, _, _ = reducer.sums()
    columns = np.frombuffer(sums, np.int64).reshape(7, n)
    assert (columns >= 0).all(), "a sum went negative"
    return tuple(int(x) for x in columns.sum(axis=1))


def _grouped(data: bytes) -> None:
    # Pending clients put in group 0 or left out (-1) by their first byte; the
    # same lines again, then summed straight into their groups.
    reducer = _clf.Reducer(seed=3, grouped=True)
    _, accepted, _, _ = reducer.add(data, 1)
    pending = reducer.pending()
    names = pending.split(b"\n")[1:-1]
    assert len(names) <= reducer.waiting()
    groups = np.array([(name[0] % 2) - 1 if name else -1 for name in names], np.int32)
    reducer.assign(groups.tobytes(), pending)
    _, again, _, _ = reducer.add(data, 1)
    assert again == accepted
    n, sums, _, _, unique = reducer.groups()
    columns = np.frombuffer(sums, np.int64).reshape(7, n)
    assert (columns >= 0).all()
    kept = {name for name, group in zip(names, groups.tolist(), strict=True) if group >= 0}
    assert int(np.frombuffer(unique, np.int64).sum()) == len(kept)


def _addresses(data: bytes, newlines: int) -> list[bytes]:
    names = data.split(b"\n")[:newlines]
    versions, hi, lo = _clf.ip_keys(data)
    assert len(versions) == newlines
    v = np.frombuffer(versions, np.int8)
    his, los = np.frombuffer(hi, np.uint64), np.frombuffer(lo, np.uint64)
    for i in np.flatnonzero(v).tolist():
        key = int(his[i]) << 64 | int(los[i])
        text = names[i].decode("ascii")
        if v[i] == 4:
            assert key >> 32 == 0xFFFF
            assert socket.inet_pton(socket.AF_INET, text) == (key & 0xFFFFFFFF).to_bytes(4, "big")
        else:
            assert v[i] == 6
            assert socket.inet_pton(socket.AF_INET6, text) == key.to_bytes(16, "big")
    public = _clf.public_v6(data).split(b"\n")
    assert len(public) == newlines + 1
    for text in public[:-1]:
        if text:
            address = ipaddress.IPv6Address(text.decode("ascii"))
            assert str(address) == text.decode("ascii")
            assert address.is_global
    width = len(data) // 16 * 8
    his, los = (
        np.frombuffer(data[:width], np.uint64),
        np.frombuffer(data[width : 2 * width], np.uint64),
    )
    texts = _clf.v6_texts(his.tobytes(), los.tobytes()).decode("ascii").split("\n")[:-1]
    for text, high, low in zip(texts, his.tolist(), los.tolist(), strict=True):
        assert text == str(ipaddress.IPv6Address(high << 64 | low))
    return names


def _mmdb(data: bytes, names: list[bytes]) -> None:
    shape = _metadata(data)
    if shape is None:
        head = data[:4].ljust(4, b"\0")
        size = (24, 28, 32)[head[0] % 3]
        ipv = 6 if head[1] & 1 else 4
        fits = len(data) * 4 // size
        node_count = int.from_bytes(head[2:4], "big") % (fits + 1)
    else:
        node_count, size, ipv = shape
    versions, hi, lo = _clf.ip_keys(b"".join(n + b"\n" for n in names))
    extra = np.frombuffer(data[: len(data) // 16 * 16], np.uint64)
    versions += bytes([6]) * (len(extra) // 2) + bytes([4]) * (len(extra) // 2)
    hi += extra[0::2].tobytes() + np.zeros(len(extra) // 2, np.uint64).tobytes()
    lo += extra[1::2].tobytes() + (extra[1::2] & 0xFFFFFFFF | 0xFFFF00000000).tobytes()
    try:
        records, prefixes = _clf.mmdb_records(data, node_count, size, ipv, versions, hi, lo)
    except ValueError:
        assert len(data) < node_count * size // 4
        return
    found = np.frombuffer(records, np.int64)
    assert ((found == -1) | (found > node_count)).all()
    assert (np.frombuffer(prefixes, np.uint8) <= 128).all()
    section = data[node_count * size // 4 + 16 :]
    offsets = found[found > node_count] - (node_count + 16)
    raw = np.frombuffer(data[: len(data) // 8 * 8][:64], np.int64) % (len(section) + 2)
    for chosen in (offsets, raw):
        try:
            values = _clf.mmdb_decode(section, chosen.astype(np.int64).tobytes(), _PATHS)
        except ValueError:
            continue
        assert len(values) == len(_PATHS)
        assert all(len(column) == len(chosen) for column in values)


def _metadata(data: bytes) -> tuple[int, int, int] | None:
    """The file's node count, record size and IP version, when it is laid out as a MaxMind DB."""
    at = data.rfind(_METADATA)
    if at < 0:
        return None
    meta = data[at + len(_METADATA) :]
    paths = [("node_count",), ("record_size",), ("ip_version",)]
    try:
        values = _clf.mmdb_decode(meta, np.zeros(1, np.int64).tobytes(), paths)
    except ValueError:
        return None
    node_count, size, ipv = (column[0] for column in values)
    if not all(isinstance(x, int) for x in (node_count, size, ipv)):
        return None
    if size not in (24, 28, 32) or ipv not in (4, 6) or not 0 <= node_count < 1 << 32:
        return None
    return node_count, size, ipv


def dictionary(path: Path) -> list[bytes]:
    """The tokens of a libFuzzer dictionary: its quoted lines, backslash escapes read."""
    tokens = []
    for line in path.read_text(encoding="ascii").splitlines():
        if line.startswith('"') and line.endswith('"'):
            body = line[1:-1].encode("ascii")
            tokens.append(re.sub(rb"\\(x[0-9a-fA-F]{2}|.)", lambda m: _unescape(m.group(1)), body))
    return tokens


def _unescape(escape: bytes) -> bytes:
    return bytes([int(escape[1:], 16)]) if escape[:1] == b"x" else escape


def main() -> None:
    """libFuzzer's command line (``-max_total_time=60 CORPUS...``); without atheris, run files."""
    if _clf is None:
        sys.exit("loganalyzer._clf is not built: nothing to fuzz")
    try:
        import atheris
    except ImportError:
        for path in sys.argv[1:]:
            with open(path, "rb") as f:
                one_input(f.read())
        return
    atheris.Setup(sys.argv, atheris.instrument_func(one_input))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
