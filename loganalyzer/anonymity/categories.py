"""Anonymizer categories, their order, and how the claims about a client become its verdict.

A *hit* is one source's claim about one client (a row of :data:`_HIT_SCHEMA`:
the row it is about, category, evidence, provider, and whether the source is
authoritative). The verdict is the strongest category claimed, in the order of
:data:`CATEGORIES`, and the evidence keeps every claim, disagreements included
(:func:`_verdicts`). The loaders check the categories users give with
:func:`_check_category`.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from loganalyzer import schema as S
from loganalyzer.errors import SourceError

CATEGORIES = S.ANON_CATEGORIES
"""Verdict categories, strongest first: a client gets the first any source claims.

``tor_exit > privacy_relay > vpn > public_proxy > residential_proxy > hosting``,
then :data:`NONE_KNOWN`. A privacy relay (iCloud Private Relay) outranks VPN
because VPN lists wrongly include relay egress ranges; hosting comes last because
VPNs and proxies also run there.
"""

NONE_KNOWN = S.NONE_KNOWN
ALIASES = S.ANON_CATEGORY_ALIASES
"""Shorter category names accepted as input (``--ip-list relay=FILE``)."""

CONFIRMED = "confirmed"
SUSPECTED = "suspected"
ACTOR_TYPES = S.ACTOR_TYPES
"""Who a client is (``scanner``, ``crawler``), strongest first: the ``actor_type`` verdict.

A list may claim an actor type instead of a category (``--ip-list scanner=FILE``);
such hits never change the ``anonymizer`` verdict or its confidence, and a
client can be both (a scanner on AWS is ``hosting`` and ``scanner``).
"""

VPN_OR_DATACENTER = "vpn_or_datacenter"
"""What a list of "VPN providers and datacenters" claims (MISP's ``vpn-ipv4``).

Reported as ``vpn``, but ranked after ``hosting``: such a list holds every
cloud's address space (it is built from AS numbers), so where a cloud
provider's own range also holds the address, the verdict is that range's
``hosting``, and the VPN claim stays in the evidence.
"""

_ORDER = (*CATEGORIES, VPN_OR_DATACENTER, *ACTOR_TYPES)
_RANK = {c: i for i, c in enumerate(_ORDER)}
_SHOWN = {VPN_OR_DATACENTER: "vpn"}
_RID = "_rid"
_HIT_SCHEMA: dict[str, pl.DataType] = {
    _RID: pl.UInt32(),
    "category": pl.String(),
    "evidence": pl.String(),
    "provider": pl.String(),
    "confirmed": pl.Boolean(),
}


def _check_category(p: Path | None, category: str, where: str = "") -> str:
    value = category.strip().lower().replace("-", "_")
    value = canonical_category(value)
    if value not in _RANK:
        raise SourceError(
            p,
            f"{where}unknown category {category!r}; use one of "
            f"{', '.join((*CATEGORIES, *ACTOR_TYPES))}",
        )
    return value


def canonical_category(name: str) -> str:
    """The category a name stands for: aliases ``tor``, ``relay``, ``proxy`` resolved.

    Example:
        >>> canonical_category("relay"), canonical_category("vpn")
        ('privacy_relay', 'vpn')
    """
    return ALIASES.get(name, name)


def _verdicts(hits: pl.DataFrame) -> pl.DataFrame:
    """Each ``_rid``'s verdicts from its hits: the strongest category and actor type first.

    The evidence lists the category claims first, then the actor types'.
    """
    actor = pl.col("category").is_in(ACTOR_TYPES)
    if not hits.select(actor.any()).item():
        return _anon_verdicts(hits).with_columns(pl.lit(None, pl.String).alias(S.ACTOR_TYPE))
    anon = _anon_verdicts(hits.filter(~actor))
    rank = pl.col("category").replace_strict(_RANK, return_dtype=pl.Int32)
    actors = (
        hits.filter(actor)
        .sort([_RID, rank, "evidence"])
        .group_by(_RID, maintain_order=True)
        .agg(
            pl.col("category").first().alias(S.ACTOR_TYPE),
            pl.col("provider").drop_nulls().first().alias("_actor_provider"),
            pl.col("evidence").unique(maintain_order=True).alias("_actor_evidence"),
        )
    )
    both = anon.join(actors, on=_RID, how="full", coalesce=True)
    empty = pl.lit([], pl.List(pl.String))
    return both.select(
        _RID,
        S.ANONYMIZER,
        S.ANONYMIZER_CONFIDENCE,
        # The anonymizer's operator (AWS); the actor's (Shodan) only for a client
        # no category claims: Googlebot is no VPN's provider when a datacenter
        # list calls its range a VPN.
        pl.when(pl.col(S.ANONYMIZER).is_null())
        .then(pl.col("_actor_provider"))
        .otherwise(pl.col(S.ANONYMIZER_PROVIDER))
        .alias(S.ANONYMIZER_PROVIDER),
        pl.concat_list(
            pl.col(S.ANONYMIZER_EVIDENCE).fill_null(empty),
            pl.col("_actor_evidence").fill_null(empty),
        ).alias(S.ANONYMIZER_EVIDENCE),
        S.ACTOR_TYPE,
    )


def _anon_verdicts(hits: pl.DataFrame) -> pl.DataFrame:
    """Each ``_rid``'s anonymizer verdict from its category hits: the strongest first."""
    rank = pl.col("category").replace_strict(_RANK, return_dtype=pl.Int32)
    ranked = hits.with_columns(rank.alias("_rank")).sort(_RID)
    # Most have one hit: theirs is the verdict as it stands, without the grouping
    # (two thirds of the time of judging the pieces of the benchmark's lists),
    # and without sorting its evidence text among others' (a third of what was left).
    rid = pl.col(_RID)
    alone = (rid != rid.shift(1)).fill_null(True) & (rid != rid.shift(-1)).fill_null(True)
    ranked = ranked.with_columns(alone.alias("_alone"))
    shown = pl.col("category").replace(_SHOWN)
    single = ranked.filter("_alone").select(
        _RID,
        shown.alias(S.ANONYMIZER),
        pl.when("confirmed")
        .then(pl.lit(CONFIRMED))
        .otherwise(pl.lit(SUSPECTED))
        .alias(S.ANONYMIZER_CONFIDENCE),
        pl.col("provider").alias(S.ANONYMIZER_PROVIDER),
        pl.concat_list("evidence").alias(S.ANONYMIZER_EVIDENCE),
    )
    several = (
        ranked.filter(~pl.col("_alone"))
        .sort([_RID, "_rank", "evidence"])
        .group_by(_RID, maintain_order=True)
        .agg(
            shown.first().alias(S.ANONYMIZER),
            pl.when((pl.col("confirmed") & (pl.col("_rank") == pl.col("_rank").min())).any())
            .then(pl.lit(CONFIRMED))
            .otherwise(pl.lit(SUSPECTED))
            .alias(S.ANONYMIZER_CONFIDENCE),
            pl.col("provider").drop_nulls().first().alias(S.ANONYMIZER_PROVIDER),
            pl.col("evidence").unique(maintain_order=True).alias(S.ANONYMIZER_EVIDENCE),
        )
    )
    return pl.concat([single, several])  # in no order: each caller joins on _rid


__all__ = [
    "ACTOR_TYPES",
    "ALIASES",
    "CATEGORIES",
    "CONFIRMED",
    "NONE_KNOWN",
    "SUSPECTED",
    "canonical_category",
]
