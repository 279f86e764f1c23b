"""Reading ahead on background threads: inflating the next batch overlaps parsing this one.

With several files, two reader threads take files in turns and hand batches back in
the files' order, so one slow file never leaves a core idle.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar, cast

T = TypeVar("T")
# How long the reader waits for something to help with while the queue is full
# before it looks again: the consumer may have taken a batch meanwhile.
_HELP_WAIT_MS = 5
# How long it then waits for room in the queue before it looks for work again.
_ROOM_WAIT = 0.05


class _Ahead(Generic[T]):
    """A batch iterator running on a background thread, ``depth`` batches ahead.

    The thread starts at once; :meth:`items` hands the batches on and
    :meth:`close` stops the thread (see :func:`prefetch` for ``helper``).
    """

    def __init__(
        self, batches: Iterator[T], depth: int, helper: Callable[[int], int] | None
    ) -> None:
        self._q: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._batches, self._helper = batches, helper
        threading.Thread(target=self._work, name="loganalyzer-reader", daemon=True).start()

    def _put(self, item: tuple[str, object]) -> None:
        q, helper = self._q, self._helper
        if helper is None:
            q.put(item)
            return
        while not self._stop.is_set():
            try:
                q.put_nowait(item)
                return
            except queue.Full:
                pass
            if helper(_HELP_WAIT_MS):
                continue
            # Nothing to help with: the consumer is doing something else (or
            # reads a plain file itself), so wait for room, awake when it comes.
            try:
                q.put(item, timeout=_ROOM_WAIT)
                return
            except queue.Full:
                pass

    def _work(self) -> None:
        try:
            for batch in self._batches:
                if self._stop.is_set():
                    return
                self._put(("item", batch))
            self._put(("done", None))
            # Nothing left to read: help with the batches still waiting.
            while self._helper is not None and not self._stop.is_set() and not self._q.empty():
                self._helper(_HELP_WAIT_MS)
        except BaseException as exc:  # handed to the consumer, which re-raises
            self._q.put(("error", exc))

    def items(self) -> Iterator[T]:
        """The batches in order, until the iterator's end; its exception is raised here."""
        while True:
            kind, value = self._q.get()
            if kind == "done":
                return
            if kind == "error":
                assert isinstance(value, BaseException)
                raise value
            yield cast(T, value)

    def close(self) -> None:
        """Stop the thread: it ends at its next batch, or now if it waits for room."""
        self._stop.set()
        while not self._q.empty():
            self._q.get_nowait()


def prefetch(
    batches: Iterator[T], depth: int = 2, helper: Callable[[int], int] | None = None
) -> Iterator[T]:
    """Run a batch iterator on a background thread, ``depth`` batches ahead.

    Inflating and reading release the GIL, as does Polars, so the next batch is
    read while the current one is parsed. Exceptions reach the consumer.

    Args:
        batches: what to run ahead.
        depth: how many batches may wait.
        helper: lends the consumer the reader's thread while the queue is full
            and once everything is read (:meth:`loganalyzer.ingest.native.Sums.help`):
            called with how many milliseconds it may wait for work, it returns
            how much it did.
    """
    return prefetch_turns([batches], lambda _: False, depth, helper)


def prefetch_turns(
    streams: Sequence[Iterator[T]],
    ends: Callable[[T], bool],
    depth: int = 2,
    helper: Callable[[int], int] | None = None,
) -> Iterator[T]:
    """:func:`prefetch` of several streams at once, taken in turns.

    Each stream is a run of units (a file's batches), each closed by an item
    ``ends`` says ends it; the streams give their units in turn, the first
    stream's first, the second's first..., until the stream whose turn it is
    has none left (one stream, whose units never end, is :func:`prefetch`).
    The pipeline deals files to two streams, so that two threads read
    (inflate, detect) while the order is the files' own, and an exception is
    raised where its file comes.
    """
    aheads = [_Ahead(s, depth, helper) for s in streams]
    try:
        turns = [a.items() for a in aheads]
        for turn in itertools.cycle(turns):
            unit = 0
            for item in turn:
                unit += 1
                yield item
                if ends(item):
                    break
            if unit == 0:
                return
    finally:
        for ahead in aheads:
            ahead.close()
