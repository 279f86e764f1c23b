"""The per-address evidence table: each client with its place, network and verdict.

``loganalyzer ips`` is ``report --by ip`` (plus region and ASN when those
databases are open) with the columns renamed to issue 4's names: ``ip``,
``requests``, ``anonymizer``, ``confidence``, ``reasons``. It makes no second
pipeline: :func:`address_evidence` calls :func:`loganalyzer.pipeline.analyze`
and reshapes its rows.

The place of an anonymized address is where its exit (the VPN server, the Tor
relay, the cloud host) is, not where its user sits: ``location_is_exit`` says
so on every such row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from loganalyzer import schema as S

if TYPE_CHECKING:
    from loganalyzer.enrich import GeoDatabases
    from loganalyzer.pipeline import Analysis

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
        paths: log files, as for :func:`loganalyzer.pipeline.analyze`.
        dbs: open databases; place columns need a City (or Country) database,
            network columns an ASN database, and either may be missing.
        **analyze_args: anything else :func:`~loganalyzer.pipeline.analyze`
            takes (``sources``, ``where``, ``since``, ``top_n``, ...), except ``by``.

    Returns:
        An :class:`~loganalyzer.pipeline.Analysis` whose rows follow
        :data:`IPS_SCHEMA`, sorted by requests (descending), then address.
    """
    from loganalyzer.pipeline import Analysis, analyze

    by = ["ip", *(["region"] if dbs.city else []), *(["asn"] if dbs.asn else [])]
    analysis = analyze(paths, by=by, dbs=dbs, **analyze_args)
    rows = evidence_rows(analysis.rows).sort(
        [S.REQUESTS, IP], descending=[True, False], nulls_last=True
    )
    meta = {**analysis.meta, "title": TITLE, "group_by": ["ip"], "keys": [IP]}
    return Analysis(rows=rows, meta=meta, faults=analysis.faults)


def _when(value: datetime | None, fmt: str) -> str:
    return value.strftime(fmt) if isinstance(value, datetime) else "-"


def render_ips_table(analysis: Analysis, *, width: int | None = 120, color: bool = False) -> str:
    """The evidence table for a terminal (rich), every text cell escaped.

    Reasons wrap inside their column; CSV, JSON, Markdown and Parquet carry
    every column, this table the ones a person reads first.
    """
    from rich.text import Text

    from loganalyzer.report import print_terminal, safe_text, terminal_table

    rows = analysis.rows
    meta = analysis.meta
    tr = meta.get("time_range") or {}
    total = meta.get("rows_total", rows.height)
    shown = f"top {rows.height:,} of {total:,}" if total > rows.height else f"{total:,}"
    caption = f"{shown} addresses, {meta['lines']['matched']:,} requests" + (
        f"; {tr['first']} to {tr['last']}" if tr.get("first") else ""
    )
    table = terminal_table(TITLE, caption)
    times = [t for c in (S.FIRST_SEEN, S.LAST_SEEN) for t in rows[c].to_list() if t is not None]
    fmt = "%m-%d %H:%M" if len({t.year for t in times}) <= 1 else "%Y-%m-%d %H:%M"
    table.add_column("address", overflow="fold", min_width=15)
    table.add_column("requests", justify="right", no_wrap=True)
    table.add_column("first seen", no_wrap=True)
    table.add_column("last seen", no_wrap=True)
    table.add_column("place", overflow="fold", max_width=12)
    table.add_column("network", overflow="fold", max_width=24)
    table.add_column("anonymizer", overflow="fold")
    table.add_column("confidence", no_wrap=True)
    table.add_column("reasons", overflow="fold", ratio=1)

    def show(value: object) -> str:
        return "-" if value is None else safe_text(str(value))

    for r in rows.iter_rows(named=True):
        place = r[S.REGION_ISO] or r[S.COUNTRY_ISO]
        place_text = show(place) + (" (exit)" if place and r[LOCATION_IS_EXIT] else "")
        asn = f"AS{r[S.ASN]}" if r[S.ASN] is not None else None
        network = " ".join(x for x in (asn, r[S.AS_ORG]) if x) or None
        table.add_row(
            *(
                Text(c)
                for c in (
                    show(r[IP]),
                    f"{r[S.REQUESTS]:,}",
                    _when(r[S.FIRST_SEEN], fmt),
                    _when(r[S.LAST_SEEN], fmt),
                    place_text,
                    show(network),
                    show(r[S.ANONYMIZER]),
                    show(r[CONFIDENCE]),
                    "\n".join(safe_text(x) for x in r[REASONS] or []) or "-",
                )
            )
        )
    note = (
        "(exit): the place of an anonymized address is its exit's (VPN server, Tor relay, "
        "cloud host), not its user's; none_known: listed by no loaded source, which is "
        "not proof of a direct user"
    )
    return print_terminal(table, [note], width=width, color=color)


__all__ = [
    "CONFIDENCE",
    "IP",
    "IPS_SCHEMA",
    "LOCATION_IS_EXIT",
    "REASONS",
    "address_evidence",
    "evidence_rows",
    "render_ips_table",
]
