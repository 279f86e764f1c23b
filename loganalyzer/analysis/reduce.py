"""The map side of a report: its :class:`ScanPlan`, and parsed batches reduced to partials.

A plan says what every batch goes through before the merge: the time window,
the row filters, the grouping's row keys and the columns to parse.
:func:`reduce_batches_by` turns each batch into per-client partials and merges
them as they come, so memory follows the number of distinct clients. Partials
from any split of the input merge exactly, which is what lets a cluster's
workers reduce their files apart (:mod:`loganalyzer.analysis.cluster`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

from loganalyzer import schema as S
from loganalyzer.analysis.aggregate import Grouping, merge_partials, partials
from loganalyzer.analysis.filters import Filter, combine
from loganalyzer.ingest.formats import LogFormat
from loganalyzer.ingest.parse import ParseOptions

# Partials are re-merged once the rows held pass this many, and twice what the
# last merge left: memory stays within a small multiple of the distinct
# (client, key) pairs, and each row is merged a bounded number of times.
_COMPACT_ROWS = 400_000


def _time_filter(since: datetime | None, until: datetime | None) -> pl.Expr | None:
    conds = []
    if since is not None:
        conds.append(pl.col(S.TS) >= since)
    if until is not None:
        conds.append(pl.col(S.TS) < until)
    return pl.all_horizontal(conds) if conds else None


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


@dataclass(frozen=True)
class ScanPlan:
    """What every batch goes through before the merge: the map side of a report.

    It holds only picklable values, so the same plan runs on a cluster worker
    (see :mod:`loganalyzer.analysis.cluster`) exactly as it runs here.
    """

    fmt: LogFormat | None  # None: detected per file
    grouping: Grouping
    row_filters: tuple[Filter, ...]
    since: datetime | None
    until: datetime | None
    columns: frozenset[str]
    options: ParseOptions = field(default_factory=ParseOptions)

    @classmethod
    def make(
        cls,
        fmt: LogFormat | None,
        grouping: Grouping,
        row_filters: Sequence[Filter],
        since: datetime | None,
        until: datetime | None,
        options: ParseOptions | None = None,
    ) -> ScanPlan:
        """Plan a scan; parse only what the report uses (lines are accepted the same)."""
        columns = {S.CLIENT, S.TS, S.STATUS, S.BYTES}
        columns |= {k for k in grouping.row_keys if k in S.PARSED_SCHEMA}
        columns |= {f.column for f in row_filters if f.column in S.PARSED_SCHEMA}
        return cls(
            fmt,
            grouping,
            tuple(row_filters),
            since,
            until,
            frozenset(columns),
            options or ParseOptions(),
        )

    @property
    def part_keys(self) -> list[str]:
        """The columns that identify a partial."""
        return [S.CLIENT, *self.grouping.row_keys]


def reduce_batches(batches: Iterable[pl.DataFrame], plan: ScanPlan) -> pl.DataFrame:
    """Reduce parsed batches to one merged partial (per client and row keys).

    Partials from any split of the input merge exactly, which is what lets
    files be reduced separately, here or on a cluster, and merged afterwards.
    """
    return reduce_batches_by(batches, [plan])[0]


def reduce_batches_by(
    batches: Iterable[pl.DataFrame], plans: Sequence[ScanPlan], *, reduced: bool = False
) -> list[pl.DataFrame]:
    """Reduce each parsed batch once per plan: one read, one merged partial per plan.

    A briefing needs partials per (client, hour), per (client, path) and per
    (client, user agent); one key set holding all three would multiply their
    distinct values together, so each plan keeps its own partials while the
    logs are read, parsed and filtered once.

    With ``reduced`` the batches are partials already (see ``reduce_by`` in
    ``_parsed_batches``): one plan without filters, merged as they come.
    """
    conds = [
        (_time_filter(plan.since, plan.until), combine(list(plan.row_filters))) for plan in plans
    ]
    parts: list[list[pl.DataFrame]] = [[] for _ in plans]
    held = [0] * len(plans)
    base = [0] * len(plans)
    for rows in batches:
        for i, (plan, (time_cond, row_cond)) in enumerate(zip(plans, conds, strict=True)):
            lf = rows.lazy()
            if time_cond is not None:
                lf = lf.filter(time_cond)
            if row_cond is not None:
                lf = lf.filter(row_cond)
            part = rows if reduced else partials(lf, plan.grouping).collect()
            parts[i].append(part)
            held[i] += part.height
            if held[i] > max(_COMPACT_ROWS, 2 * base[i]) and len(parts[i]) > 1:
                parts[i] = [merge_partials(parts[i], plan.part_keys).collect()]
                held[i] = base[i] = parts[i][0].height
    out = []
    for plan, mine in zip(plans, parts, strict=True):
        if not mine:
            out.append(partials(pl.LazyFrame(schema=S.PARSED_SCHEMA), plan.grouping).collect())
        else:
            out.append(merge_partials(mine, plan.part_keys).collect())
    return out


__all__ = [
    "ScanPlan",
    "reduce_batches",
    "reduce_batches_by",
]
