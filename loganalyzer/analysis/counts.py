"""Line counts and rejects: every line read is counted per file, as parsed or rejected.

:class:`FileStats` (``meta.files``) and :class:`LineCounter` (``meta.lines``)
hold the counts; :class:`RejectWriter` writes rejected lines as JSON Lines
(``--rejects``). :func:`parse_counted` parses a batch and does both;
:func:`parse_counted_files` does it for lines of several files in one parse.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
import polars as pl

from loganalyzer import schema as S
from loganalyzer.ingest.formats import LogFormat
from loganalyzer.ingest.parse import (
    BYTES_INVALID,
    REASON_BLANK,
    REASON_COMMENT,
    ParseOptions,
    ParseState,
    parse_lines,
    split_parsed,
)


@dataclass
class FileStats:
    """Line counts for one input."""

    name: str
    size: int | None
    total: int = 0
    parsed: int = 0
    rejected: int = 0
    first_reject: int | None = None
    fault: str | None = None
    format: str = ""
    format_match_rate: float | None = None
    bytes_out_of_range: int = 0
    skipped: str | None = None  # why the file was left out (--keep-going)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used in ``meta.files``."""
        return {
            "path": self.name,
            "format": self.format,
            **(
                {"format_match_rate": self.format_match_rate}
                if self.format_match_rate is not None
                else {}
            ),
            "size_bytes": self.size,
            "lines": {"total": self.total, "parsed": self.parsed, "rejected": self.rejected},
            **({"bytes_out_of_range": self.bytes_out_of_range} if self.bytes_out_of_range else {}),
            **({"error": self.fault} if self.fault else {}),
            **({"skipped": self.skipped} if self.skipped else {}),
        }


@dataclass
class LineCounter:
    """Line counts per file and rejects per reason, across every input."""

    files: list[FileStats] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Lines read."""
        return sum(f.total for f in self.files)

    @property
    def parsed(self) -> int:
        """Lines parsed into requests."""
        return sum(f.parsed for f in self.files)

    @property
    def rejected(self) -> int:
        """Lines rejected (blank lines and comments included)."""
        return sum(f.rejected for f in self.files)

    @property
    def bytes_out_of_range(self) -> int:
        """Parsed lines whose byte count was out of bounds (null in the report)."""
        return sum(f.bytes_out_of_range for f in self.files)


class RejectWriter:
    """Writes rejected lines as JSON Lines: source, line_no, reason, line."""

    def __init__(self, handle: IO[str] | None) -> None:
        self.handle = handle

    def write(self, rejects: pl.DataFrame) -> None:
        """Append a batch of rejects."""
        if self.handle is None or rejects.is_empty():
            return
        for rec in rejects.iter_rows(named=True):
            self.handle.write(json.dumps(rec, ensure_ascii=False) + "\n")


def parse_counted(
    lines: pl.DataFrame,
    fmt: LogFormat,
    columns: Collection[str] | None,
    options: ParseOptions | None,
    state: ParseState,
    stats: FileStats,
    counter: LineCounter,
    rejects: RejectWriter,
) -> tuple[pl.DataFrame, int]:
    """Parse one batch, count it, and write its rejects.

    Returns:
        The parsed requests, and how many rejected lines were neither blank nor
        comments (a file all of whose lines are such is in no known format).
    """
    rows, kept_out = parse_counted_files(
        [(lines, stats)], fmt, columns, options, state, counter, rejects
    )
    return rows, kept_out[0]


_FILE = "_file"


def parse_counted_files(
    parts: Sequence[tuple[pl.DataFrame, FileStats]],
    fmt: LogFormat,
    columns: Collection[str] | None,
    options: ParseOptions | None,
    state: ParseState,
    counter: LineCounter,
    rejects: RejectWriter,
    each: Callable[[int, int], None] | None = None,
) -> tuple[pl.DataFrame, list[int]]:
    """:func:`parse_counted` of lines from one or more files at once, each file counted.

    One parse for the leftovers of many small files: each parse costs some
    milliseconds however few its lines (1.2 s of the benchmark log as 200 gzip
    files). Several files only for a format without per-file state (not W3C).

    ``each``, when given, is called with each part's index and its count of
    rejected lines that were neither blank nor comments, in order, right after that
    part's rejects are written. A check it makes (a file none of whose lines parse)
    stops the run before a later file's rejects are written, as when files are
    parsed one at a time.

    Returns:
        The parsed requests of all, and for each part how many of its rejected
        lines were neither blank nor comments.
    """
    assert len(parts) == 1 or not fmt.header_driven, "W3C carries state within a file"
    lines = parts[0][0] if len(parts) == 1 else pl.concat([p for p, _ in parts])
    frame = parse_lines(lines.lazy(), fmt, columns=columns, options=options, state=state).collect()
    if len(parts) == 1:
        which = np.zeros(frame.height, np.int64)
    else:
        # One row per line, in order: each file's rows are where its lines were.
        assert frame.height == lines.height, (frame.height, lines.height)
        which = np.repeat(np.arange(len(parts)), [p.height for p, _ in parts])
    frame = frame.with_columns(pl.Series(_FILE, which))
    rows = split_parsed(frame.lazy()).rows.collect()
    if BYTES_INVALID in frame.columns:
        flagged = frame.filter(pl.col(S.REASON).is_null() & pl.col(BYTES_INVALID))
        out_of_range = np.bincount(flagged[_FILE].to_numpy(), minlength=len(parts))
    else:
        out_of_range = np.zeros(len(parts), np.int64)
    bad = frame.filter(pl.col(S.REASON).is_not_null()).select(
        _FILE, S.SOURCE, S.LINE_NO, S.REASON, S.LINE
    )
    n = len(parts)
    totals = np.bincount(which, minlength=n)
    parsed = np.bincount(rows[_FILE].to_numpy(), minlength=n)
    rejected = np.bincount(bad[_FILE].to_numpy(), minlength=n)
    kept = bad.filter(~pl.col(S.REASON).is_in([REASON_BLANK, REASON_COMMENT]))
    kept_out = np.bincount(kept[_FILE].to_numpy(), minlength=n)
    firsts = dict(
        bad.group_by(_FILE, maintain_order=True).agg(pl.col(S.LINE_NO).first()).iter_rows()
    )
    for k, (_, stats) in enumerate(parts):
        stats.total += int(totals[k])
        stats.parsed += int(parsed[k])
        stats.rejected += int(rejected[k])
        stats.bytes_out_of_range += int(out_of_range[k])
        if stats.first_reject is None and k in firsts:
            stats.first_reject = int(firsts[k])
    if bad.height:
        for reason, count in bad.group_by(S.REASON).len().iter_rows():
            counter.reasons[reason] = counter.reasons.get(reason, 0) + count
    counts = [int(k) for k in kept_out]
    if each is None:
        if bad.height:
            rejects.write(bad.drop(_FILE))
        return rows.drop(_FILE), counts
    for k in range(n):
        mine = bad.filter(pl.col(_FILE) == k)
        if mine.height:
            rejects.write(mine.drop(_FILE))
        each(k, counts[k])
    return rows.drop(_FILE), counts


__all__ = [
    "FileStats",
    "LineCounter",
    "RejectWriter",
    "parse_counted",
    "parse_counted_files",
]
