"""Reading a source file, and what a loader makes of it.

Every loader (:mod:`~loganalyzer.anonymity.maxmind`, :mod:`~loganalyzer.anonymity.tor`,
:mod:`~loganalyzer.anonymity.ip_lists`, :mod:`~loganalyzer.anonymity.cloud`,
:mod:`~loganalyzer.anonymity.asn_list`) reads its file here, so a missing,
unreadable or binary file fails with the same :class:`~loganalyzer.errors.SourceError`
wording, and returns a :class:`_Loaded`: the file's provenance (:class:`SourceInfo`,
reported in ``meta.sources``) with its table of ranges, exact addresses or ASNs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from loganalyzer.errors import SourceError


@dataclass(frozen=True)
class SourceInfo:
    """Provenance of one loaded source, as reported in ``meta.sources``.

    Attributes:
        name: the prefix its evidence carries (``tor-exits``, ``aws``, ``ip-list``...).
        kind: the file format (``tordnsel``, ``aws-ip-ranges``, ``mmdb``, ...).
        path: the file.
        sha256: the file's hash (identifies the exact version used).
        size_bytes: the file's size.
        modified: the file's modification time (ISO 8601 UTC).
        date: the date the data itself states (build date, createDate, version),
            if any.
        entries: how many addresses, networks or ASNs it lists.
        category: the category it claims, when it claims one for every entry.
        package: the installed package it came with (``pymispwarninglists 1.7.0``)
            for a built-in list, else None.
    """

    name: str
    kind: str
    path: str
    sha256: str
    size_bytes: int
    modified: str
    date: str | None
    entries: int
    category: str | None = None
    package: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used in ``meta.sources``."""
        return {
            "name": self.name,
            "kind": self.kind,
            "path": self.path,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "modified": self.modified,
            "date": self.date,
            "entries": self.entries,
            "category": self.category,
            **({"package": self.package} if self.package else {}),
        }

    @property
    def data_time(self) -> datetime:
        """When the data was true: its own date if it states one, else the file's mtime."""
        for text in (self.date, self.modified):
            if text:
                try:
                    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
                except ValueError:
                    continue
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True)
class _Loaded:
    info: SourceInfo
    ranges: pl.DataFrame | None = None
    exact: pl.DataFrame | None = None
    asns: pl.DataFrame | None = None
    mmdb_type: str | None = None
    # Another per-client reader of a database file ("ip2proxy").
    reader: str | None = None
    # An MMDB's evidence per network, worked out once per run: a report by place
    # judges its clients some tens of thousands at a time (tally.py).
    networks: dict[tuple[int, int, int], list[tuple[str, str, str | None]]] = field(
        default_factory=dict, compare=False, repr=False
    )
    # The cache entry it was read from (None: parsed in this run).
    cached: Path | None = field(default=None, compare=False, repr=False)


def _read_bytes(path: str | Path) -> tuple[Path, bytes]:
    p = Path(path)
    if not p.exists():
        raise SourceError(p, "no such source file")
    if p.is_dir():
        raise SourceError(p, "is a directory; use --sources-dir for a folder of sources")
    try:
        return p, p.read_bytes()
    except PermissionError:
        raise SourceError(p, "permission denied") from None
    except OSError as exc:
        raise SourceError(p, f"cannot read ({exc.strerror})") from None


def _read_text(path: str | Path, expected: str) -> tuple[Path, bytes, str]:
    p, data = _read_bytes(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SourceError(p, f"is not a text file; expected {expected}") from None
    if "\x00" in text:
        raise SourceError(p, f"is not a text file; expected {expected}")
    return p, data, text


def _read_json(path: str | Path, expected: str) -> tuple[Path, bytes, Any]:
    p, data, text = _read_text(path, expected)
    return p, data, _parse_json(p, text)


def _parse_json(p: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(p, f"is not valid JSON ({exc.msg}, line {exc.lineno})") from None


def _info(
    p: Path,
    data: bytes,
    *,
    name: str,
    kind: str,
    entries: int,
    date: str | None = None,
    category: str | None = None,
) -> SourceInfo:
    st = p.stat()
    return SourceInfo(
        name=name,
        kind=kind,
        path=str(p),
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=st.st_size,
        modified=datetime.fromtimestamp(st.st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        date=date,
        entries=entries,
        category=category,
    )


__all__ = [
    "SourceInfo",
]
