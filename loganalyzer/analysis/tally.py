"""Reports summed per group as the log is read: memory that grows little with clients.

A report whose keys all come from the client's lookup (``--by region``,
``country``, ``city``, ``asn``...), with no row filter and no dated Tor list,
needs to know of each client only which of its rows the client falls in (with
anonymizer sources, the row and the client's verdict). So each client is looked
up once, when first seen (some tens of thousands at a time), and the native
scanner sums every later line of that client straight into its row. What
remains per client is its key and its row number in the scanner's table, 32
bytes, where the per-client path keeps every client's partial sums and then
joins and groups them all at the end (issue 6: a log four times longer, with
four times the clients, must not need much more memory).

The rows are exactly those of :func:`loganalyzer.analysis.aggregate.summarize` over the
per-client partials; ``tests/analysis/test_reference.py`` and ``tests/analysis/test_tally.py``
hold the two paths equal. Lines the scanner does not read are parsed by Polars
and their per-client partials merged into the same sums, so every format
takes this path where the scanner was built.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl

from loganalyzer import schema as S
from loganalyzer.analysis.aggregate import Grouping
from loganalyzer.anonymity.sources import AnonymizerSources
from loganalyzer.anonymity.verdict import classify
from loganalyzer.geo.databases import GeoDatabases
from loganalyzer.geo.enrich import Records, lookup
from loganalyzer.ingest import native
from loganalyzer.ingest.read import LineBatch

# Pending clients are looked up once this many are waiting: few enough that
# their per-client sums stay small (waiting for 50,000 raised the 20M benchmark
# log's peak by 40 MB), enough to spread each lookup's fixed cost (at 10,000
# the 5M report took 1.38 s at best, at 25,000 1.22 s and 16 MB more).
_RESOLVE_AT = 25_000
_GROUP = "_group"
_KEEP = "_keep"
_WHO = "_who"


def can_tally(grouping: Grouping, sources: AnonymizerSources | None) -> bool:
    """Whether a report with these keys and sources can be summed per group.

    The caller checks the rest: no row keys, filters or time window. A Tor
    list with measured exit times judges a client by its own first and last
    request over the whole log, and ``--by ip`` has one row per client anyway:
    both keep the per-client path.
    """
    return (
        native.enabled()
        and not (sources and sources.dated)
        and not grouping.row_keys
        and S.CLIENT_IP not in grouping.keys
        and all(k in S.GEO_SCHEMA for k in grouping.keys)
    )


class Tally:
    """Per-group sums of a report, fed by the reader like :class:`native.Sums`.

    Args:
        grouping: the report's keys (see :func:`can_tally`).
        dbs: the databases to look clients up in.
        fields: the enrichment columns the keys and filters need.
        lang: the language of place names.
        keep: the filters on enrichment columns, or None; a client they do
            not keep is left out, as the per-client path's join leaves it.
        sources: anonymizer sources with no dated list, or None. Each client
            is judged when it is looked up, and its verdict is one more key,
            so that :func:`~loganalyzer.analysis.aggregate.summarize_groups` can count
            direct and anonymized requests per row.
    """

    def __init__(
        self,
        grouping: Grouping,
        dbs: GeoDatabases,
        fields: Iterable[str],
        lang: str,
        keep: pl.Expr | None,
        sources: AnonymizerSources | None = None,
    ) -> None:
        assert not (sources and sources.dated), "a dated source needs the per-client path"
        self.sums = native.GroupSums()
        self._sources = sources or None
        schema = {k: S.GEO_SCHEMA[k] for k in grouping.keys}
        if self._sources is not None:
            schema[S.ANONYMIZER] = S.ANON_SCHEMA[S.ANONYMIZER]
            schema[S.ACTOR_TYPE] = S.ANON_SCHEMA[S.ACTOR_TYPE]
        self._keys = list(schema)
        self._dbs, self._fields, self._lang = dbs, set(fields), lang
        # The run's lookups come a chunk at a time: a record decoded for one is
        # not decoded again for a later one.
        self._records = Records()
        self._keep = pl.lit(True) if keep is None else keep.fill_null(False)
        # Each row's keys, in the order of their numbers.
        self._known = pl.DataFrame(schema=schema)

    def add(self, batch: LineBatch, kind: int) -> tuple[pl.DataFrame, int, int]:
        """:meth:`native.Sums.add`, then look up the waiting clients if enough wait."""
        result = self.sums.add(batch, kind)
        self._settle()
        return result

    def read(self, fd: int, offset: int, size: int, kind: int) -> tuple[int, np.ndarray, int, int]:
        """:meth:`native.Sums.read`, then look up the waiting clients if enough wait."""
        result = self.sums.read(fd, offset, size, kind)
        self._settle()
        return result

    def help(self, wait_ms: int) -> int:
        """:meth:`native.Sums.help`, for the reader's thread."""
        return self.sums.help(wait_ms)

    def merge(self, partials: pl.DataFrame) -> None:
        """Add per-client partials of lines Polars parsed."""
        self.sums.merge(partials)
        self._settle()

    def rows(self) -> pl.DataFrame:
        """Every row's keys and sums, once the input is read (for ``summarize_groups``)."""
        self._resolve()
        self._records.close()
        sums = self.sums.groups()
        assert sums.height == self._known.height, (sums.height, self._known.height)
        return pl.concat([self._known, sums], how="horizontal")

    def _settle(self) -> None:
        if self.sums.waiting() >= _RESOLVE_AT:
            self._resolve()

    def _resolve(self) -> None:
        """Look the pending clients up and give each its row's number.

        In turn with reading, not beside it: on two cores a lookup thread
        beside the scanner's two made both slower (1.5-1.6 s against
        1.1-1.3 s for the benchmark log).
        """
        clients = self.sums.pending()
        if not clients.is_empty():
            self.sums.assign(*self._numbered(clients))

    def _numbered(self, clients: pl.Series) -> tuple[pl.Series, pl.Series]:
        """Look clients up; each one's row number (-1: left out) and its who."""
        # One row per pending client, in pending order (each is pending once).
        table = lookup(
            clients,
            self._dbs,
            fields=self._fields,
            lang=self._lang,
            records=self._records,
            distinct=True,
        )
        assert table.height == clients.len()
        if self._sources is not None:
            table = classify(table, self._sources, evidence=False)
        table = table.select(
            *(pl.col(k).cast(t) for k, t in self._known.schema.items()),
            pl.coalesce(S.CLIENT_IP, S.CLIENT).alias(_WHO),
            self._keep.alias(_KEEP),
        )
        # New rows only for kept clients: a row exists only with a request in it.
        fresh = (
            table.filter(_KEEP)
            .select(self._keys)
            .unique(maintain_order=True)
            .join(self._known, on=self._keys, how="anti", nulls_equal=True)
        )
        self._known = pl.concat([self._known, fresh])
        numbered = self._known.with_row_index(_GROUP)
        groups = table.join(
            numbered, on=self._keys, how="left", nulls_equal=True, maintain_order="left"
        ).select(pl.when(_KEEP).then(pl.col(_GROUP).cast(pl.Int32)).otherwise(-1))
        return groups.to_series(), table[_WHO]
