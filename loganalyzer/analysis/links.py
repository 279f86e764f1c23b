"""``loganalyzer links``: client addresses grouped into clusters of likely one actor.

The logs are read once, and each batch is reduced to distinct (client, user),
(client, agent) and (client, path) partials (and (client, ``--key``) with a
key): memory follows those pairs, not the lines. Each client is then looked up
and judged once, as by ``report``; the evidence, its weights and the clusters
are in :mod:`loganalyzer.analysis.link_graph`.

A cluster is a claim that some addresses share rare traces, never that one
person is behind them: the evidence is returned with it so that a person can
judge it (see :data:`LINK_CAVEATS`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import polars as pl

from loganalyzer import schema as S
from loganalyzer.analysis.batches import _parsed_batches
from loganalyzer.analysis.counts import LineCounter, RejectWriter
from loganalyzer.analysis.empty import note_nothing_matched
from loganalyzer.analysis.filters import Filter, combine
from loganalyzer.analysis.link_graph import (
    AGENT,
    CLIENTS,
    DETAIL,
    IP,
    KEY,
    KIND,
    KINDS,
    PATHS,
    USER,
    VALUE,
    WEIGHT,
    A,
    B,
    Graph,
    LinkRules,
    link,
)
from loganalyzer.analysis.link_scan import reduce_pairs
from loganalyzer.analysis.link_summary import cluster_summary
from loganalyzer.analysis.meta import _meta
from loganalyzer.analysis.reduce import _time_filter
from loganalyzer.anonymity.sources import AnonymizerSources, stale_sources
from loganalyzer.errors import UsageError
from loganalyzer.geo.databases import GeoDatabases
from loganalyzer.geo.enrich import lookup
from loganalyzer.ingest.formats import LogFormat
from loganalyzer.ingest.parse import ParseOptions
from loganalyzer.ingest.prefetch import prefetch
from loganalyzer.ingest.presets import AUTO
from loganalyzer.ingest.read import ReadFault

CLUSTER = "cluster"
SUMMARY = "summary"
CONFIDENCE = "confidence"
PROVIDER = "provider"
EVIDENCE = "evidence"
HOUR = "hour"

LINK_CAVEATS = (
    "A cluster is addresses that share rare traces (a user name, an agent, rare paths, "
    "a key): evidence for a person to judge, never a statement of who anyone is.",
    "Shared agents in offices and schools, carrier-grade NAT, shared accounts and "
    "crawlers make false links; a missing link proves nothing either.",
    "The place of an anonymized address is its exit's (the VPN server, the Tor relay), "
    "not its user's; no anonymizer known is not proof of a direct user.",
)

CLIENT_SCHEMA: dict[str, pl.DataType] = {
    CLUSTER: pl.Int64(),
    SUMMARY: pl.String(),
    IP: pl.String(),
    S.ANONYMIZER: pl.String(),
    CONFIDENCE: pl.String(),
    PROVIDER: pl.String(),
    S.COUNTRY_ISO: pl.String(),
    S.COUNTRY: pl.String(),
    S.REGION_ISO: pl.String(),
    S.REGION: pl.String(),
    S.ASN: pl.Int64(),
    S.AS_ORG: pl.String(),
    S.REQUESTS: pl.Int64(),
    S.FIRST_SEEN: S.DATETIME,
    S.LAST_SEEN: S.DATETIME,
    EVIDENCE: pl.List(pl.String()),
}
"""One row per cluster and address: the CSV and Parquet table."""

_GEO_FIELDS = (S.COUNTRY_ISO, S.COUNTRY, S.REGION_ISO, S.REGION)
_ASN_FIELDS = (S.ASN, S.AS_ORG)


@dataclass(frozen=True)
class _Slices:
    """Frames of every cluster, sorted by cluster, and where each cluster's rows are.

    A cluster's rows are a slice (no copy, no query): a large log has thousands of
    clusters with ``--all``, and a frame apiece would cost more than the frames.
    """

    frame: pl.DataFrame
    at: dict[int, tuple[int, int]]

    @classmethod
    def of(cls, frame: pl.DataFrame) -> _Slices:
        """``frame`` (with ``_id``) sorted by cluster, ``_id`` dropped, and its slices."""
        frame = frame.sort("_id", maintain_order=True)
        ids = frame["_id"].to_list()
        at: dict[int, tuple[int, int]] = {}
        for row, n in enumerate(ids):
            start, length = at.get(n, (row, 0))
            at[n] = (start, length + 1)
        return cls(frame.drop("_id"), at)

    def get(self, n: int) -> pl.DataFrame:
        """Cluster ``n``'s rows."""
        start, length = self.at.get(n, (0, 0))
        return self.frame.slice(start, length)


@dataclass(frozen=True)
class Cluster:
    """One cluster of linked addresses.

    Attributes:
        id: its number in the output (1 is listed first).
        summary: one sentence; log-derived values in it are unescaped.
        clients: its addresses, :data:`CLIENT_SCHEMA` without the cluster columns.
        evidence: ``kind``, ``value``, ``clients`` (addresses holding the value
            in the whole log), ``weight``, ``detail`` and ``ips`` (the cluster's
            addresses this evidence joins).
        edges: ``a``, ``b`` and the summed ``weight`` of each edge.
    """

    id: int
    summary: str
    _parts: tuple[_Slices, _Slices, _Slices] = field(repr=False, compare=False)

    @property
    def clients(self) -> pl.DataFrame:
        """Its addresses (see the class)."""
        return self._parts[0].get(self.id)

    @property
    def evidence(self) -> pl.DataFrame:
        """Its evidence (see the class)."""
        return self._parts[1].get(self.id)

    @property
    def edges(self) -> pl.DataFrame:
        """Its edges (see the class)."""
        return self._parts[2].get(self.id)

    def as_dict(self) -> dict[str, Any]:
        """The cluster as the JSON contract writes it."""
        clients, evidence, edges = (_records(p, self.id) for p in self._parts)
        return {
            "id": self.id,
            "summary": self.summary,
            "clients": clients,
            "evidence": evidence,
            "edges": edges,
        }


def _records(part: _Slices, n: int) -> list[dict[str, Any]]:
    """Cluster ``n``'s rows of ``part`` as the JSON contract writes them."""
    return _as_records(part.get(n))


def _as_records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON records: times as ISO 8601 UTC, weights rounded, no evidence list."""
    exprs = [
        pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        for c, t in frame.schema.items()
        if isinstance(t, pl.Datetime)
    ]
    if WEIGHT in frame.columns:
        exprs.append(pl.col(WEIGHT).round(4))
    out = frame.with_columns(exprs) if exprs else frame
    return out.drop(EVIDENCE, strict=False).to_dicts()


@dataclass(frozen=True)
class Links:
    """What ``loganalyzer links`` found.

    Attributes:
        clusters: the clusters shown, in order.
        meta: provenance and counts, with ``links`` (rules, counts, caveats).
        faults: inputs that broke part-way.
        activity: ``ip``, ``hour`` and ``requests`` of every shown cluster's
            addresses, when asked for (the swimlane chart).
    """

    clusters: tuple[Cluster, ...]
    meta: dict[str, Any]
    faults: tuple[ReadFault, ...] = ()
    activity: pl.DataFrame | None = field(default=None, compare=False)

    @property
    def rows(self) -> pl.DataFrame:
        """One row per cluster and address (:data:`CLIENT_SCHEMA`)."""
        if not self.clusters:
            return pl.DataFrame(schema=CLIENT_SCHEMA)
        table = self.clusters[0]._parts[0]
        ids = [n for n, (_, length) in sorted(table.at.items()) for _ in range(length)]
        summaries = {c.id: c.summary for c in self.clusters}
        return table.frame.with_columns(
            pl.Series(CLUSTER, ids, pl.Int64),
            pl.Series(SUMMARY, [summaries[n] for n in ids], pl.String),
        ).select(list(CLIENT_SCHEMA))

    def as_dict(self) -> dict[str, Any]:
        """The JSON contract: ``{"meta": {...}, "clusters": [...]}``."""
        if not self.clusters:
            return {"meta": self.meta, "clusters": []}
        # Each whole frame made records once, then cut per cluster: thousands of
        # clusters (--all) are not thousands of conversions.
        parts = self.clusters[0]._parts
        records = [_as_records(p.frame) for p in parts]
        out = []
        for c in self.clusters:
            cut = [
                rows[start : start + length]
                for rows, p in zip(records, parts, strict=True)
                for start, length in [p.at.get(c.id, (0, 0))]
            ]
            out.append(
                {
                    "id": c.id,
                    "summary": c.summary,
                    "clients": cut[0],
                    "evidence": cut[1],
                    "edges": cut[2],
                }
            )
        return {"meta": self.meta, "clusters": out}


def _with_key(batches: Iterator[pl.DataFrame], key: str) -> Iterator[pl.DataFrame]:
    """The batches, refused at the first one whose format has no field ``key``."""
    for rows in batches:
        if key not in rows.columns:
            fields = sorted(c for c in rows.columns if c not in (S.SOURCE, S.LINE_NO))
            raise UsageError(
                f"--key {key}: the log format has no such field; it has {', '.join(fields)} "
                "(a custom format names its own, e.g. %{SID}C is cookie_sid)"
            )
        yield rows


def _verdicts(
    clients: pl.DataFrame,
    dbs: GeoDatabases,
    filters: Sequence[Filter],
    sources: AnonymizerSources | None,
    lang: str,
) -> pl.DataFrame:
    """Each client's place, network and verdict, filtered by place filters."""
    from loganalyzer.analysis.pipeline import _judged_table

    fields = {
        *(_GEO_FIELDS if dbs.city else ()),
        *(_ASN_FIELDS if dbs.asn else ()),
        *(f.column for f in filters if not f.on_rows and f.column in S.GEO_SCHEMA),
    }
    table = lookup(clients[S.CLIENT], dbs, fields=fields - {S.CLIENT}, lang=lang)
    table = _judged_table(table, clients, filters, sources)
    missing = [pl.lit(None, t).alias(c) for c, t in S.ANON_SCHEMA.items() if c not in table.columns]
    return (
        table.with_columns(missing)
        .join(clients, on=S.CLIENT, how="inner")
        .with_columns(pl.coalesce(S.CLIENT_IP, S.CLIENT).alias(IP))
    )


def _by_address(part: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    """Rows keyed by client re-keyed by canonical address: ip, value, counts and times."""
    keyed = part.join(table.select(S.CLIENT, IP), on=S.CLIENT, how="inner")
    return keyed.group_by(IP, VALUE).agg(
        pl.col(S.REQUESTS).sum(), pl.col(S.FIRST_SEEN).min(), pl.col(S.LAST_SEEN).max()
    )


def find_links(
    paths: Sequence[str | Path],
    *,
    key: str | None = None,
    gap_minutes: float = 30.0,
    show_all: bool = False,
    rules: LinkRules | None = None,
    activity: bool = False,
    log_format: str | LogFormat = AUTO,
    parse_options: ParseOptions | None = None,
    where: Sequence[str | Filter] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    city_db: str | Path | None = None,
    asn_db: str | Path | None = None,
    geoip_dir: str | Path | None = None,
    dbs: GeoDatabases | None = None,
    lang: str = "en",
    rejects: IO[str] | None = None,
    max_bad_lines: int | None = None,
    on_bytes: Callable[[int], None] | None = None,
    sources: AnonymizerSources | None = None,
) -> Links:
    """Group client addresses into clusters of likely one actor, from rare shared evidence.

    Args:
        paths: log files, globs, or ``-`` for stdin.
        key: a field of the log format (a cookie column of a custom format,
            say) whose shared values link addresses as a user name does.
        gap_minutes: a switch between two addresses with one agent within this
            many minutes strengthens their edge (it replaces ``rules.gap``).
        show_all: every cluster; by default only those with at least one
            anonymized address and one with no anonymizer known.
        rules: weights and limits (:class:`~loganalyzer.analysis.link_graph.LinkRules`).
        activity: also keep each shown address's requests per hour (for the chart).
        log_format: as for :func:`loganalyzer.analysis.pipeline.analyze`.
        parse_options: as for ``analyze``.
        where: as for ``analyze``; addresses filtered out take no part in the counts.
        since: as for ``analyze``.
        until: as for ``analyze``.
        city_db: as for ``analyze``.
        asn_db: as for ``analyze``.
        geoip_dir: as for ``analyze``.
        dbs: as for ``analyze``.
        lang: as for ``analyze``.
        rejects: as for ``analyze``.
        max_bad_lines: as for ``analyze``.
        on_bytes: as for ``analyze``.
        sources: anonymizer sources; without them no address is known to be
            anonymized, and only ``show_all`` shows clusters.

    Returns:
        The :class:`Links`.

    Raises:
        UsageError: a bad filter, or a ``key`` the log format lacks.
    """
    from loganalyzer.analysis.pipeline import analyze, prepare

    base_rules = replace(rules or LinkRules(), gap=timedelta(minutes=gap_minutes))
    inputs, base, filters, dbs = prepare(
        paths, log_format, ("ip",), where, since, until, dbs, city_db, asn_db, geoip_dir,
        sources, parse_options,
    )  # fmt: skip
    row_filters = [f for f in filters if f.on_rows]
    values: dict[str, pl.Expr] = {
        USER: pl.col(S.USER),
        AGENT: pl.col(S.USER_AGENT),
        PATHS: pl.col(S.PATH),
    }
    if key:
        values[KEY] = pl.col(key)
    if activity:
        values[HOUR] = pl.col(S.TS).dt.truncate("1h").dt.epoch("s")
    # A custom format's own field is parsed only when asked for by name.
    columns = {S.CLIENT, S.TS, S.USER, S.USER_AGENT, S.PATH, *([key] if key else [])}
    columns |= {f.column for f in row_filters if f.column in S.PARSED_SCHEMA}
    conds = [
        c for c in (_time_filter(base.since, base.until), combine(row_filters)) if c is not None
    ]
    counter = LineCounter()
    faults: list[ReadFault] = []
    batches = _parsed_batches(
        inputs,
        base.fmt,
        counter,
        faults,
        RejectWriter(rejects),
        on_bytes,
        max_bad_lines,
        frozenset(columns),
        base.options,
    )
    if key:
        batches = _with_key(batches, key)
    merged = reduce_pairs(prefetch(batches), values, pl.all_horizontal(conds) if conds else None)
    # Every request has one agent (null too): the agent rows sum to each client.
    clients = (
        merged[AGENT]
        .group_by(S.CLIENT)
        .agg(pl.col(S.REQUESTS).sum(), pl.col(S.FIRST_SEEN).min(), pl.col(S.LAST_SEEN).max())
    )
    table = _verdicts(clients, dbs, filters, sources, lang)
    frames = {kind: _by_address(merged[kind], table) for kind in values if kind != HOUR}
    graph = link(frames, base_rules)
    per_ip = _addresses(table)
    shown, total = _clusters(graph, per_ip, key, show_all)
    matched = int(per_ip[S.REQUESTS].sum() or 0) if per_ip.height else 0
    first, last = per_ip[S.FIRST_SEEN].min(), per_ip[S.LAST_SEEN].max()
    meta = _meta(
        counter=counter, dbs=dbs, grouping=None, filters=filters, since=base.since,
        until=base.until, matched=matched, first=first if isinstance(first, datetime) else None,
        last=last if isinstance(last, datetime) else None, watch=(), top_n=None,
        rows_total=sum(c.clients.height for c in shown), sources=sources,
    )  # fmt: skip
    if sources:
        meta["warnings"] += stale_sources(
            sources,
            first if isinstance(first, datetime) else None,
            last if isinstance(last, datetime) else None,
        )
    meta["title"] = "Linked access"
    meta["links"] = {
        "rules": base_rules.as_dict(),
        "key": key,
        "all": show_all,
        "addresses": per_ip.height,
        "pairs_with_evidence": graph.pairs_considered,
        "edges": graph.edges.height,
        "clusters_total": total,
        "clusters_shown": len(shown),
        "caveats": list(LINK_CAVEATS),
    }
    if not sources and not show_all:
        meta["warnings"].append(
            "no anonymizer sources loaded: no address is known to be anonymized, so no "
            "cluster can show anonymized and direct access together; load sources "
            "(--sources-dir) or use --all"
        )
    same_reading = functools.partial(
        analyze, log_format=log_format, parse_options=parse_options, dbs=dbs, sources=sources
    )
    note_nothing_matched(meta, paths, same_reading)
    hours = None
    if activity:
        ips = pl.concat([c.clients.select(IP) for c in shown]) if shown else per_ip.clear()
        hours = (
            merged[HOUR]
            .join(table.select(S.CLIENT, IP), on=S.CLIENT)
            .join(ips.select(IP), on=IP, how="semi")
            .group_by(
                IP,
                pl.from_epoch(pl.col(VALUE).cast(pl.Int64), "s")
                .dt.replace_time_zone("UTC")
                .alias(HOUR),
            )
            .agg(pl.col(S.REQUESTS).sum())
            .sort(IP, HOUR)
        )
    return Links(tuple(shown), meta, tuple(faults), hours)


def _addresses(table: pl.DataFrame) -> pl.DataFrame:
    """One row per canonical address: place, network, verdict, requests and times."""
    first = [
        pl.col(c).first()
        for c in (
            *_GEO_FIELDS,
            *_ASN_FIELDS,
            S.ANONYMIZER,
            S.ANONYMIZER_CONFIDENCE,
            S.ANONYMIZER_PROVIDER,
        )
    ]
    return (
        table.with_columns(
            [
                pl.lit(None, S.GEO_SCHEMA[c]).alias(c)
                for c in (*_GEO_FIELDS, *_ASN_FIELDS)
                if c not in table.columns
            ]
        )
        .group_by(IP)
        .agg(
            *first,
            pl.col(S.REQUESTS).sum(),
            pl.col(S.FIRST_SEEN).min(),
            pl.col(S.LAST_SEEN).max(),
        )
        .rename({S.ANONYMIZER_CONFIDENCE: CONFIDENCE, S.ANONYMIZER_PROVIDER: PROVIDER})
    )


def _clusters(
    graph: Graph,
    per_ip: pl.DataFrame,
    key: str | None,
    show_all: bool,
) -> tuple[list[Cluster], int]:
    """The clusters to show, numbered in order, and how many there were in all.

    Everything is computed for all clusters at once and split at the end: with
    ``--all`` a large log has a cluster for every user seen from two addresses.
    """
    members = graph.cluster.join(per_ip, on=IP, how="inner")
    verdict = pl.col(S.ANONYMIZER)
    stats = members.group_by(CLUSTER).agg(
        (
            (verdict.is_not_null() & (verdict != S.NONE_KNOWN)).any()
            & (verdict == S.NONE_KNOWN).any()
        )
        .fill_null(False)
        .alias("_mixed"),
        pl.len().alias("_n"),
        pl.col(S.FIRST_SEEN).min().alias("_first"),
        pl.col(IP).min().alias("_ip"),
    )
    total = stats.height
    if not show_all:
        stats = stats.filter(pl.col("_mixed"))
    # Mixed clusters first, then the largest, then the earliest.
    number = (
        stats.sort(["_mixed", "_n", "_first", "_ip"], descending=[True, True, False, False])
        .with_row_index("_id", offset=1)
        .select(CLUSTER, pl.col("_id").cast(pl.Int64))
    )
    shown = members.join(number, on=CLUSTER).drop(CLUSTER)
    of_a = graph.cluster.rename({IP: A}).join(number, on=CLUSTER).drop(CLUSTER)
    evidence = _cluster_evidence(graph.evidence.join(of_a, on=A))
    edges = graph.edges.join(of_a, on=A)
    shown = shown.join(_held(evidence), on=["_id", IP], how="left").with_columns(
        pl.col(EVIDENCE).fill_null(pl.lit([], pl.List(pl.String)))
    )
    columns = [c for c in CLIENT_SCHEMA if c not in (CLUSTER, SUMMARY)]
    parts = (
        _Slices.of(shown.sort(["_id", S.FIRST_SEEN, IP]).select("_id", *columns)),
        _Slices.of(evidence),
        _Slices.of(edges.sort("_id", A, B)),
    )
    out = []
    for n in range(1, number.height + 1):
        summary = cluster_summary(parts[0].get(n), parts[1].get(n), key=key)
        out.append(Cluster(n, summary, parts))
    return out, total


def _cluster_evidence(pairs: pl.DataFrame) -> pl.DataFrame:
    """Each cluster's evidence (``_id``): one row per kind and value, paths and timing per pair."""
    per_value = pairs.filter(pl.col(KIND).is_in([USER, KEY, AGENT]))
    per_pair = pairs.filter(~pl.col(KIND).is_in([USER, KEY, AGENT]))
    merged = per_value.group_by("_id", KIND, VALUE, maintain_order=True).agg(
        pl.col(CLIENTS).first(),
        pl.col(WEIGHT).first(),
        pl.col(DETAIL).first(),
        pl.col(A).append(pl.col(B)).unique().sort().alias("ips"),
    )
    paired = per_pair.select(
        "_id", KIND, VALUE, CLIENTS, WEIGHT, DETAIL, pl.concat_list(A, B).alias("ips")
    )
    out = pl.concat([merged, paired])
    order = {k: i for i, k in enumerate(KINDS)}
    return out.sort(
        "_id",
        pl.col(KIND).replace_strict(order, return_dtype=pl.Int32),
        pl.col(WEIGHT),
        VALUE,
        descending=[False, False, True, False],
    )


def _held(evidence: pl.DataFrame) -> pl.DataFrame:
    """For each cluster and address, the evidence it takes part in, as ``kind: value`` texts."""
    return (
        evidence.select("_id", pl.format("{}: {}", KIND, VALUE).alias(EVIDENCE), pl.col("ips"))
        .explode("ips")
        .rename({"ips": IP})
        .group_by("_id", IP, maintain_order=True)
        .agg(pl.col(EVIDENCE).unique(maintain_order=True))
    )


__all__ = [
    "CLIENT_SCHEMA",
    "LINK_CAVEATS",
    "Cluster",
    "Links",
    "find_links",
]
