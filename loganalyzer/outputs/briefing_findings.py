"""The briefing's key findings: plain sentences computed from the analyses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from loganalyzer import schema as S
from loganalyzer.outputs.charts import ANONYMIZED, hour_matrix, place_label
from loganalyzer.outputs.charts.hours import _zone_words
from loganalyzer.outputs.charts.labels import CATEGORY_WORDS

if TYPE_CHECKING:
    from loganalyzer.analysis.pipeline import Analysis

WORK_START, WORK_END = 9, 18


def _pct(n: int, total: int) -> str:
    """A share to one decimal; a few requests among many read "<0.1%", never "0.0%"."""
    if not total:
        return "0.0%"
    pct = 100 * n / total
    return "<0.1%" if 0 < pct < 0.05 else f"{pct:.1f}%"


def _when(ts: Any) -> str:
    if isinstance(ts, datetime):
        return ts.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(ts, str) and ts:
        return ts.replace("T", " ")[:16] + " UTC"
    return "?"


def _plural(n: int, word: str) -> str:
    if n == 1:
        return f"1 {word}"
    return f"{n:,} {word}" + ("es" if word.endswith("s") else "s")


def findings(
    regions: Analysis,
    networks: Analysis,
    hourly: Analysis,
    *,
    watch: Sequence[str] = (),
    tz: str = "UTC",
) -> list[str]:
    """The key findings as plain sentences, computed from the analyses.

    Args:
        regions: by region, not cut by ``top_n`` (shares and sums need every row).
        networks: by ASN.
        hourly: by hour (with any other keys), for the active hours.
        watch: the watched codes, each reported even with no access.
        tz: the zone in which active hours are stated.

    Returns:
        Sentences; they contain log- and database-derived names unescaped, so
        escape them for the destination.
    """
    rows = regions.rows.filter(pl.col(S.REQUESTS) > 0)
    total = int(regions.meta["lines"]["matched"])
    lines = regions.meta["lines"]
    tr = regions.meta.get("time_range") or {}
    out = []
    clients = int(rows[S.UNIQUE_IPS].sum() or 0) if rows.height else 0
    out.append(
        f"{_plural(total, 'request')} from {_plural(clients, 'address')} were analysed, "
        f"from {_when(tr.get('first'))} to {_when(tr.get('last'))} "
        f"({lines['total']:,} lines read, {lines['rejected']:,} rejected)."
    )
    located = rows.filter(pl.col(S.GEO_STATUS) == "ok") if S.GEO_STATUS in rows.columns else rows
    recs = located.to_dicts()
    if recs:
        head = recs[0]
        sentence = (
            f"Most requests came from {place_label(head)}: {head[S.REQUESTS]:,} of {total:,} "
            f"({_pct(head[S.REQUESTS], total)}) from {_plural(head[S.UNIQUE_IPS], 'address')}."
        )
        nxt = [
            f"{place_label(r)} with {r[S.REQUESTS]:,} ({_pct(r[S.REQUESTS], total)})"
            for r in recs[1:3]
        ]
        if nxt:
            sentence += " Next: " + " and ".join(nxt) + "."
        out.append(sentence)
    for code in [w.strip().upper() for w in watch if w.strip()]:
        if "-" in code:
            mine = rows.filter(
                pl.any_horizontal(
                    [
                        pl.col(c) == code
                        for c in (S.REGION_ISO, S.SUBREGION_ISO)
                        if c in rows.columns
                    ]
                ).fill_null(False)
            )
        else:
            mine = rows.filter((pl.col(S.COUNTRY_ISO) == code).fill_null(False))
        n = int(mine[S.REQUESTS].sum() or 0) if mine.height else 0
        if n == 0:
            out.append(f"Watched {code}: no access from there in these logs.")
            continue
        # Each address has one location, so distinct addresses add up across rows.
        ips = int(mine[S.UNIQUE_IPS].sum() or 0)
        name = (
            place_label(mine.to_dicts()[0])
            if "-" in code
            else (f"{mine[S.COUNTRY][0] or code} ({code})")
        )
        out.append(
            f"Watched {name}: {n:,} requests ({_pct(n, total)}) from "
            f"{_plural(ips, 'address')}, first at {_when(mine[S.FIRST_SEEN].min())}, "
            f"last at {_when(mine[S.LAST_SEEN].max())}."
        )
    if ANONYMIZED in rows.columns:
        anon = int(rows[ANONYMIZED].sum() or 0)
        split = [
            (int(rows[col].sum() or 0), CATEGORY_WORDS[cat])
            for cat, col in S.CATEGORY_REQUESTS.items()
            if col in rows.columns
        ]
        named = ", ".join(f"{n:,} {word}" for n, word in sorted(split, key=lambda c: -c[0]) if n)
        out.append(
            f"{anon:,} of {total:,} requests ({_pct(anon, total)}) came through anonymizers"
            + (f" ({named})" if named else "")
            + f"; the other {total - anon:,} have no anonymizer known, which is not proof of "
            "direct access. Anonymized places are the exits', not the users'."
        )
        actors = [
            (int(rows[col].sum() or 0), f"{actor}s")
            for actor, col in S.ACTOR_REQUESTS.items()
            if col in rows.columns
        ]
        if actors and not any(n for n, _ in actors):
            out.append("No request came from a known internet scanner or crawler.")
        elif actors:
            shown = " and ".join(
                f"{n:,} ({_pct(n, total)}) from known {word}" for n, word in actors
            )
            out.append(
                f"Of all requests, {shown}: research scanners and search or AI crawlers, "
                "not people (--exclude scanner,crawler leaves them out)."
            )
    else:
        out.append(
            "Anonymizer verdicts were not part of this analysis, so every figure counts all "
            "access; some of it may come through VPNs, proxies or Tor exits."
        )
    if S.GEO_STATUS in rows.columns:
        unplaced = rows.filter(pl.col(S.GEO_STATUS) != "ok")
        n = int(unplaced[S.REQUESTS].sum() or 0) if unplaced.height else 0
        if n:
            out.append(
                f"{n:,} requests ({_pct(n, total)}) could not be placed: private or "
                "reserved addresses, or addresses absent from the database."
            )
    nets = networks.rows.filter(pl.col(S.ASN).is_not_null() & (pl.col(S.REQUESTS) > 0))
    if nets.height:
        top = nets.row(0, named=True)
        out.append(
            f"The most active network was {place_label(top)}: {top[S.REQUESTS]:,} requests "
            f"({_pct(top[S.REQUESTS], total)}) from {_plural(top[S.UNIQUE_IPS], 'address')}."
        )
    if total:
        matrix = hour_matrix(hourly, tz=tz)
        by_hour = [sum(matrix[d][h] for d in range(7)) for h in range(24)]
        peak = max(range(24), key=lambda h: (by_hour[h], -h))
        work = sum(matrix[d][h] for d in range(5) for h in range(WORK_START, WORK_END))
        zone = _zone_words(tz)
        out.append(
            f"In {zone} the busiest hour of day was {peak:02d}:00-{peak:02d}:59 "
            f"({by_hour[peak]:,} requests); {_pct(work, total)} of requests arrived on "
            f"weekdays between {WORK_START:02d}:00 and {WORK_END:02d}:00."
        )
    return out


__all__ = ["WORK_END", "WORK_START", "findings"]
