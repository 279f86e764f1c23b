"""Follow a growing log like ``tail -F`` and keep a report up to date without re-reading.

:class:`LogFollower` hands out complete new lines: it survives rotation by rename
(the old file is read to its end, then the new one from its start) and
truncation in place (``copytruncate``: reading starts over), telling them apart
by the file's identity (device and inode) and size. A last line without its
newline is held back until the newline arrives.

:class:`LiveReport` keeps the per-client partials of :mod:`loganalyzer.analysis.aggregate`
and merges each new batch into them, looking up only clients it has not seen,
so a refresh costs time in proportion to what is new and to the number of
distinct clients, never to the size of the log.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO

import polars as pl

from loganalyzer import schema as S
from loganalyzer.analysis.aggregate import merge_partials, resolve_grouping
from loganalyzer.analysis.counts import FileStats, LineCounter, RejectWriter, parse_counted
from loganalyzer.analysis.filters import Filter, parse_filter
from loganalyzer.analysis.pipeline import Analysis, finish_analysis, geo_fields
from loganalyzer.analysis.reduce import ScanPlan, _utc, reduce_batches
from loganalyzer.errors import InputFileError, TooManyBadLinesError, UsageError
from loganalyzer.geo.databases import GeoDatabases
from loganalyzer.geo.enrich import lookup
from loganalyzer.ingest.detect import format_for
from loganalyzer.ingest.formats import LogFormat
from loganalyzer.ingest.parse import ParseOptions, ParseState
from loganalyzer.ingest.presets import AUTO, get_format
from loganalyzer.ingest.read import LineBatch, count_lines, detect_compression, display_name

if TYPE_CHECKING:
    from loganalyzer.anonymity.sources import AnonymizerSources

_CHUNK = 8 * 1024 * 1024


@dataclass
class FollowEvent:
    """Something a person watching should be told (rotation, truncation)."""

    kind: str  # "rotated" | "truncated"
    source: str


class LogFollower:
    """Complete new lines of one file, across rotation and truncation (``tail -F``).

    Args:
        path: the file to follow (its name: what the name points to may change).

    Attributes:
        events: rotations and truncations seen so far.

    Raises:
        InputFileError: if the file does not exist when following starts.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "a.log"
        >>> _ = p.write_bytes(b"one\\ntw")
        >>> f = LogFollower(p)
        >>> [b.data for b in f.poll()]
        [b'one\\n']
        >>> with open(p, "ab") as out:
        ...     _ = out.write(b"o\\n")
        >>> [b.data for b in f.poll()]
        [b'two\\n']
        >>> f.close()
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.events: list[FollowEvent] = []
        self._fh: BinaryIO | None = None
        self._id: tuple[int, int] | None = None
        self._pos = 0
        self._carry = b""
        self._line_no = 0
        if not self._open():
            raise InputFileError(self.path, "no such file to follow")
        assert self._fh is not None
        kind = detect_compression(os.pread(self._fh.fileno(), 16, 0))
        if kind != "none":
            # Appended lines of a compressed file are not lines; without this the
            # format detection would say that no known format fits.
            self.close()
            raise UsageError(
                f"--follow reads plain text only, and {display_name(str(self.path))} is "
                f"{kind}-compressed: follow the live log, or report on this file without --follow"
            )

    @property
    def pending(self) -> bytes:
        """The last line read so far that has no newline yet."""
        return self._carry

    def _open(self) -> bool:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115  # kept open across polls, closed in close()
        except FileNotFoundError:
            return False
        except IsADirectoryError:
            raise InputFileError(self.path, "is a directory") from None
        except PermissionError:
            raise InputFileError(self.path, "permission denied") from None
        st = os.fstat(fh.fileno())
        self._fh, self._id, self._pos, self._carry, self._line_no = (
            fh,
            (st.st_dev, st.st_ino),
            0,
            b"",
            0,
        )
        return True

    def _drain(self, *, final: bool = False) -> list[LineBatch]:
        out: list[LineBatch] = []
        if self._fh is None:
            return out
        while True:
            chunk = self._fh.read(_CHUNK)
            if not chunk:
                break
            self._pos += len(chunk)
            data = self._carry + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                self._carry = data
                continue
            body, self._carry = data[: cut + 1], data[cut + 1 :]
            out.append(LineBatch(str(self.path), self._line_no + 1, body))
            self._line_no += count_lines(body)
        if final and self._carry:
            # The file was rotated away: nobody will finish this line any more.
            out.append(LineBatch(str(self.path), self._line_no + 1, self._carry))
            self._line_no += 1
            self._carry = b""
        return out

    def poll(self) -> list[LineBatch]:
        """Read what is new since the last poll: complete lines only.

        Returns:
            Batches of complete lines, in order (possibly none).
        """
        if self._fh is None and not self._open():
            return []
        batches = self._drain()
        try:
            st = self.path.stat()
        except FileNotFoundError:
            # Renamed away and not yet re-created: keep the old file, it may still grow.
            return batches
        if (st.st_dev, st.st_ino) != self._id:
            # Rotated by rename: whatever was written to the old file before the
            # switch belongs to this log; then the new file from its start.
            batches += self._drain(final=True)
            self.close()
            self.events.append(FollowEvent("rotated", str(self.path)))
            if self._open():
                batches += self._drain()
        elif st.st_size < self._pos:
            # Truncated in place (copytruncate): the old content is gone; start over.
            self.events.append(FollowEvent("truncated", str(self.path)))
            assert self._fh is not None
            self._fh.seek(0)
            self._pos, self._carry, self._line_no = 0, b"", 0
            batches += self._drain()
        return batches

    def close(self) -> None:
        """Close the file being read."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class LiveReport:
    """A report that grows with each batch of lines, without re-reading anything.

    Args:
        log_format: the log's format (``auto``: detected from each source's first lines).
        parse_options: ``--assume-tz``, ``--client-ip`` and ``--trusted-proxy``.
        by: grouping, as for :func:`loganalyzer.analyze`.
        where: filters.
        since: ignore requests before this time.
        until: ignore requests at or after this time.
        watch: countries or provinces always shown.
        top_n: keep the first N rows.
        dbs: the databases.
        lang: the language of names.
        rejects: receives rejected lines as JSON Lines.
        max_bad_lines: fail when more lines than this are rejected.
        sources: anonymizer sources: verdicts are made at each refresh, from each
            client's first and last request so far.
        tz: the IANA zone of time buckets, as for :func:`~loganalyzer.analyze`.

    Example:
        >>> from loganalyzer import sample_paths
        >>> s = sample_paths()
        >>> live = LiveReport(dbs=GeoDatabases.open(city=s.city_db, search=False))
        >>> live.feed(LineBatch("demo", 1, s.log.read_bytes()))
        >>> live.analysis().meta["lines"]["parsed"]
        397
    """

    def __init__(
        self,
        *,
        log_format: str | LogFormat = AUTO,
        parse_options: ParseOptions | None = None,
        by: Sequence[str] = ("region",),
        where: Sequence[str | Filter] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        watch: Sequence[str] = (),
        top_n: int | None = None,
        dbs: GeoDatabases,
        lang: str = "en",
        rejects: IO[str] | None = None,
        max_bad_lines: int | None = None,
        sources: AnonymizerSources | None = None,
        tz: str = "UTC",
    ) -> None:
        # Named formats are checked at once; "auto" is decided per source from
        # its first batch with any data line.
        self.fmt = None if log_format == AUTO else get_format(log_format)
        self.options = parse_options or ParseOptions()
        self._formats: dict[str, LogFormat] = {}
        self._states: dict[str, ParseState] = {}
        self.grouping = resolve_grouping(by, tz=tz)
        self.filters = [f if isinstance(f, Filter) else parse_filter(f) for f in where]
        row_filters = [f for f in self.filters if f.on_rows]
        if self.grouping.needs_geo and dbs.city is None and dbs.asn is None:
            dbs.require_city()
        anon_filters = [f for f in self.filters if f.column in S.ANON_KEY_COLUMNS]
        if (self.grouping.needs_anonymizers or anon_filters) and not sources:
            from loganalyzer.anonymity.builtin import needs_sources

            raise UsageError(needs_sources())
        self.sources = sources
        self.dbs, self.lang, self.watch, self.top_n = dbs, lang, tuple(watch), top_n
        self.max_bad_lines = max_bad_lines
        # The same map side as a one-shot report: the rows must come out identical.
        self.plan = ScanPlan.make(
            self.fmt, self.grouping, row_filters, _utc(since), _utc(until), self.options
        )
        self._merged = reduce_batches([], self.plan)
        self._fields = geo_fields(self.plan, self.filters, sources)
        self._known = pl.DataFrame(schema=S.GEO_SCHEMA)
        self._counter = LineCounter()
        self._stats: dict[str, FileStats] = {}
        self._rejects = RejectWriter(rejects)

    @property
    def lines(self) -> int:
        """Lines read so far."""
        return int(self._counter.total)

    def feed(self, batch: LineBatch) -> None:
        """Parse a batch of complete lines and merge it into the report."""
        stats = self._stats.get(batch.source)
        if stats is None:
            stats = FileStats(batch.source, None, format=self.fmt.name if self.fmt else "")
            self._stats[batch.source] = stats
            self._counter.files.append(stats)
        lines = batch.to_frame()
        fmt = self.fmt or self._formats.get(batch.source)
        if fmt is None:
            detected = format_for(AUTO, lines, source=batch.source, options=self.options)
            fmt = detected.format
            if detected.rate is not None:
                self._formats[batch.source] = fmt
                stats.format, stats.format_match_rate = fmt.name, detected.rate
        state = self._states.setdefault(batch.source, ParseState())
        rows, _ = parse_counted(
            lines, fmt, self.plan.columns, self.options, state, stats, self._counter, self._rejects
        )
        if self.max_bad_lines is not None and self._counter.rejected > self.max_bad_lines:
            raise TooManyBadLinesError(
                self._counter.rejected,
                self._counter.total,
                stats.first_reject or 0,
                batch.source,
                stats.format,
            )
        part = reduce_batches([rows], self.plan)
        if part.is_empty():
            return
        self._merged = merge_partials([self._merged, part], self.plan.part_keys).collect()
        new = part.select(pl.col(S.CLIENT).unique()).join(
            self._known.select(S.CLIENT), on=S.CLIENT, how="anti"
        )
        if new.height:
            found = lookup(new[S.CLIENT], self.dbs, fields=self._fields, lang=self.lang)
            self._known = pl.concat([self._known, found])

    def analysis(self) -> Analysis:
        """The report as it stands (the same rows ``analyze`` gives for these lines)."""
        return finish_analysis(
            self._merged,
            counter=self._counter,
            faults=(),
            plan=self.plan,
            filters=self.filters,
            dbs=self.dbs,
            lang=self.lang,
            watch=self.watch,
            top_n=self.top_n,
            table=self._known,
            sources=self.sources,
        )


def follow(
    follower: LogFollower,
    live: LiveReport,
    *,
    stop: Callable[[], bool],
    interval: float = 2.0,
    on_refresh: Callable[[LiveReport], None] | None = None,
    on_event: Callable[[FollowEvent], None] | None = None,
    poll_every: float = 0.2,
) -> Analysis:
    """Feed new lines into the report until ``stop`` is set; return the final report.

    Args:
        follower: the file being followed.
        live: the report to keep up to date.
        stop: returns True when it is time to finish (``threading.Event().is_set``,
            or a flag a signal handler sets).
        interval: seconds between calls to ``on_refresh``.
        on_refresh: called with the report every ``interval`` seconds and once at
            the start, e.g. to redraw a terminal table.
        on_event: told about rotations and truncations as they are seen.
        poll_every: seconds between looks at the file.

    Returns:
        The final report, after one last read of what the file holds.
    """
    seen_events = 0
    next_refresh = 0.0
    while True:
        stopping = stop()
        for batch in follower.poll():
            live.feed(batch)
        if on_event is not None:
            for event in follower.events[seen_events:]:
                on_event(event)
        seen_events = len(follower.events)
        if stopping:
            break
        now = time.monotonic()
        if on_refresh is not None and now >= next_refresh:
            on_refresh(live)
            next_refresh = now + interval
        # A plain sleep: a signal handler can run during it (and set the flag),
        # which is not safe while waiting on a threading.Event's lock.
        time.sleep(poll_every)
    return live.analysis()


__all__ = ["FollowEvent", "LiveReport", "LogFollower", "follow"]
