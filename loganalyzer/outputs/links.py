"""``loganalyzer links`` for each destination: terminal, CSV, JSON, Markdown, Parquet, xlsx.

User names, agents and paths are attacker-controlled: the terminal and
Markdown show them escaped (:func:`loganalyzer.outputs.render.safe_text`), CSV
neutralises formulas, JSON is written by a serializer, and the long ones are
shortened for a person, never for a machine.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from loganalyzer import schema as S
from loganalyzer.analysis.links import LINK_CAVEATS, Cluster, Links
from loganalyzer.analysis.pipeline import Analysis
from loganalyzer.outputs.render import (
    _JSON_ESCAPES,
    _md_cell,
    print_terminal,
    render_csv,
    render_parquet,
    render_xlsx,
    safe_text,
    terminal_table,
)

VALUE_CHARS = 80
"""A value longer than this is shortened in the table and in Markdown."""
MAX_SHOWN = 100
"""Clusters a table or Markdown document lists; CSV, JSON, Parquet and xlsx have all."""


def more_note(found: Links) -> str:
    """The note for clusters past :data:`MAX_SHOWN`, or ""."""
    more = len(found.clusters) - MAX_SHOWN
    if more <= 0:
        return ""
    return (
        f"{more:,} more cluster{'s' if more != 1 else ''} not listed here "
        "(-O csv, -O json or -O parquet have them all)."
    )


def _short(text: str, limit: int = VALUE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show(value: Any) -> str:
    return "-" if value is None else safe_text(str(value))


def _place(row: dict[str, Any]) -> str:
    code = row.get(S.REGION_ISO) or row.get(S.COUNTRY_ISO)
    if code is None:
        return "-"
    exit_place = row.get(S.ANONYMIZER) not in (None, S.NONE_KNOWN)
    return safe_text(str(code)) + (" (exit)" if exit_place else "")


def _network(row: dict[str, Any]) -> str:
    asn = f"AS{row[S.ASN]}" if row.get(S.ASN) is not None else None
    return safe_text(" ".join(x for x in (asn, row.get(S.AS_ORG)) if x)) or "-"


def _verdict(row: dict[str, Any]) -> str:
    verdict = row.get(S.ANONYMIZER)
    if verdict is None:
        return "not checked"
    extra = ", ".join(str(v) for v in (row.get("confidence"), row.get("provider")) if v)
    return safe_text(f"{verdict} ({extra})" if extra else str(verdict))


def _evidence_line(e: dict[str, Any]) -> str:
    """One piece of evidence as a person reads it (escaped, shortened)."""
    ips = ", ".join(e["ips"])
    detail = f"; {e['detail']}" if e.get("detail") else ""
    return safe_text(
        f"{e['kind']} {_short(str(e['value']))}: held by {e['clients']:,} address"
        f"{'es' if e['clients'] != 1 else ''} in the log, weight {e['weight']:.2f}{detail}"
        f" [{ips}]"
    )


def _when(value: datetime | None, fmt: str) -> str:
    return value.strftime(fmt) if isinstance(value, datetime) else "-"


def _cluster_table(cluster: Cluster, *, fmt: str) -> Any:
    from rich.text import Text

    table = terminal_table("", "")
    table.title = table.caption = None  # the cluster's summary heads it
    for name, kwargs in (
        ("address", {"overflow": "fold", "min_width": 15}),
        ("anonymizer", {"overflow": "fold"}),
        ("place", {"overflow": "fold", "max_width": 14}),
        ("network", {"overflow": "fold", "max_width": 28}),
        ("requests", {"justify": "right", "no_wrap": True}),
        ("first seen", {"no_wrap": True}),
        ("last seen", {"no_wrap": True}),
    ):
        table.add_column(name, **kwargs)
    for r in cluster.clients.iter_rows(named=True):
        cells = (
            _show(r["ip"]),
            _verdict(r),
            _place(r),
            _network(r),
            f"{r[S.REQUESTS]:,}",
            _when(r[S.FIRST_SEEN], fmt),
            _when(r[S.LAST_SEEN], fmt),
        )
        table.add_row(*(Text(c) for c in cells))
    return table


def render_links_table(found: Links, *, width: int | None = 120, color: bool = False) -> str:
    """Each cluster: its summary, its addresses, the evidence of its links; then the caveats."""
    meta = found.meta
    info = meta["links"]
    tr = meta.get("time_range") or {}
    times = [
        t
        for c in found.clusters
        for col in (S.FIRST_SEEN, S.LAST_SEEN)
        for t in c.clients[col].to_list()
        if t is not None
    ]
    fmt = "%m-%d %H:%M" if len({t.year for t in times}) <= 1 else "%Y-%m-%d %H:%M"
    head = (
        f"Linked access: {info['clusters_shown']:,} of {info['clusters_total']:,} clusters "
        f"shown, from {info['addresses']:,} addresses and {meta['lines']['matched']:,} requests"
        + (f"; {tr['first']} to {tr['last']}" if tr.get("first") else "")
    )
    parts = [print_terminal(_heading(head), width=width, color=color)]
    for cluster in found.clusters[:MAX_SHOWN]:
        summary = _heading(f"Cluster {cluster.id}: {safe_text(cluster.summary)}")
        parts.append(print_terminal(summary, width=width, color=color))
        notes = ["evidence:"]
        notes += [f"  {_evidence_line(e)}" for e in cluster.evidence.iter_rows(named=True)]
        parts.append(
            print_terminal(_cluster_table(cluster, fmt=fmt), notes, width=width, color=color)
        )
    if more_note(found):
        parts.append(more_note(found) + "\n")
    if not found.clusters:
        parts.append(
            "No cluster of linked addresses: no two addresses share rare evidence.\n"
            if info["all"]
            else "No cluster of linked addresses with anonymized and unlisted addresses "
            "together (--all shows every cluster).\n"
        )
    # The last caveat says what "(exit)" in the place column means.
    parts.append(print_terminal(_heading("Caveats"), list(LINK_CAVEATS), width=width, color=color))
    return "\n".join(parts)


def _heading(text: str) -> Any:
    from rich.text import Text

    return Text(text, style="bold")


def render_links_markdown(found: Links) -> str:
    """A Markdown document: each cluster's summary, addresses and evidence, provenance, caveats."""
    m = _md_cell
    meta = found.meta
    info = meta["links"]
    lines = meta["lines"]
    out = [
        "# Linked access",
        "",
        f"{info['clusters_shown']:,} of {info['clusters_total']:,} clusters shown, from "
        f"{info['addresses']:,} addresses and {lines['matched']:,} requests.",
        "",
    ]
    header = ["address", "anonymizer", "place", "network", "requests", "first seen", "last seen"]
    for c in found.clusters[:MAX_SHOWN]:
        out += [f"## Cluster {c.id}", "", m(c.summary), ""]
        out.append("| " + " | ".join(header) + " |")
        out.append("|---|---|---|---|---:|---|---|")
        for r in c.clients.iter_rows(named=True):
            cells = [
                r["ip"],
                _verdict(r),
                _place(r),
                _network(r),
                f"{r[S.REQUESTS]:,}",
                _when(r[S.FIRST_SEEN], "%Y-%m-%d %H:%M"),
                _when(r[S.LAST_SEEN], "%Y-%m-%d %H:%M"),
            ]
            out.append("| " + " | ".join(m(x) for x in cells) + " |")
        out += ["", "| evidence | value | addresses in the log | weight | detail | between |"]
        out.append("|---|---|---:|---:|---|---|")
        for e in c.evidence.iter_rows(named=True):
            cells = [
                e["kind"],
                _short(str(e["value"])),
                f"{e['clients']:,}",
                f"{e['weight']:.2f}",
                e.get("detail") or "",
                ", ".join(e["ips"]),
            ]
            out.append("| " + " | ".join(m(x) for x in cells) + " |")
        out.append("")
    if more_note(found):
        out += [m(more_note(found)), ""]
    if not found.clusters:
        out += [
            "No cluster of linked addresses: no two addresses share rare evidence."
            if info["all"]
            else "No cluster of linked addresses to show (`--all` shows every cluster).",
            "",
        ]
    out += [
        "## Provenance",
        "",
        f"- Lines: {lines['total']:,} read, {lines['parsed']:,} parsed, "
        f"{lines['rejected']:,} rejected; {lines['matched']:,} requests",
    ]
    out += [f"- Input `{m(f['path'])}` ({m(f['format'])})" for f in meta.get("files", [])]
    out += [
        f"- Database `{m(d['path'])}`: {m(d['type'])}, built {d['build_date']}"
        for d in meta.get("databases", [])
    ]
    out += [
        f"- Anonymizer source `{m(src['path'])}`: {m(src['kind'])}, {src['entries']:,} entries"
        for src in meta.get("sources", [])
    ]
    out += [f"- Warning: {m(w)}" for w in meta.get("warnings", [])]
    rules = ", ".join(f"{k} {v}" for k, v in info["rules"].items())
    out += [f"- Rules: {m(rules)}", "", "## Caveats", ""]
    out += [f"> {m(c)}\n>" for c in LINK_CAVEATS[:-1]] + [f"> {m(LINK_CAVEATS[-1])}", ""]
    return "\n".join(out)


def render_links_json(found: Links) -> str:
    """The JSON contract: ``{"meta": {...}, "clusters": [...]}``, keys sorted."""
    text = json.dumps(found.as_dict(), sort_keys=True, indent=2, ensure_ascii=False, default=str)
    return text.translate(_JSON_ESCAPES) + "\n"


def render_links(
    found: Links,
    output: str = "table",
    *,
    safe_csv: bool = True,
    width: int | None = 120,
    color: bool = False,
    terminal: bool = False,
) -> str | bytes:
    """Render the clusters for one destination (as :func:`loganalyzer.outputs.render.render`).

    CSV, Parquet and xlsx have one row per cluster and address, with the
    cluster's summary and the evidence each address takes part in.
    """
    if output == "json":
        return render_links_json(found)
    if output == "markdown":
        return render_links_markdown(found)
    if output == "csv":
        return render_csv(found.rows, safe=safe_csv, terminal=terminal)
    as_rows = Analysis(rows=found.rows, meta=found.meta, faults=found.faults)
    if output == "parquet":
        return render_parquet(as_rows)
    if output == "xlsx":
        return render_xlsx(as_rows)
    return render_links_table(found, width=width, color=color)


__all__ = [
    "render_links",
    "render_links_json",
    "render_links_markdown",
    "render_links_table",
]
