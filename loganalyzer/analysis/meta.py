"""The ``meta`` block of a report and of an ``enrich`` run: provenance, counts, caveats.

What was read (files, line counts, rejects by reason), with which databases and
anonymizer sources, how the report was asked for (grouping, filters, time
window, watch list, top), the time range it covers, and the caveats that go
with every result (:data:`CAVEAT`, :data:`NO_ANON_SOURCES`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from loganalyzer.analysis.aggregate import Grouping
from loganalyzer.analysis.counts import LineCounter
from loganalyzer.analysis.filters import Filter
from loganalyzer.anonymity.sources import AnonymizerSources
from loganalyzer.geo.databases import GeoDatabases
from loganalyzer.ingest.read import ReadFault

CAVEAT = (
    "IP geolocation is approximate: it places the network, not the person, within "
    "the accuracy radius; an address seen here may be a VPN, proxy or cloud exit, "
    "and must never be used to identify a household."
)
NO_ANON_SOURCES = (
    "no anonymizer sources loaded: no address was checked against VPN, Tor, proxy or "
    "hosting lists, so none is known to be direct (see --sources-dir)"
)
"""``meta.anonymizers`` of a report made without sources, and its stderr note."""


def anonymizer_note(sources: AnonymizerSources | None) -> str:
    """What ``meta.anonymizers`` says: how many sources judged the addresses, or none."""
    if not sources:
        return NO_ANON_SOURCES
    n = len(sources.infos)
    return f"{n} anonymizer source{'s' if n != 1 else ''} loaded; none_known is not proof of direct"


def anonymizer_settings(sources: AnonymizerSources) -> dict[str, Any]:
    """The choices besides the files that shape the verdicts, for ``meta``."""
    return {
        "tor_window_hours": sources.tor_slack.total_seconds() / 3600,
        "stale_after_days": sources.stale_days,
    }


def _meta(
    *,
    counter: LineCounter,
    dbs: GeoDatabases | None,
    grouping: Grouping | None,
    filters: Sequence[Filter],
    since: datetime | None,
    until: datetime | None,
    matched: int,
    first: datetime | None,
    last: datetime | None,
    watch: Sequence[str],
    top_n: int | None,
    rows_total: int,
    sources: AnonymizerSources | None = None,
) -> dict[str, Any]:
    from loganalyzer._version import version

    return {
        "tool": {"name": "loganalyzer", "version": version()},
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "lines": {
            "total": counter.total,
            "parsed": counter.parsed,
            "rejected": counter.rejected,
            "rejected_by_reason": dict(sorted(counter.reasons.items())),
            "matched": matched,
            "bytes_out_of_range": counter.bytes_out_of_range,
        },
        "files": [f.as_dict() for f in counter.files],
        "databases": _databases(dbs, first, last),
        "sources": [i.as_dict() for i in sources.infos] if sources else [],
        "anonymizers": anonymizer_note(sources),
        **({"anonymizer_settings": anonymizer_settings(sources)} if sources else {}),
        **(
            {"sources_skipped": [{"path": p, "why": why} for p, why in sources.skipped]}
            if sources is not None and sources.skipped
            else {}
        ),
        "warnings": [
            *(w for d in (dbs.infos if dbs else ()) if (w := d.age_warning(first, last))),
            *_bytes_warning(counter.bytes_out_of_range),
        ],
        "group_by": list(grouping.names) if grouping else [],
        "time_zone": grouping.tz if grouping else "UTC",
        "keys": list(grouping.keys) if grouping else [],
        "filters": [f"{f.column}{f.op}{','.join(f.values)}" for f in filters],
        "since": _iso(since),
        "until": _iso(until),
        "time_range": {"first": _iso(first), "last": _iso(last)},
        "watch": list(watch),
        "top": top_n,
        "rows_total": rows_total,
        "caveat": CAVEAT,
    }


def _bytes_warning(count: int) -> list[str]:
    if not count:
        return []
    return [
        f"{count:,} line{'s' if count != 1 else ''} had a byte count out of bounds (negative, "
        "or above 2^48, 256 TiB in one response): counted as requests, their bytes as "
        "unknown (meta.lines.bytes_out_of_range)"
    ]


def _databases(
    dbs: GeoDatabases | None, first: datetime | None, last: datetime | None
) -> list[dict[str, Any]]:
    """``meta.databases``: each database, and how far its build is from the log."""
    if not dbs:
        return []
    return [{**d.as_dict(), "log_gap_days": d.log_gap_days(first, last)} for d in dbs.infos]


def _iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def enrich_meta(
    counter: LineCounter,
    faults: Sequence[ReadFault],
    dbs: GeoDatabases,
    matched: int,
    sources: AnonymizerSources | None = None,
) -> dict[str, Any]:
    """The ``meta`` object of an enrich run."""
    return {
        "lines": {
            "total": counter.total,
            "parsed": counter.parsed,
            "rejected": counter.rejected,
            "rejected_by_reason": dict(sorted(counter.reasons.items())),
            "matched": matched,
        },
        "files": [f.as_dict() for f in counter.files],
        "databases": [d.as_dict() for d in dbs.infos],
        "sources": [i.as_dict() for i in sources.infos] if sources else [],
        "anonymizers": anonymizer_note(sources),
        **({"anonymizer_settings": anonymizer_settings(sources)} if sources else {}),
        "faults": [f"{f.source}: {f.problem} after line {f.line_no}" for f in faults],
        "_faults": list(faults),
    }


__all__ = [
    "CAVEAT",
    "NO_ANON_SOURCES",
    "anonymizer_note",
    "anonymizer_settings",
    "enrich_meta",
]
