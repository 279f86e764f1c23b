"""Rendering: report rows to text or bytes for the terminal, spreadsheets and code.

Log fields are attacker-controlled. Every renderer here makes them inert for its
destination: control characters and escape sequences are shown escaped in the
terminal and Markdown, spreadsheet formula prefixes are neutralised in CSV, and
JSON is produced by a serializer. Nothing here prints.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

import polars as pl

from loganalyzer import schema as S

if TYPE_CHECKING:
    from rich.table import Table

    from loganalyzer.analysis.pipeline import Analysis

Output = Literal["table", "csv", "json", "parquet", "markdown", "xlsx"]
OUTPUTS: tuple[str, ...] = ("table", "csv", "json", "parquet", "markdown", "xlsx")

# C0 and C1 controls, DEL, and the Unicode format characters that reorder or hide
# text (bidi overrides, zero-width): all shown as escapes, never emitted.
_INVISIBLE = [
    *range(0x00, 0x20),
    0x7F,
    *range(0x80, 0xA0),
    0x061C,
    0x180E,
    0x200B,
    0x200C,
    0x200D,
    0x200E,
    0x200F,
    *range(0x202A, 0x202F),
    *range(0x2060, 0x2065),
    *range(0x2066, 0x206A),
    0xFEFF,
]
_ESCAPES = {cp: (f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}") for cp in _INVISIBLE}
# JSON escapes C0 itself; the rest of the invisible set it would write raw, and a
# terminal acts on C1 controls and bidi overrides. \uXXXX is the same string to
# any JSON reader.
_JSON_ESCAPES = {cp: f"\\u{cp:04x}" for cp in _INVISIBLE if cp >= 0x20}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_BUCKET_LABELS = {
    "not_public": "(non-public)",
    "not_found": "(not found)",
    "invalid_ip": "(invalid IP)",
}


def safe_text(value: str) -> str:
    r"""Show control and invisible characters as escapes.

    Example:
        >>> safe_text("GET /\x1b[31mred")
        'GET /\\x1b[31mred'
    """
    return value.translate(_ESCAPES)


def neutralise_formula(value: str) -> str:
    """Prefix a cell that a spreadsheet would run as a formula with an apostrophe.

    This is OWASP's advice for CSV injection; machine consumers can turn it off.

    Example:
        >>> neutralise_formula("=HYPERLINK(1)")
        "'=HYPERLINK(1)"
    """
    return "'" + value if value.startswith(_FORMULA_START) else value


def _iso(value: datetime) -> str:
    offset = value.utcoffset()
    if offset is None or not offset:
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    # A bucket counted in a --tz zone says which zone its time is in.
    return value.isoformat(timespec="seconds")


def _text_columns(rows: pl.DataFrame) -> pl.DataFrame:
    """Datetimes as ISO 8601 strings (UTC as Z, a --tz bucket with its offset)."""
    exprs = []
    for name, dtype in rows.schema.items():
        if isinstance(dtype, pl.Datetime):
            zoned = dtype.time_zone not in (None, "UTC")
            fmt = "%Y-%m-%dT%H:%M:%S%:z" if zoned else "%Y-%m-%dT%H:%M:%SZ"
            exprs.append(pl.col(name).dt.strftime(fmt))
        elif isinstance(dtype, pl.Date):
            exprs.append(pl.col(name).dt.strftime("%Y-%m-%d"))
    return rows.with_columns(exprs) if exprs else rows


def _records(rows: pl.DataFrame) -> list[dict[str, Any]]:
    out = _text_columns(rows)
    if S.SHARE in out.columns:
        out = out.with_columns(pl.col(S.SHARE).round(6))
    return out.to_dicts()


def render_json(analysis: Analysis) -> str:
    """The JSON contract: ``{"meta": {...}, "rows": [...]}``, keys sorted."""
    doc = {"meta": analysis.meta, "rows": _records(analysis.rows)}
    text = json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False, default=str)
    return text.translate(_JSON_ESCAPES) + "\n"


LIST_SEPARATOR = " | "
"""How CSV and Markdown show a list cell (``anonymizer_evidence``): items joined."""


def _joined_lists(rows: pl.DataFrame) -> pl.DataFrame:
    lists = [n for n, t in rows.schema.items() if isinstance(t, pl.List)]
    if not lists:
        return rows
    return rows.with_columns(
        pl.col(c).cast(pl.List(pl.String)).list.join(LIST_SEPARATOR) for c in lists
    )


def render_csv(rows: pl.DataFrame, *, safe: bool = True, terminal: bool = False) -> str:
    """CSV with a header row; text cells neutralised for spreadsheets when ``safe``.

    List cells (a verdict's evidence) are joined with ``" | "``; shares are
    rounded to six places, as in JSON. With ``terminal``, control characters in
    text cells are shown escaped, as in the table: the CSV is being read by a
    person, and log text must not drive the terminal.
    """
    out = _joined_lists(_text_columns(rows))
    if S.SHARE in out.columns and out.schema[S.SHARE].is_float():
        out = out.with_columns(pl.col(S.SHARE).round(6))
    if terminal:
        text_cols = [n for n, t in out.schema.items() if t == pl.String]
        out = out.with_columns(
            pl.col(c).map_elements(safe_text, return_dtype=pl.String) for c in text_cols
        )
    if safe:
        text_cols = [n for n, t in out.schema.items() if t == pl.String]
        out = out.with_columns(
            pl.col(c).map_elements(neutralise_formula, return_dtype=pl.String) for c in text_cols
        )
    buf = io.StringIO()
    out.write_csv(buf, line_terminator="\n")
    return buf.getvalue()


def render_parquet(analysis: Analysis) -> bytes:
    """Parquet bytes; the ``meta`` object travels in the file's key-value metadata."""
    buf = io.BytesIO()
    analysis.rows.write_parquet(
        buf, metadata={"loganalyzer": json.dumps(analysis.meta, default=str)}
    )
    return buf.getvalue()


def _flat_meta(meta: Any, prefix: str = "") -> list[tuple[str, str]]:
    """``meta`` as (dotted key, text) pairs: a sheet of provenance a person can read."""
    if isinstance(meta, dict):
        return [kv for k, v in meta.items() for kv in _flat_meta(v, f"{prefix}{k}.")]
    if isinstance(meta, list) and any(isinstance(v, (dict, list)) for v in meta):
        return [kv for i, v in enumerate(meta) for kv in _flat_meta(v, f"{prefix}{i}.")]
    if isinstance(meta, list):
        return [(prefix.rstrip("."), ", ".join(map(str, meta)))]
    return [(prefix.rstrip("."), "" if meta is None else str(meta))]


def render_xlsx(analysis: Analysis) -> bytes:
    """An Excel workbook: a sheet of rows and a sheet of provenance (``meta``).

    Written by Polars with xlsxwriter, told never to turn a cell into a formula or
    a link: log text that starts with ``=`` stays text in the spreadsheet. Times
    are ISO 8601 UTC text, as in CSV (Excel has no time zones).
    """
    import xlsxwriter

    rows = _joined_lists(_text_columns(analysis.rows))
    if S.SHARE in rows.columns and rows.schema[S.SHARE].is_float():
        rows = rows.with_columns(pl.col(S.SHARE).round(6))
    buf = io.BytesIO()
    options = {"strings_to_formulas": False, "strings_to_urls": False, "in_memory": True}
    with xlsxwriter.Workbook(buf, options) as book:
        rows.write_excel(book, worksheet="rows", autofit=True, float_precision=6)
        meta = pl.DataFrame(_flat_meta(analysis.meta), schema=["key", "value"], orient="row")
        meta.write_excel(book, worksheet="provenance", autofit=True)
    return buf.getvalue()


def _label(row: dict[str, Any], keys: Sequence[str]) -> list[str]:
    status = row.get(S.GEO_STATUS)
    cells = []
    for k in keys:
        v = row.get(k)
        if v is None:
            if k in (S.COUNTRY, S.COUNTRY_ISO) and status in _BUCKET_LABELS:
                cells.append(_BUCKET_LABELS[status] if k == S.COUNTRY else "")
                continue
            # A watched place with no access has no record to name it: not "unknown".
            absent = row.get(S.WATCHED) and not row.get(S.REQUESTS)
            named = k in (S.COUNTRY, S.COUNTRY_ISO) and not absent
            cells.append("(unknown)" if named else "-")
            continue
        cells.append(safe_text(str(v)) if not isinstance(v, datetime) else _iso(v))
    return cells


def _display_keys(rows: pl.DataFrame, keys: Sequence[str]) -> list[str]:
    return [k for k in keys if k != S.GEO_STATUS and k in rows.columns]


def _human_bytes(n: int | None) -> str:
    if n is None:
        return "0 B"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1000
    return f"{n} B"


_HEADERS = {
    S.COUNTRY_ISO: "cc",
    S.REGION_ISO: "region code",
    S.SUBREGION_ISO: "subregion code",
    S.AS_ORG: "organisation",
    S.CLIENT_IP: "address",
    S.ANONYMIZER_CONFIDENCE: "confidence",
    S.ANONYMIZER_PROVIDER: "provider",
}


def terminal_table(title: str, caption: str) -> Table:
    """The terminal tables' one look: a rule under the header, no outer frame."""
    from rich import box
    from rich.table import Table

    return Table(
        title=title,
        caption=caption,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        highlight=False,
        padding=(0, 1),
        collapse_padding=True,
    )


def print_terminal(
    table: Table, notes: Sequence[str] = (), *, width: int | None = None, color: bool = False
) -> str:
    """A table and its notes as terminal text; markup and emoji codes in cells stay text."""
    from rich.console import Console
    from rich.text import Text

    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width or 120,
        color_system="standard" if color else None,
        force_terminal=color,
        highlight=False,
        emoji=False,
        markup=False,
    )
    console.print(table)
    for note in notes:
        console.print(Text(note))
    return buf.getvalue()


_ALL_STATS = (
    "requests",
    "none known",
    "anonymized",
    "scanners",
    "crawlers",
    "share",
    "unique IPs",
    "bytes",
    "first seen",
    "last seen",
)
_DROP_FIRST = (
    "last seen",
    "first seen",
    "bytes",
    "crawlers",
    "scanners",
    "share",
    "unique IPs",
    "none known",
)
"""Which numbers a narrow terminal loses first; the keys and requests always stay."""


def table_time(meta: dict[str, Any]) -> Callable[[datetime | None, str], str]:
    """How a table writes a first or last seen: in the run's ``--tz`` zone, if any.

    Rows counted by day in Asia/Shanghai whose first seen were in UTC read as
    requests outside their own day. CSV, JSON and Parquet keep UTC.
    """
    zone = meta.get("time_zone") or "UTC"
    tzinfo = None if zone == "UTC" else ZoneInfo(zone)

    def when(value: datetime | None, fmt: str) -> str:
        if not isinstance(value, datetime):
            return "-"
        return (value.astimezone(tzinfo) if tzinfo else value).strftime(fmt)

    return when


def zone_note(meta: dict[str, Any]) -> str:
    """``; times in ZONE`` for a table's caption, when they are not UTC."""
    zone = meta.get("time_zone") or "UTC"
    return "" if zone == "UTC" else f"; times in {zone}"


def render_table(analysis: Analysis, *, width: int | None = 120, color: bool = False) -> str:
    """A terminal table (rich), widths fixed so the output is reproducible.

    The keys (the groups) always stay: on a narrow terminal the numbers go first,
    from the right, and a note names what was hidden (CSV and JSON keep them all).
    """
    rows = analysis.rows
    keys = _display_keys(rows, analysis.meta.get("keys", []))
    if S.ANONYMIZER in rows.columns and S.ANONYMIZER not in keys:
        keys.append(S.ANONYMIZER)  # --by ip: each address's verdict
    # Wide groupings leave no room for times; CSV and JSON always carry them.
    anon = S.REQUESTS_ANONYMIZED in rows.columns
    show_times = len(keys) <= (2 if anon else 4)
    stat_names = ["requests", "share", "unique IPs", "bytes"]
    if anon:
        # Watched places must show how much came through anonymizers.
        # unique_ips_anonymized and the per-category counts are in CSV, JSON and
        # Parquet; the table has no room for them.
        stat_names[1:1] = ["none known", "anonymized"]
        # Scanners and crawlers, beside: only when a source named some.
        bots = [
            name
            for name, col in (("scanners", S.REQUESTS_SCANNER), ("crawlers", S.REQUESTS_CRAWLER))
            if col in rows.columns and bool((rows[col] > 0).any())
        ]
        stat_names[3:3] = bots
    if show_times:
        stat_names += ["first seen", "last seen"]
    # The fit is tried on the rows that are widest in some column: rich sizes each
    # column by its widest cell, so they lay out as the whole table does, and a
    # report of thousands of rows is not laid out once more per try.
    widest = _widest_rows(analysis, keys)
    hidden: list[str] = []
    for name in _DROP_FIRST:
        if _fits(_region_table(analysis, keys, stat_names, only=widest), width or 120):
            break
        if name in stat_names:
            stat_names.remove(name)
            hidden.append(name)
    table = _region_table(analysis, keys, stat_names)
    notes = []
    if S.WATCHED in rows.columns and bool(rows[S.WATCHED].any()):
        notes.append("* watched (--watch); zero rows mean no access from there")
    if hidden:
        order = [n for n in _ALL_STATS if n in hidden]
        notes.append(
            f"not shown at this width: {', '.join(order)} "
            "(widen the terminal, or use --width, -O csv or -O json)"
        )
    if anon:
        notes.append(
            "anonymized: listed by a loaded source as a Tor exit, privacy relay, VPN, "
            "proxy or hosting (the place is the exit's); none known: listed by no loaded "
            "source (none_known), which is not proof of a direct user"
        )
    if any(name in stat_names for name in ("scanners", "crawlers")):
        notes.append(
            "scanners, crawlers: requests of clients a loaded source lists as internet "
            "scanners or crawlers (actor_type), counted beside their anonymizer verdict; "
            "--exclude scanner,crawler leaves them out"
        )
    return print_terminal(table, notes, width=width, color=color)


def _fits(table: Table, width: int) -> bool:
    """Whether rich lays the table out within ``width`` columns, nothing cropped.

    rich's own measurement can promise less than its layout gives (folding stops
    at words), so the table is laid out uncropped and the lines measured.
    """
    from rich.console import Console

    buf = io.StringIO()
    Console(width=width, file=buf, color_system=None, emoji=False, markup=False).print(
        table, crop=False
    )
    # Trailing padding (a centred title's) is not content a terminal would wrap.
    return max((len(line.rstrip()) for line in buf.getvalue().splitlines()), default=0) <= width


def _widest_rows(analysis: Analysis, keys: list[str]) -> list[int]:
    """For each column, the row with its longest cell (or longest word, for wrapped keys)."""
    rows = analysis.rows
    if rows.height <= 50:
        return list(range(rows.height))
    picks = {0}
    labels = [_label(r, keys) for r in rows.iter_rows(named=True)]
    for i in range(len(keys)):
        picks.add(max(range(len(labels)), key=lambda n: len(labels[n][i])))
        picks.add(
            max(range(len(labels)), key=lambda n: max(map(len, labels[n][i].split() or [""])))
        )
    for column in (S.REQUESTS, S.UNIQUE_IPS, S.BYTES, S.REQUESTS_DIRECT, S.REQUESTS_ANONYMIZED):
        if column in rows.columns:
            best = rows[column].arg_max()
            if best is not None:
                picks.add(int(best))
    # The span of times sets their format (with the year or not), and one watched
    # row adds the marker column.
    for column, pick in ((S.FIRST_SEEN, "arg_min"), (S.LAST_SEEN, "arg_max")):
        if column in rows.columns and (at := getattr(rows[column], pick)()) is not None:
            picks.add(int(at))
    if S.WATCHED in rows.columns and rows[S.WATCHED].any():
        picks.add(int(rows[S.WATCHED].arg_max() or 0))
    return sorted(picks)


def _region_table(
    analysis: Analysis, keys: list[str], stat_names: list[str], *, only: list[int] | None = None
) -> Table:
    """The report's table with these key columns and these numbers, in this order.

    ``only``: the rows to lay out (by position), to try a width; all by default.
    """
    from rich.text import Text

    rows = analysis.rows if only is None else analysis.rows[only]
    lines = analysis.meta["lines"]
    title = (
        f"Requests by {' + '.join(analysis.meta.get('group_by') or ['region'])}: "
        f"{lines['matched']:,} requests"
    )
    tr = analysis.meta.get("time_range") or {}
    caption = (
        f"{lines['total']:,} lines read, {lines['parsed']:,} parsed, {lines['rejected']:,} rejected"
        + (f"; {tr['first']} to {tr['last']}" if tr.get("first") else "")
        + zone_note(analysis.meta)
    )
    if analysis.meta.get("rows_total", rows.height) > rows.height:
        caption += f"; top {rows.height} of {analysis.meta['rows_total']:,} rows"
    table = terminal_table(title, caption)
    label_rows = [_label(r, keys) for r in rows.iter_rows(named=True)]
    watched = S.WATCHED in rows.columns and bool(rows[S.WATCHED].any())
    if watched:
        table.add_column("", no_wrap=True)
    for i, k in enumerate(keys):
        header = _HEADERS.get(k, k.replace("_", " "))
        longest = max([len(header), *(len(r[i]) for r in label_rows)])
        table.add_column(header, overflow="fold", min_width=min(longest, 14))
    for name in stat_names:
        table.add_column(
            name,
            justify="left" if name in ("first seen", "last seen") else "right",
            no_wrap=True,
        )
    firsts = [t for t in rows[S.FIRST_SEEN].to_list() if t is not None] if rows.height else []
    lasts = [t for t in rows[S.LAST_SEEN].to_list() if t is not None] if rows.height else []
    # Within one year the caption carries the year, and the columns need not.
    one_year = len({t.year for t in firsts + lasts}) <= 1
    time_fmt = "%m-%d %H:%M" if one_year else "%Y-%m-%d %H:%M"
    when = table_time(analysis.meta)
    for row, labels in zip(rows.iter_rows(named=True), label_rows, strict=True):
        first, last = row.get(S.FIRST_SEEN), row.get(S.LAST_SEEN)
        every = {
            "requests": f"{row[S.REQUESTS]:,}",
            "none known": f"{row.get(S.REQUESTS_DIRECT) or 0:,}",
            "anonymized": f"{row.get(S.REQUESTS_ANONYMIZED) or 0:,}",
            "scanners": f"{row.get(S.REQUESTS_SCANNER) or 0:,}",
            "crawlers": f"{row.get(S.REQUESTS_CRAWLER) or 0:,}",
            "share": f"{100 * (row[S.SHARE] or 0):.1f}%",
            "unique IPs": f"{row[S.UNIQUE_IPS]:,}",
            "bytes": _human_bytes(row[S.BYTES]),
            "first seen": when(first, time_fmt),
            "last seen": when(last, time_fmt),
        }
        prefix = [Text("*" if row.get(S.WATCHED) else "")] if watched else []
        cells = [Text(c) for c in labels]
        table.add_row(*prefix, *cells, *[Text(every[name]) for name in stat_names])
    return table


def _md_cell(value: Any) -> str:
    if value is None:
        return ""
    text = safe_text(str(value))
    for ch, rep in (
        ("&", "&amp;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ("|", "\\|"),
        ("`", "\\`"),
        ("*", "\\*"),
        ("_", "\\_"),
        ("[", "\\["),
        ("]", "\\]"),
    ):
        text = text.replace(ch, rep)
    return text


def render_markdown(analysis: Analysis) -> str:
    """A Markdown document: the table, provenance, and the geolocation caveat."""
    rows = _joined_lists(_text_columns(analysis.rows))
    meta = analysis.meta
    lines = meta["lines"]
    heading = meta.get("title") or f"Requests by {' + '.join(meta.get('group_by') or ['region'])}"
    out = [f"# {heading}", ""]
    cols = [c for c in rows.columns]
    out.append("| " + " | ".join(_md_cell(c) for c in cols) + " |")
    out.append("|" + "|".join("---:" if rows.schema[c].is_numeric() else "---" for c in cols) + "|")
    for row in rows.iter_rows():
        out.append(
            "| "
            + " | ".join(_md_cell(round(v, 4) if isinstance(v, float) else v) for v in row)
            + " |"
        )
    out += [
        "",
        "## Provenance",
        "",
        f"- Lines: {lines['total']:,} read, {lines['parsed']:,} parsed, "
        f"{lines['rejected']:,} rejected; {lines['matched']:,} requests in this report",
    ]
    for f in meta.get("files", []):
        fl = f["lines"]
        out.append(
            f"- Input `{_md_cell(f['path'])}` ({_md_cell(f['format'])}): {fl['total']:,} lines, "
            f"{fl['parsed']:,} parsed, {fl['rejected']:,} rejected"
        )
    for d in meta.get("databases", []):
        out.append(
            f"- Database `{_md_cell(d['path'])}`: {_md_cell(d['type'])}, built {d['build_date']}"
        )
    for src in meta.get("sources", []):
        out.append(
            f"- Anonymizer source `{_md_cell(src['path'])}`: {_md_cell(src['kind'])}, "
            f"{src['entries']:,} entries, sha256 {src['sha256'][:12]}"
        )
    if meta.get("anonymizers") and not meta.get("sources"):
        out.append(f"- Anonymizers: {_md_cell(meta['anonymizers'])}")
    if meta.get("filters"):
        out.append(f"- Filters: {_md_cell(', '.join(meta['filters']))}")
    out += ["", f"> {meta.get('caveat', '')}", ""]
    return "\n".join(out)


def select_columns(analysis: Analysis, columns: Sequence[str]) -> Analysis:
    """The analysis with only its key columns and ``columns``, in that order (``--columns``).

    The keys (the groups) always stay, so that every row can still be told apart.

    Raises:
        UsageError: a name that is not one of the rows' columns, with the list.
    """
    from dataclasses import replace

    from loganalyzer.errors import UsageError

    rows = analysis.rows
    unknown = [c for c in columns if c not in rows.columns]
    if unknown:
        raise UsageError(
            f"--columns: no column {', '.join(map(repr, unknown))}; "
            f"this output has {', '.join(rows.columns)}"
        )
    keys = [k for k in analysis.meta.get("keys", []) if k in rows.columns]
    chosen = [*keys, *(c for c in dict.fromkeys(columns) if c not in keys)]
    meta = {**analysis.meta, "columns": list(dict.fromkeys(columns))}
    return replace(analysis, rows=rows.select(chosen), meta=meta)


def render_selected_table(
    analysis: Analysis, *, width: int | None = 120, color: bool = False
) -> str:
    """A terminal table of exactly the rows' columns (after ``--columns``), headed by name.

    Every cell is escaped; times are in the run's ``--tz`` zone, shares in percent.
    Nothing is dropped to fit: the user chose the columns, so long cells wrap.
    """
    from rich.text import Text

    rows = analysis.rows
    meta = analysis.meta
    lines = meta.get("lines") or {}
    caption = (
        f"{rows.height:,} rows; {lines.get('matched', lines.get('parsed', 0)):,} requests"
        + zone_note(meta)
    )
    title = meta.get("title") or f"Requests by {', '.join(meta.get('group_by') or ['row'])}"
    table = terminal_table(str(title), caption)
    when = table_time(meta)
    # As in the report's table: the geolocation status is for machines.
    if S.GEO_STATUS in rows.columns and S.GEO_STATUS not in meta.get("columns", ()):
        rows = rows.drop(S.GEO_STATUS)

    def cell(name: str, value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, datetime):
            return when(value, "%Y-%m-%d %H:%M")
        if isinstance(value, float):
            return f"{100 * value:.2f}%" if name.startswith("share") else f"{value:,.2f}"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, int):
            return str(value) if name.endswith("asn") else f"{value:,}"
        if isinstance(value, list):
            return "\n".join(safe_text(str(v)) for v in value)
        return safe_text(str(value))

    for name, dtype in rows.schema.items():
        numeric = dtype.is_numeric() and not name.endswith(("asn", "_iso"))
        table.add_column(name, justify="right" if numeric else "left", overflow="fold")
    for row in rows.iter_rows(named=True):
        table.add_row(*(Text(cell(name, value)) for name, value in row.items()))
    return print_terminal(table, [], width=width, color=color)


def render(
    analysis: Analysis,
    output: Output | str = "table",
    *,
    safe_csv: bool = True,
    width: int | None = 120,
    color: bool = False,
    terminal: bool = False,
) -> str | bytes:
    """Render an analysis for one destination.

    Args:
        analysis: the report.
        output: ``table``, ``csv``, ``json``, ``parquet``, ``markdown`` or ``xlsx``.
        safe_csv: neutralise spreadsheet formulas in CSV text cells.
        width: terminal table width.
        color: colour the terminal table.
        terminal: the text goes to a terminal: CSV cells are escaped like the
            table's (JSON and Markdown always are).

    Returns:
        Text, or bytes for Parquet and xlsx.
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
        return render_markdown(analysis)
    return render_table(analysis, width=width, color=color)
