"""Classifying clients: each client's anonymizer verdict from the loaded sources.

:func:`classify` keys the clients' addresses, gathers every source's hits
(ranges by ``join_asof``, Tor exits by an equi-join within their time window,
MMDB records, the ASN list through each client's ASN) and ranks them
(:func:`loganalyzer.anonymity.categories._verdicts`). When only address lists
and undated exits are loaded, the verdict of every piece of address space is
made once per run (:func:`loganalyzer.anonymity.sources._merged`) and one join
judges a chunk of clients.
"""

from __future__ import annotations

import polars as pl

from loganalyzer import schema as S
from loganalyzer.anonymity.categories import _HIT_SCHEMA, _RID, NONE_KNOWN, _verdicts
from loganalyzer.anonymity.ip2proxy import _ip2proxy_hits
from loganalyzer.anonymity.maxmind import _mmdb_hits
from loganalyzer.anonymity.networks import _KEY, address_keys
from loganalyzer.anonymity.sources import AnonymizerSources, _merged


def _range_hits(ranges: pl.DataFrame, by_key: pl.DataFrame) -> pl.DataFrame:
    """Hits of disjoint ranges for ``_rid``, ``_key`` rows sorted by key."""
    if ranges.is_empty():
        return pl.DataFrame(schema=_HIT_SCHEMA)
    joined = by_key.join_asof(ranges, left_on=_KEY, right_on="start", strategy="backward")
    return joined.filter(pl.col(_KEY) <= pl.col("end")).select(list(_HIT_SCHEMA))


def _exact_hits(exact: pl.DataFrame, keyed: pl.DataFrame) -> pl.DataFrame:
    joined = keyed.join(exact, on=_KEY, how="inner")
    timed = pl.col("valid_from").is_not_null()
    # A measured exit counts only if the client's requests overlap its window.
    inside = (pl.col("valid_from") <= pl.col(S.LAST_SEEN)) & (
        pl.col("valid_to") >= pl.col(S.FIRST_SEEN)
    )
    return joined.filter(~timed | inside.fill_null(False)).select(list(_HIT_SCHEMA))


def _asn_hits(asns: pl.DataFrame, keyed: pl.DataFrame) -> pl.DataFrame:
    if S.ASN not in keyed.columns:
        return pl.DataFrame(schema=_HIT_SCHEMA)
    org = pl.col(S.AS_ORG) if S.AS_ORG in keyed.columns else pl.lit(None, pl.String)
    joined = keyed.with_columns(org.alias("_org")).join(asns, on=S.ASN, how="inner")
    label = pl.coalesce(pl.col("note"), pl.col("_org"), pl.lit("no note"))
    evidence = pl.format(
        "asn-list:AS{} {} ({}; whole AS)", pl.col(S.ASN), pl.col("category"), label
    )
    return joined.select(
        pl.col(_RID),
        pl.col("category"),
        evidence.alias("evidence"),
        pl.col("note").alias("provider"),
        pl.lit(False).alias("confirmed"),
    )


def classify(
    clients: pl.DataFrame, sources: AnonymizerSources, *, evidence: bool = True
) -> pl.DataFrame:
    """Add the anonymizer verdict to each row of ``clients``.

    Args:
        clients: one row per client (or per client and time): ``client_ip`` (the
            canonical address, as from :func:`loganalyzer.geo.enrich.lookup`), and
            when available ``first_seen``/``last_seen`` (UTC datetimes; needed for
            time-windowed Tor lists, rows without them never match those) and
            ``asn``/``as_org`` (needed by the ASN list).
        sources: the loaded sources.
        evidence: False for ``anonymizer`` and ``actor_type`` alone, for a caller
            that only counts by them (a report by place): the confidence, provider
            and evidence of every client are then not carried through the joins.

    Returns:
        ``clients`` with :data:`schema.ANON_SCHEMA`: ``anonymizer`` (the strongest
        category claimed, in :data:`CATEGORIES` order; ``none_known`` when no
        source lists the address, which is not *clean*; null when the client is
        not an address or no source is loaded),
        ``anonymizer_confidence`` (``confirmed`` when an authoritative source
        claims that category, else ``suspected``), ``anonymizer_provider``,
        ``actor_type`` (``scanner``, ``crawler`` or ``none_known``, beside the
        anonymizer verdict, not instead of it) and ``anonymizer_evidence``
        (every claim, strongest first).
    """
    # The columns a verdict needs, numbered: the caller's other columns (a lookup
    # table's twenty) are not carried through the joins, only put back beside it.
    needed = [S.CLIENT_IP, S.FIRST_SEEN, S.LAST_SEEN, S.ASN, S.AS_ORG]
    base = clients.select(c for c in needed if c in clients.columns).with_row_index(_RID)
    base = base.with_columns(pl.col(S.CLIENT_IP).cast(pl.String))  # all nulls: no type
    for col in (S.FIRST_SEEN, S.LAST_SEEN):
        if col not in base.columns:
            base = base.with_columns(pl.lit(None, S.DATETIME).alias(col))
    base = base.with_columns(address_keys(base[S.CLIENT_IP]).alias(_KEY))
    keyed = base.filter(pl.col(_KEY).is_not_null())
    hits: list[pl.DataFrame] = []
    distinct = keyed.select(_RID, S.CLIENT_IP, _KEY).unique(S.CLIENT_IP, keep="first")
    by_key = distinct.select(_RID, _KEY).sort(_KEY)  # once, for every range source
    merged = _merged(sources)
    if merged is not None:
        # Only address lists and undated exits: each address's verdict is the
        # one of the piece of address space it is in, made once for the run.
        if not evidence:
            merged = merged.select("start", "end", S.ANONYMIZER, S.ACTOR_TYPE)
        found = by_key.join_asof(merged, left_on=_KEY, right_on="start", strategy="backward")
        found = found.filter(pl.col(_KEY) <= pl.col("end")).drop(_KEY, "start", "end")
        found = _every_row(found, distinct, keyed)
        return _with_verdicts(clients, base, found, sources, evidence=evidence)
    # Static sources see each address once; rows sharing it get its hits back.
    static_hits: list[pl.DataFrame] = []
    for src in sources.loaded:
        if src.ranges is not None:
            static_hits.append(_range_hits(src.ranges, by_key))
        elif src.mmdb_type is not None:
            static_hits.append(_mmdb_hits(src, distinct))
        elif src.reader == "ip2proxy":
            static_hits.append(_ip2proxy_hits(src, distinct))
        elif src.exact is not None:
            hits.append(_exact_hits(src.exact, keyed))
        elif src.asns is not None:
            hits.append(_asn_hits(src.asns, keyed))
    if static_hits:
        hits.append(_every_row(pl.concat(static_hits), distinct, keyed).select(list(_HIT_SCHEMA)))
    verdict = _verdicts(pl.concat(hits) if hits else pl.DataFrame(schema=_HIT_SCHEMA))
    return _with_verdicts(clients, base, verdict, sources, evidence=evidence)


def _every_row(found: pl.DataFrame, distinct: pl.DataFrame, keyed: pl.DataFrame) -> pl.DataFrame:
    """What was found for each distinct address (by its ``_rid``), for every row sharing it."""
    if distinct.height == keyed.height:
        # No address on two rows (a report's pending clients, each once): the
        # rows are the distinct ones, and two joins would change nothing.
        return found
    per_ip = found.join(distinct.select(_RID, S.CLIENT_IP), on=_RID).drop(_RID)
    return keyed.select(_RID, S.CLIENT_IP).join(per_ip, on=S.CLIENT_IP).drop(S.CLIENT_IP)


# The verdict columns a report that only counts by them keeps (see classify).
_COUNTED = (S.ANONYMIZER, S.ACTOR_TYPE)


def _with_verdicts(
    clients: pl.DataFrame,
    base: pl.DataFrame,
    verdict: pl.DataFrame,
    sources: AnonymizerSources,
    *,
    evidence: bool,
) -> pl.DataFrame:
    """``clients`` with each ``_rid``'s verdict beside it (``base`` numbers them)."""
    out = base.select(_RID, _KEY).join(verdict, on=_RID, how="left", maintain_order="left")
    # An address no loaded source lists is "none_known"; a client that is no address,
    # or any client when no source is loaded, has no verdict at all.
    is_address = pl.col(_KEY).is_not_null() & pl.lit(bool(sources))
    out = out.with_columns(
        pl.when(pl.col(c).is_null() & is_address).then(pl.lit(NONE_KNOWN)).otherwise(pl.col(c))
        .alias(c)
        for c in (S.ANONYMIZER, S.ACTOR_TYPE)
    )  # fmt: skip
    kept = S.ANON_SCHEMA if evidence else {c: S.ANON_SCHEMA[c] for c in _COUNTED}
    verdicts = out.select([pl.col(c).cast(t) for c, t in kept.items()])
    return pl.concat([clients.drop(S.ANON_SCHEMA, strict=False), verdicts], how="horizontal")


__all__ = [
    "classify",
]
