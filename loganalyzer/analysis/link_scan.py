"""The map side of ``links``: parsed batches reduced to distinct (client, value) rows.

A report's partials carry bytes and status counts that links never reads;
summing them for three keys per batch cost four times the parsing. Here each
batch is grouped once per kind of evidence (user, agent, path, key, hour) into
``client``, ``value``, ``requests``, ``first_seen`` and ``last_seen``, the
kinds collected together so Polars runs them side by side, and the rows are
re-merged as they grow (as :func:`loganalyzer.analysis.reduce.reduce_batches_by`
does), so memory follows the distinct pairs, not the lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import polars as pl

from loganalyzer import schema as S

VALUE = "value"
PAIR_SCHEMA: dict[str, pl.DataType] = {
    S.CLIENT: pl.String(),
    VALUE: pl.String(),
    S.REQUESTS: pl.Int64(),
    S.FIRST_SEEN: S.DATETIME,
    S.LAST_SEEN: S.DATETIME,
}
"""The reduced rows of one kind: one per client and value (null included)."""

_COMPACT_ROWS = 400_000


def _merge(parts: list[pl.DataFrame]) -> pl.LazyFrame:
    return (
        pl.concat(parts, how="vertical")
        .lazy()
        .group_by(S.CLIENT, VALUE)
        .agg(pl.col(S.REQUESTS).sum(), pl.col(S.FIRST_SEEN).min(), pl.col(S.LAST_SEEN).max())
    )


def reduce_pairs(
    batches: Iterable[pl.DataFrame], values: Mapping[str, pl.Expr], where: pl.Expr | None
) -> dict[str, pl.DataFrame]:
    """Reduce parsed batches to distinct (client, value) rows, one frame per kind.

    Args:
        batches: parsed requests.
        values: for each kind, the expression of its value (a column, a time bucket).
        where: the rows that count (time window and row filters), or None for all.

    Returns:
        For each kind, :data:`PAIR_SCHEMA` rows, merged over every batch.
    """
    parts: dict[str, list[pl.DataFrame]] = {k: [] for k in values}
    held = dict.fromkeys(values, 0)
    base = dict.fromkeys(values, 0)
    for rows in batches:
        lf = rows.lazy() if where is None else rows.lazy().filter(where)
        queries = [
            lf.group_by(S.CLIENT, expr.cast(pl.String).alias(VALUE)).agg(
                pl.len().cast(pl.Int64).alias(S.REQUESTS),
                pl.col(S.TS).min().alias(S.FIRST_SEEN),
                pl.col(S.TS).max().alias(S.LAST_SEEN),
            )
            for expr in values.values()
        ]
        for kind, part in zip(values, pl.collect_all(queries), strict=True):
            parts[kind].append(part)
            held[kind] += part.height
            if held[kind] > max(_COMPACT_ROWS, 2 * base[kind]) and len(parts[kind]) > 1:
                parts[kind] = [_merge(parts[kind]).collect()]
                held[kind] = base[kind] = parts[kind][0].height
    empty = pl.DataFrame(schema=PAIR_SCHEMA)
    merged = pl.collect_all([_merge([empty, *mine]) for mine in parts.values()])
    return {
        kind: frame.cast(pl.Schema(PAIR_SCHEMA)) for kind, frame in zip(values, merged, strict=True)
    }


__all__ = ["PAIR_SCHEMA", "VALUE", "reduce_pairs"]
