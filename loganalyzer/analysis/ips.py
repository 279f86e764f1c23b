"""The per-address evidence table: each client with its place, network and verdict.

``loganalyzer ips`` is ``report --by ip`` (plus region and ASN when those
databases are open) with the columns renamed to issue 4's names: ``ip``,
``requests``, ``anonymizer``, ``confidence``, ``reasons``. It makes no second
pipeline: :func:`address_evidence` calls :func:`loganalyzer.analysis.pipeline.analyze`
and reshapes its rows.

The place of an anonymized address is where its exit (the VPN server, the Tor
relay, the cloud host) is, not where its user sits: ``location_is_exit`` says
so on every such row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from loganalyzer import schema as S

if TYPE_CHECKING:
    from loganalyzer.analysis.pipeline import Analysis
    from loganalyzer.geo.databases import GeoDatabases

IP = "ip"
CONFIDENCE = "confidence"
PROVIDER = "provider"
REASONS = "reasons"
LOCATION_IS_EXIT = "location_is_exit"

IPS_SCHEMA: dict[str, pl.DataType] = {
    IP: pl.String(),
    S.REQUESTS: pl.Int64(),
    S.FIRST_SEEN: S.DATETIME,
    S.LAST_SEEN: S.DATETIME,
    S.COUNTRY_ISO: pl.String(),
    S.COUNTRY: pl.String(),
    S.REGION_ISO: pl.String(),
    S.REGION: pl.String(),
    S.ASN: pl.Int64(),
    S.AS_ORG: pl.String(),
    S.ANONYMIZER: pl.String(),
    CONFIDENCE: pl.String(),
    PROVIDER: pl.String(),
    S.ACTOR_TYPE: pl.String(),
    REASONS: pl.List(pl.String()),
    LOCATION_IS_EXIT: pl.Boolean(),
}
"""The columns of the evidence table, in output order."""

_RENAMES = {
    S.CLIENT_IP: IP,
    S.ANONYMIZER_CONFIDENCE: CONFIDENCE,
    S.ANONYMIZER_PROVIDER: PROVIDER,
    S.ANONYMIZER_EVIDENCE: REASONS,
}
TITLE = "Addresses: requests, place, network and anonymizer verdict"


def evidence_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """Reshape ``report --by ip`` rows into the evidence table (:data:`IPS_SCHEMA`).

    Columns the report lacks (no City or ASN database, no sources) are null.

    Example:
        >>> rows = pl.DataFrame({"client_ip": ["1.2.3.4"], "requests": [3],
        ...     "anonymizer": ["vpn"]})
        >>> evidence_rows(rows).select("ip", "anonymizer", "location_is_exit").row(0)
        ('1.2.3.4', 'vpn', True)
    """
    out = rows.rename({k: v for k, v in _RENAMES.items() if k in rows.columns})
    missing = [pl.lit(None, t).alias(c) for c, t in IPS_SCHEMA.items() if c not in out.columns]
    out = out.with_columns(missing) if missing else out
    verdict = pl.col(S.ANONYMIZER)
    exit_place = (verdict.is_not_null() & (verdict != S.NONE_KNOWN)).fill_null(False)
    return out.with_columns(exit_place.alias(LOCATION_IS_EXIT)).select(
        [pl.col(c).cast(t) for c, t in IPS_SCHEMA.items()]
    )


def address_evidence(
    paths: Sequence[str | Path], *, dbs: GeoDatabases, **analyze_args: Any
) -> Analysis:
    """Every client address of some logs with its evidence, busiest first.

    Args:
        paths: log files, as for :func:`loganalyzer.analysis.pipeline.analyze`.
        dbs: open databases; place columns need a City (or Country) database,
            network columns an ASN database, and either may be missing.
        **analyze_args: anything else :func:`~loganalyzer.analysis.pipeline.analyze`
            takes (``sources``, ``where``, ``since``, ``top_n``, ...), except ``by``.

    Returns:
        An :class:`~loganalyzer.analysis.pipeline.Analysis` whose rows follow
        :data:`IPS_SCHEMA`, sorted by requests (descending), then address.
    """
    from loganalyzer.analysis.pipeline import Analysis, analyze

    by = ["ip", *(["region"] if dbs.city else []), *(["asn"] if dbs.asn else [])]
    analysis = analyze(paths, by=by, dbs=dbs, **analyze_args)
    rows = evidence_rows(analysis.rows).sort(
        [S.REQUESTS, IP], descending=[True, False], nulls_last=True
    )
    meta = {**analysis.meta, "title": TITLE, "group_by": ["ip"], "keys": [IP]}
    return Analysis(rows=rows, meta=meta, faults=analysis.faults)


__all__ = [
    "CONFIDENCE",
    "IP",
    "IPS_SCHEMA",
    "LOCATION_IS_EXIT",
    "REASONS",
    "address_evidence",
    "evidence_rows",
]
