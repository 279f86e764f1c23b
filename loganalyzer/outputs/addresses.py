"""Per-address tables for a person: the ``ips`` evidence table and ``lookup`` blocks.

Every text cell from the log or the databases is escaped
(:func:`loganalyzer.outputs.render.safe_text`).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from loganalyzer import schema as S
from loganalyzer.analysis.ips import CONFIDENCE, IP, LOCATION_IS_EXIT, REASONS, TITLE
from loganalyzer.analysis.lookup import ASN_NETWORK, INPUT, LOOKUP_SCHEMA, NETWORK, STATUS
from loganalyzer.analysis.pipeline import Analysis
from loganalyzer.outputs.render import (
    print_terminal,
    safe_text,
    table_time,
    terminal_table,
    zone_note,
)


def render_ips_table(analysis: Analysis, *, width: int | None = 120, color: bool = False) -> str:
    """The evidence table for a terminal (rich), every text cell escaped.

    Reasons wrap inside their column; CSV, JSON, Markdown and Parquet carry
    every column, this table the ones a person reads first.
    """
    from rich.text import Text

    rows = analysis.rows
    meta = analysis.meta
    tr = meta.get("time_range") or {}
    total = meta.get("rows_total", rows.height)
    shown = f"top {rows.height:,} of {total:,}" if total > rows.height else f"{total:,}"
    caption = (
        f"{shown} addresses, {meta['lines']['matched']:,} requests"
        + (f"; {tr['first']} to {tr['last']}" if tr.get("first") else "")
        + zone_note(meta)
    )
    table = terminal_table(TITLE, caption)
    _when = table_time(meta)
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
                    _with_actor(show(r[S.ANONYMIZER]), r.get(S.ACTOR_TYPE)),
                    show(r[CONFIDENCE]),
                    "\n".join(safe_text(x) for x in r[REASONS] or []) or "-",
                )
            )
        )
    note = (
        "(exit): the place of an anonymized address is its exit's (VPN server, Tor relay, "
        "cloud host), not its user's; none_known: listed by no loaded source, which is "
        "not proof of a direct user; + scanner, + crawler: its actor type (actor_type)"
    )
    return print_terminal(table, [note], width=width, color=color)


def _with_actor(verdict: str, actor: str | None) -> str:
    """The verdict with the actor type a source gave, if any: ``hosting + scanner``."""
    if actor is None or actor == S.NONE_KNOWN:
        return verdict
    return f"{verdict} + {actor}"


def render_lookup_table(rows: pl.DataFrame) -> str:
    """One block per address, every field on its own line, for a person to read.

    Text from the input and the databases is shown with control characters
    escaped (:func:`loganalyzer.outputs.render.safe_text`).
    """

    def show(value: Any) -> str:
        return "-" if value is None else safe_text(str(value))

    def pair(code: Any, name: Any) -> str:
        return " ".join(show(v) for v in (code, name) if v is not None) or "-"

    known = set(LOOKUP_SCHEMA) | {S.REQUESTS, S.FIRST_SEEN, S.LAST_SEEN}
    out: list[str] = []
    for r in rows.iter_rows(named=True):
        why = r[S.IP_CLASS] if r[STATUS] == "not_public" else None
        lines = [(r[INPUT], None), ("status", f"{r[STATUS]}" + (f" ({why})" if why else ""))]
        if r[S.CLIENT_IP] is not None and r[S.CLIENT_IP] != r[INPUT]:
            lines.append(("address", show(r[S.CLIENT_IP])))
        if r[STATUS] == "ok":
            lat, lon, radius = r[S.LATITUDE], r[S.LONGITUDE], r[S.ACCURACY_RADIUS]
            location = "-" if lat is None or lon is None else f"{lat}, {lon}"
            if radius is not None:
                location += f" (within {radius} km)"
            asn = f"AS{r[S.ASN]}" if r[S.ASN] is not None else None
            lines += [
                ("network", show(r[NETWORK])),
                ("continent", show(r[S.CONTINENT])),
                ("country", pair(r[S.COUNTRY_ISO], r[S.COUNTRY])),
                ("region", pair(r[S.REGION_ISO], r[S.REGION])),
                ("subregion", pair(r[S.SUBREGION_ISO], r[S.SUBREGION])),
                ("city", show(r[S.CITY])),
                ("location", location),
                ("time zone", show(r[S.TIME_ZONE])),
                ("registered", pair(r[S.REGISTERED_COUNTRY_ISO], r[S.REGISTERED_COUNTRY])),
                ("asn", pair(asn, r[S.AS_ORG])),
                ("asn network", show(r[ASN_NETWORK])),
            ]
        if S.ANONYMIZER in r and r[S.IP_CLASS] == "public":
            verdict = r[S.ANONYMIZER]
            actor = r.get(S.ACTOR_TYPE)
            if verdict is None or verdict == S.NONE_KNOWN:
                lines.append(("anonymizer", "not listed (no source claims it; not proof of clean)"))
            else:
                who = ", ".join(
                    show(v) for v in (r[S.ANONYMIZER_CONFIDENCE], r[S.ANONYMIZER_PROVIDER]) if v
                )
                lines.append(("anonymizer", f"{show(verdict)}" + (f" ({who})" if who else "")))
            if actor is not None and actor != S.NONE_KNOWN:
                lines.append(("actor type", show(actor)))
            lines += [("evidence", show(e)) for e in r[S.ANONYMIZER_EVIDENCE] or []]
        lines += [
            (k.replace("_", " "), show(v))
            for k, v in r.items()
            if k not in known and k not in S.ANON_SCHEMA
        ]
        if S.REQUESTS in r:
            lines.append(("requests", f"{r[S.REQUESTS]:,}"))
            first, last = r[S.FIRST_SEEN], r[S.LAST_SEEN]
            if first is not None and last is not None:
                lines.append(("seen", f"{first:%Y-%m-%dT%H:%M:%SZ} to {last:%Y-%m-%dT%H:%M:%SZ}"))
        head, _ = lines[0]
        out.append(show(head))
        out += [f"  {k:<12} {v}" for k, v in lines[1:]]
        out.append("")
    return "\n".join(out)


__all__ = ["render_ips_table", "render_lookup_table"]
