"""The native module keeps memory whole whatever Python does with it (issue 26).

The project's own flow never shares a Reducer between threads or changes a
buffer it handed to C. But ``loganalyzer._clf`` is importable, and a C extension
must not corrupt memory whatever its callers do: each test here is one of the
audit's reproducers (or one found beside them), and crashed the interpreter, or
did under AddressSanitizer, before its fix. ``.ci/sanitize`` runs this file
with the module built with ASan and UBSan, where a bad read or write that
happens not to crash fails the run too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from loganalyzer.ingest import native

pytestmark = pytest.mark.skipif(not native.AVAILABLE, reason="built without a C compiler")

if native.AVAILABLE:
    from loganalyzer import _clf

GOOD = (
    b'175.167.3.4 - - [14/Sep/2026:08:01:02 +0800] "GET / HTTP/1.1" 200 512 '
    b'"https://example.org/" "Mozilla/5.0 (X11; Linux x86_64)"\n'
)
COMBINED = 1
# Long enough that a batch takes tens of milliseconds without the GIL.
BIG = GOOD * 300_000


def _requests(reducer: _clf.Reducer) -> int:
    n, _, sums, _, _ = reducer.sums()
    return int(np.frombuffer(sums, np.int64)[:n].sum())


def _while_adding(reducer: _clf.Reducer, call: Callable[[], object]) -> list[RuntimeError]:
    """Call ``call`` over and over while another thread adds BIG; the refusals, up to the first.

    The adding thread tries again when its own add is refused: a call of the
    method under test may hold the table for a moment before the add starts.
    """
    finished = threading.Event()

    def add() -> None:
        try:
            while True:
                try:
                    reducer.add(BIG, COMBINED, 1)
                    return
                except RuntimeError:
                    time.sleep(0.001)
        finally:
            finished.set()

    thread = threading.Thread(target=add)
    thread.start()
    refused: list[RuntimeError] = []
    try:
        while not finished.is_set():
            try:
                call()
            except RuntimeError as exc:
                refused.append(exc)
                break
    finally:
        thread.join()
    return refused


def test_init_while_another_thread_adds_is_refused() -> None:
    # The audit's first finding: __init__ freed the tables under add(), and
    # table_grow wrote past the new ones.
    reducer = _clf.Reducer(seed=7)
    refused = _while_adding(reducer, lambda: reducer.__init__(seed=7))
    assert refused, "no __init__ call came while the add ran"
    assert "in use" in str(refused[0])
    # Every __init__ that went through came before the add: its lines are all there.
    assert _requests(reducer) == BIG.count(b"\n")


@pytest.mark.parametrize("method", ["sums", "waiting", "merge"])
def test_every_method_that_touches_the_table_refuses_while_another_adds(method: str) -> None:
    reducer = _clf.Reducer(seed=3)
    calls: dict[str, Callable[[], object]] = {
        "sums": reducer.sums,
        "waiting": reducer.waiting,
        "merge": lambda: reducer.merge(
            b"\n9.9.9.9\n",
            np.ones(7, np.int64).tobytes(),
            np.zeros(1, np.int64).tobytes(),
            np.zeros(1, np.int64).tobytes(),
        ),
    }
    refused = _while_adding(reducer, calls[method])
    assert refused, f"no {method}() call came while the add ran"
    assert "in use" in str(refused[0])


def test_add_pieces_holds_the_table_while_it_reads_a_generator() -> None:
    # The audit's second finding: the pieces were read (Python code, for a
    # generator) after the check and before the table was taken, so an add()
    # slipped in, and both grew the same table (a double free in realloc).
    reducer = _clf.Reducer(seed=5)
    inner: list[BaseException] = []

    def pieces() -> Iterator[bytes]:
        try:
            reducer.add(GOOD, COMBINED)
        except RuntimeError as exc:
            inner.append(exc)
        yield GOOD * 3

    lines, accepted, rest, _ = reducer.add_pieces(pieces(), COMBINED)
    assert (lines, accepted, rest) == (3, 3, b"")
    assert inner, "add() ran inside add_pieces()"
    assert "in use" in str(inner[0])
    assert _requests(reducer) == 3


def test_add_pieces_holds_the_table_against_another_thread() -> None:
    # The race itself: the generator gives another thread the time to start an
    # add of its own, which must be refused, not summed into the same table.
    reducer = _clf.Reducer(seed=5)
    other: list[BaseException | tuple[int, int, bytes, bytes]] = []

    def add() -> None:
        try:
            other.append(reducer.add(BIG, COMBINED, 1))
        except RuntimeError as exc:
            other.append(exc)

    def pieces() -> Iterator[bytes]:
        thread = threading.Thread(target=add)
        thread.start()
        thread.join()
        yield BIG

    reducer.add_pieces(pieces(), COMBINED)
    assert len(other) == 1
    assert isinstance(other[0], RuntimeError), "the other thread's add() ran beside add_pieces()"
    assert _requests(reducer) == BIG.count(b"\n")


def _flipping(buffer: bytearray, states: tuple[bytes, bytes], stop: threading.Event) -> None:
    # Slice assignment of the same length is allowed while C holds the buffer.
    while not stop.is_set():
        for state in states:
            buffer[:] = state


def _racing(states: tuple[bytes, bytes], call: Callable[[bytearray], None]) -> int:
    """Run ``call`` on a bytearray that another thread flips between two states, for a while."""
    buffer = bytearray(states[0])
    stop = threading.Event()
    flipper = threading.Thread(target=_flipping, args=(buffer, states, stop))
    flipper.start()
    calls = 0
    try:
        deadline = time.monotonic() + 0.7
        while time.monotonic() < deadline:
            call(buffer)
            calls += 1
    finally:
        stop.set()
        flipper.join()
    return calls


# One line, or one line per byte: a count taken in one state and walked in the
# other overflowed the outputs (or, fewer lines than counted, read past the end).
_N = 1 << 18
_FEW_MANY = (b"1" * (_N - 1) + b"\n", b"\n" * _N)


def test_scan_of_a_bytearray_another_thread_changes() -> None:
    # The audit's third finding: scan() counted the lines with the GIL and
    # wrote one row per line it found again without it.
    def call(buffer: bytearray) -> None:
        lines, index, _, _, _, _, rest, rest_index = _clf.scan(buffer, COMBINED)
        # Whatever the bytes were, the outputs are those of the lines walked.
        assert len(index) // 8 + len(rest_index) // 8 == lines
        assert 1 <= lines <= _N
        assert len(rest) <= _N

    assert _racing(_FEW_MANY, call) > 0


def test_ip_keys_of_a_bytearray_another_thread_changes() -> None:
    def call(buffer: bytearray) -> None:
        versions, hi, lo = _clf.ip_keys(buffer)
        # A snapshot: the names of one state or the other, never a mixture.
        assert len(versions) in (1, _N)
        assert len(hi) == len(lo) == 8 * len(versions)
        assert not any(versions)

    assert _racing(_FEW_MANY, call) > 0


def test_public_v6_of_a_bytearray_another_thread_changes() -> None:
    def call(buffer: bytearray) -> None:
        # Neither state holds an address: one empty line per name.
        assert _clf.public_v6(buffer) in (b"\n", b"\n" * _N)

    assert _racing(_FEW_MANY, call) > 0


def test_add_pieces_of_a_bytearray_another_thread_changes() -> None:
    # Cutting pieces walked back from a piece's end to the newline found in
    # it: with that newline gone meanwhile, the walk went on before the piece.
    reducer = _clf.Reducer(seed=1)

    def call(buffer: bytearray) -> None:
        lines, accepted, _, _ = reducer.add_pieces([buffer, b"\n"], COMBINED)
        assert 1 <= lines <= _N + 1
        assert accepted == 0

    assert _racing((b"\n" + b"x" * (_N - 1), b"x" * _N), call) > 0


def test_assign_checks_the_groups_it_uses() -> None:
    # Found beside the audit: assign() checked each group number with the GIL
    # and used it as an index without it, so a bytearray of groups changed in
    # between wrote past the groups' sums.
    clients = [f"10.0.{i >> 8}.{i & 255}".encode() for i in range(20_000)]
    lines = b"".join(
        c + b' - - [14/Sep/2026:08:01:02 +0800] "GET / HTTP/1.1" 200 5 "-" "ua"\n' for c in clients
    )
    valid = np.zeros(len(clients), np.int32).tobytes()
    wild = np.full(len(clients), 1 << 30, np.int32).tobytes()
    outcomes: set[str] = set()

    def call(groups: bytearray) -> None:
        reducer = _clf.Reducer(seed=2, grouped=True)
        reducer.add(lines, COMBINED)
        whos = reducer.pending()
        try:
            reducer.assign(groups, whos)
        except ValueError as exc:
            outcomes.add(str(exc))
            return
        n, _, _, _, unique = reducer.groups()
        assert n == 1
        assert int(np.frombuffer(unique, np.int64)[0]) == len(clients)
        outcomes.add("assigned")

    assert _racing((valid, wild), call) > 0
    assert outcomes
    assert outcomes <= {"assigned", "assign() got a group out of range"}
