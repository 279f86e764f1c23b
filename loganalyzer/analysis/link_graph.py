"""Linking addresses by rare shared evidence: weights, edges and clusters.

Each kind of evidence is a frame of distinct (``ip``, ``value``) pairs. A value
held by many addresses (the top browser agent, ``/``, ``-``) links nothing; a
value held by few links them, the more strongly the fewer they are. A value's
weight depends only on how many addresses hold it over the whole log, never on
the log's size, so unrelated traffic added to a log never moves a link.

Pairs come only from values held by at most a kind's limit of addresses, so
their number grows with the distinct (address, value) pairs, not with the
square of the addresses. Timing adjacency is checked on those pairs alone: it
strengthens an edge and never makes one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import polars as pl

IP = "ip"
VALUE = "value"
A, B = "a", "b"
KIND = "kind"
CLIENTS = "clients"
WEIGHT = "weight"
DETAIL = "detail"

USER, KEY, AGENT, PATHS, TIMING = "user", "key", "agent", "paths", "timing"
KINDS = (USER, KEY, AGENT, PATHS, TIMING)
"""Evidence kinds, strongest first (the order a cluster's evidence is listed in)."""

EVIDENCE_SCHEMA: dict[str, pl.DataType] = {
    A: pl.String(),
    B: pl.String(),
    KIND: pl.String(),
    VALUE: pl.String(),
    CLIENTS: pl.Int64(),
    WEIGHT: pl.Float64(),
    DETAIL: pl.String(),
}
"""One row per pair and piece of evidence (``a`` < ``b``)."""

_PATHS_SHOWN = 5


@dataclass(frozen=True)
class LinkRules:
    """The weights and limits that make an edge (see docs/links.md).

    A value shared by ``n`` addresses weighs ``base * (1 + rarity)``, with
    ``rarity = ln(limit / n) / ln(limit / 2)``: twice the base for a value two
    addresses share, the base at the kind's limit; held by more than the limit,
    it weighs nothing.

    Attributes:
        min_weight: the evidence two addresses need, summed, to be an edge.
        user_weight: base weight of a shared user name (``%u``).
        user_limit: a user name held by more addresses is a shared account.
        key_weight: base weight of a shared ``--key`` value.
        key_limit: a ``--key`` value held by more addresses links nothing.
        agent_weight: base weight of a shared user agent.
        agent_limit: an agent held by more addresses links nothing.
        path_weight: weight of identical sets of rare paths (scaled by similarity).
        path_limit: a path fetched by more addresses is not rare.
        path_min_shared: rare paths two addresses must share to count at all.
        timing_weight: added when the addresses switch within ``gap`` with one agent.
        gap: the longest switch between two addresses that counts as adjacent.
    """

    min_weight: float = 1.0
    user_weight: float = 1.0
    user_limit: int = 20
    key_weight: float = 1.0
    key_limit: int = 20
    agent_weight: float = 0.3
    agent_limit: int = 5
    path_weight: float = 1.0
    path_limit: int = 5
    path_min_shared: int = 2
    timing_weight: float = 0.4
    gap: timedelta = timedelta(minutes=30)

    def as_dict(self) -> dict[str, Any]:
        """The rules for ``meta`` (the gap in minutes)."""
        out = asdict(self)
        out["gap_minutes"] = self.gap.total_seconds() / 60
        del out["gap"]
        return out


def rarity(n: pl.Expr, limit: int) -> pl.Expr:
    """1 for a value two addresses share, 0 at ``limit``, between on a log scale.

    Example:
        >>> pl.select(rarity(pl.lit(5), 5)).item(), pl.select(rarity(pl.lit(2), 5)).item()
        (0.0, 1.0)
    """
    if limit <= 2:
        return pl.lit(1.0)
    # Rounded: 2 holders must give exactly 1, not 0.9999999999999998.
    scaled = (math.log(limit) - n.cast(pl.Float64).log()) / math.log(limit / 2)
    return scaled.clip(0.0, 1.0).round(9)


def _distinct(frame: pl.DataFrame) -> pl.DataFrame:
    """Distinct (ip, value) pairs with how many addresses hold each value (``clients``)."""
    pairs = frame.select(IP, VALUE).filter(pl.col(VALUE).is_not_null() & (pl.col(VALUE) != ""))
    return pairs.unique().with_columns(pl.len().over(VALUE).cast(pl.Int64).alias(CLIENTS))


def _self_pairs(rare: pl.DataFrame, extra: list[str]) -> pl.DataFrame:
    """Every pair a < b of addresses holding the same value, with ``extra`` columns."""
    right = rare.select(VALUE, pl.col(IP).alias(B))
    return (
        rare.select(pl.col(IP).alias(A), VALUE, *extra)
        .join(right, on=VALUE)
        .filter(pl.col(A) < pl.col(B))
    )


def value_evidence(frame: pl.DataFrame, kind: str, base: float, limit: int) -> pl.DataFrame:
    """Pairs of addresses that share a value held by 2 to ``limit`` addresses.

    Args:
        frame: ``ip`` and ``value``, any number of rows per pair.
        kind: the evidence kind (``user``, ``key``, ``agent``).
        base: the kind's base weight.
        limit: the most addresses a value may be held by and still link.
    """
    counted = _distinct(frame)
    rare = counted.filter(pl.col(CLIENTS).is_between(2, limit)).with_columns(
        (base * (1 + rarity(pl.col(CLIENTS), limit))).alias(WEIGHT)
    )
    return _self_pairs(rare, [CLIENTS, WEIGHT]).select(
        A,
        B,
        pl.lit(kind).alias(KIND),
        VALUE,
        CLIENTS,
        WEIGHT,
        pl.lit(None, pl.String).alias(DETAIL),
    )


def path_evidence(frame: pl.DataFrame, rules: LinkRules) -> pl.DataFrame:
    """Pairs whose sets of rare paths overlap: a weighted Jaccard similarity.

    A path fetched by at most ``path_limit`` addresses is rare and weighs
    ``1 + rarity`` (a path one address alone fetched weighs 2). The similarity
    of two addresses is the weight of the rare paths both fetched over the
    weight of those either fetched; it counts from ``path_min_shared`` shared
    paths, scaled by ``path_weight``.
    """
    limit = rules.path_limit
    counted = _distinct(frame).filter(pl.col(CLIENTS) <= limit)
    rare = counted.with_columns((1 + rarity(pl.col(CLIENTS), limit)).alias("_w"))
    totals = rare.group_by(IP).agg(pl.col("_w").sum().alias("_total"))
    shared = (
        _self_pairs(rare.filter(pl.col(CLIENTS) >= 2), [CLIENTS, "_w"])
        .sort([A, B, CLIENTS, VALUE])
        .group_by(A, B)
        .agg(
            pl.col("_w").sum().alias("_shared"),
            pl.len().alias("_n"),
            pl.col(VALUE).head(_PATHS_SHOWN).alias("_paths"),
            pl.col(CLIENTS).max(),
        )
        .filter(pl.col("_n") >= rules.path_min_shared)
    )
    joined = shared.join(totals.rename({IP: A, "_total": "_ta"}), on=A).join(
        totals.rename({IP: B, "_total": "_tb"}), on=B
    )
    similarity = pl.col("_shared") / (pl.col("_ta") + pl.col("_tb") - pl.col("_shared"))
    more = pl.col("_n") - pl.col("_paths").list.len()
    value = pl.col("_paths").list.join(", ") + pl.when(more > 0).then(
        pl.format(" (+{} more)", more)
    ).otherwise(pl.lit(""))
    return joined.select(
        A,
        B,
        pl.lit(PATHS).alias(KIND),
        value.alias(VALUE),
        pl.col(CLIENTS).cast(pl.Int64),
        (rules.path_weight * similarity).alias(WEIGHT),
        pl.format("{} shared rare paths, similarity {}", pl.col("_n"), similarity.round(2)).alias(
            DETAIL
        ),
    )


def timing_evidence(
    candidates: pl.DataFrame, spans: pl.DataFrame, rules: LinkRules
) -> pl.DataFrame:
    """Candidate pairs that switched from one address to the other within ``gap``.

    Args:
        candidates: ``a`` and ``b``: pairs that already share other evidence.
        spans: ``ip``, ``value`` (the agent), ``first_seen`` and ``last_seen``:
            each address's first and last request with each agent.
        rules: the gap and the timing weight.

    Returns:
        At most one row per pair: the closest switch. One address's last request
        with an agent, then the other's first with the same agent, no more than
        ``gap`` later; spans that overlap are not a switch.
    """
    if candidates.is_empty():
        return pl.DataFrame(schema=EVIDENCE_SCHEMA)
    counts = spans.group_by(VALUE).agg(pl.col(IP).n_unique().cast(pl.Int64).alias(CLIENTS))
    side = spans.filter(pl.col(VALUE).is_not_null() & (pl.col(VALUE) != "")).select(
        IP, VALUE, "first_seen", "last_seen"
    )
    pairs = candidates.select(A, B).unique()
    joined = pairs.join(side.rename({IP: A, "first_seen": "_fa", "last_seen": "_la"}), on=A).join(
        side.rename({IP: B, "first_seen": "_fb", "last_seen": "_lb"}), on=[B, VALUE]
    )
    a_then_b = pl.col("_fb") - pl.col("_la")
    b_then_a = pl.col("_fa") - pl.col("_lb")
    zero = pl.duration(seconds=0)
    switch = (
        pl.when(a_then_b >= zero)
        .then(a_then_b)
        .when(b_then_a >= zero)
        .then(b_then_a)
        .otherwise(None)
    )
    close = (
        joined.with_columns(switch.alias("_gap"))
        .filter(pl.col("_gap").is_not_null() & (pl.col("_gap") <= rules.gap))
        .sort([A, B, "_gap", VALUE])
        .unique([A, B], keep="first", maintain_order=True)
        .join(counts, on=VALUE, how="left")
    )
    minutes = (pl.col("_gap").dt.total_seconds() / 60).round(1)
    return close.select(
        A,
        B,
        pl.lit(TIMING).alias(KIND),
        VALUE,
        pl.col(CLIENTS).cast(pl.Int64),
        pl.lit(rules.timing_weight).alias(WEIGHT),
        pl.format("switched addresses within {} min, same agent", minutes).alias(DETAIL),
    )


@dataclass(frozen=True)
class Graph:
    """The edges that pass the rules and the cluster of each linked address.

    Attributes:
        evidence: every piece of evidence of every edge (:data:`EVIDENCE_SCHEMA`).
        edges: ``a``, ``b`` and their summed ``weight``, at least ``min_weight``.
        cluster: ``ip`` and ``cluster`` (a provisional number): linked addresses only.
        pairs_considered: pairs that shared any evidence at all.
    """

    evidence: pl.DataFrame
    edges: pl.DataFrame
    cluster: pl.DataFrame
    pairs_considered: int


def link(frames: Mapping[str, pl.DataFrame], rules: LinkRules) -> Graph:
    """Edges from every kind of evidence, and their connected components.

    Args:
        frames: by kind (``user``, ``key``, ``agent``, ``paths``), each address's
            values: ``ip``, ``value``; the ``agent`` frame also has
            ``first_seen`` and ``last_seen`` for the timing.
        rules: weights and limits.
    """
    limits = {
        USER: (rules.user_weight, rules.user_limit),
        KEY: (rules.key_weight, rules.key_limit),
        AGENT: (rules.agent_weight, rules.agent_limit),
    }
    parts = [value_evidence(frames[kind], kind, *limits[kind]) for kind in limits if kind in frames]
    if PATHS in frames:
        parts.append(path_evidence(frames[PATHS], rules))
    found = pl.concat([pl.DataFrame(schema=EVIDENCE_SCHEMA), *parts])
    if AGENT in frames:
        found = pl.concat([found, timing_evidence(found, frames[AGENT], rules)])
    scores = found.group_by(A, B).agg(pl.col(WEIGHT).sum())
    # A float sum of weights that are exactly the threshold must still pass it.
    edges = scores.filter(pl.col(WEIGHT) >= rules.min_weight - 1e-9).sort(A, B)
    evidence = found.join(edges.select(A, B), on=[A, B], how="semi")
    order = {k: i for i, k in enumerate(KINDS)}
    evidence = evidence.sort(pl.col(KIND).replace_strict(order, return_dtype=pl.Int32), A, B, VALUE)
    return Graph(evidence, edges, components(edges), scores.height)


def components(edges: pl.DataFrame) -> pl.DataFrame:
    """The connected component of each address in ``edges`` (union-find).

    Example:
        >>> e = pl.DataFrame({"a": ["1", "3", "5"], "b": ["2", "4", "4"]})
        >>> components(e).sort("ip")["cluster"].to_list()
        [0, 0, 1, 1, 1]
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in edges.select(A, B).iter_rows():
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = {ip: find(ip) for ip in parent}
    number = {root: i for i, root in enumerate(sorted(set(roots.values())))}
    return pl.DataFrame(
        {IP: list(roots), "cluster": [number[r] for r in roots.values()]},
        schema={IP: pl.String(), "cluster": pl.Int64()},
    )


__all__ = [
    "EVIDENCE_SCHEMA",
    "KINDS",
    "Graph",
    "LinkRules",
    "components",
    "link",
    "path_evidence",
    "rarity",
    "timing_evidence",
    "value_evidence",
]
