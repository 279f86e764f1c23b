"""A comparison of two periods as a table, CSV, JSON, Parquet or Markdown.

The rows come from :func:`loganalyzer.analysis.compare.compare`; log-derived text
is escaped as in every other table (:func:`loganalyzer.outputs.render.safe_text`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loganalyzer import schema as S
from loganalyzer.analysis.compare import BASELINE, CHANGE, CURRENT
from loganalyzer.analysis.pipeline import Analysis
from loganalyzer.outputs.render import (
    _BUCKET_LABELS,
    _HEADERS,
    _display_keys,
    _label,
    _md_cell,
    _text_columns,
    print_terminal,
    render_csv,
    render_json,
    render_parquet,
    render_xlsx,
    terminal_table,
)


def _period_text(meta: dict[str, Any], label: str) -> str:
    p = meta["periods"][label]
    tr = p["time_range"]
    when = f"{tr['first']} to {tr['last']}" if tr.get("first") else "no requests"
    return f"{label} {p['requests']:,} requests ({when})"


def _shares(before: float, after: float) -> tuple[str, str]:
    """Both shares as percentages, with as few decimals as still show them differ."""
    for places in range(1, 5):
        was, now = f"{100 * before:.{places}f}%", f"{100 * after:.{places}f}%"
        if was != now or before == after:
            return was, now
    return was, now


def _stats(row: dict[str, Any]) -> list[str]:
    was, now = _shares(row["share_baseline"], row["share_current"])
    return [
        row[CHANGE],
        f"{row['requests_baseline']:,}",
        f"{row['requests_current']:,}",
        f"{row['requests_change']:+,}",
        was,
        now,
        f"{row['unique_ips_baseline']:,}",
        f"{row['unique_ips_current']:,}",
    ]


def _bucket_label(row: dict[str, Any], keys: Sequence[str], cells: list[str]) -> list[str]:
    """Name the non-public / not found / invalid bucket where no place column would."""
    status = row.get(S.GEO_STATUS)
    # Where a country column is shown, report._label has named the bucket already.
    if S.COUNTRY in keys or S.COUNTRY_ISO in keys:
        return cells
    if cells and status in _BUCKET_LABELS and all(row.get(k) is None for k in keys):
        return [_BUCKET_LABELS[status], *cells[1:]]
    return cells


def render_compare_table(analysis: Analysis, *, width: int | None = 120) -> str:
    """A terminal table of changes; log-derived text escaped (see report.safe_text)."""
    from rich.text import Text

    rows, meta = analysis.rows, analysis.meta
    keys = _display_keys(rows, meta.get("keys", []))
    title = (
        f"Changes by {' + '.join(meta.get('group_by') or ['region'])}: "
        f"{_period_text(meta, BASELINE)}; {_period_text(meta, CURRENT)}"
    )
    caption = (
        f"{meta['lines']['total']:,} lines read, {meta['lines']['rejected']:,} rejected; "
        "up/down: more/fewer requests; shares are of each period's requests"
    )
    if meta.get("rows_total", rows.height) > rows.height:
        caption += f"; top {rows.height} of {meta['rows_total']:,} rows"
    table = terminal_table(title, caption)
    watched = S.WATCHED in rows.columns and bool(rows[S.WATCHED].any())
    if watched:
        table.add_column("", no_wrap=True)
    label_rows = [_bucket_label(r, keys, _label(r, keys)) for r in rows.iter_rows(named=True)]
    for i, k in enumerate(keys):
        header = _HEADERS.get(k, k.replace("_", " "))
        longest = max([len(header), *(len(r[i]) for r in label_rows)])
        table.add_column(header, overflow="fold", min_width=min(longest, 14))
    names = (
        "change",
        "was",
        "now",
        "diff",
        "share was",
        "share now",
        "IPs was",
        "IPs now",
    )
    stat_rows = [_stats(row) for row in rows.iter_rows(named=True)]
    for i, name in enumerate(names):
        # Numbers never wrap; two-word headers may, so narrow terminals keep every column.
        widest = max([len(r[i]) for r in stat_rows] or [1])
        table.add_column(
            name,
            justify="left" if name == "change" else "right",
            min_width=max(widest, *(len(w) for w in name.split())),
        )
    for row, labels, stats in zip(rows.iter_rows(named=True), label_rows, stat_rows, strict=True):
        prefix = [Text("*" if row.get(S.WATCHED) else "")] if watched else []
        table.add_row(*prefix, *[Text(c) for c in labels], *[Text(x) for x in stats])
    notes = ["* watched (--watch); 'none' means no access in either period"] if watched else []
    return print_terminal(table, notes, width=width)


def render_compare_markdown(analysis: Analysis) -> str:
    """A Markdown document of the changes, with both periods and the caveat."""
    rows = _text_columns(analysis.rows)
    meta = analysis.meta
    out = [f"# Changes by {' + '.join(meta.get('group_by') or ['region'])}", ""]
    out += [f"- {_md_cell(_period_text(meta, p))}" for p in (BASELINE, CURRENT)]
    out += [""]
    out.append("| " + " | ".join(_md_cell(c) for c in rows.columns) + " |")
    out.append(
        "|" + "|".join("---:" if rows.schema[c].is_numeric() else "---" for c in rows.columns) + "|"
    )
    for row in rows.iter_rows():
        cells = [_md_cell(round(v, 4) if isinstance(v, float) else v) for v in row]
        out.append("| " + " | ".join(cells) + " |")
    out += ["", f"> {meta.get('caveat', '')}", ""]
    return "\n".join(out)


def render_comparison(
    analysis: Analysis,
    output: str = "table",
    *,
    safe_csv: bool = True,
    width: int | None = 120,
    terminal: bool = False,
) -> str | bytes:
    """Render a comparison as ``table``, ``csv``, ``json``, ``parquet``, ``markdown`` or ``xlsx``.

    ``terminal``: the text goes to a terminal, so CSV cells are escaped like the table's.
    """
    if output == "json":
        return render_json(analysis)
    if output == "xlsx":
        return render_xlsx(analysis)
    if output == "csv":
        return render_csv(analysis.rows, safe=safe_csv, terminal=terminal)
    if output == "parquet":
        return render_parquet(analysis)
    if output == "markdown":
        return render_compare_markdown(analysis)
    return render_compare_table(analysis, width=width)


__all__ = ["render_compare_markdown", "render_compare_table", "render_comparison"]
