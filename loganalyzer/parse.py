"""Parsing: raw lines to typed request columns, in one vectorised Polars pass.

Lines that do not match the format are never dropped: they come back as rejects
with their source, line number and a reason, so parsed + rejected = lines read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from loganalyzer import schema as S
from loganalyzer.formats import LogFormat, get_format

REASON_BLANK = "blank line"
REASON_COMMENT = "comment line"
REASON_NO_MATCH = "does not match the log format"
REASON_BAD_TIME = "unreadable timestamp"

_APACHE_TIME = "[%d/%b/%Y:%H:%M:%S %z]"
# Request lines are "METHOD TARGET PROTOCOL". TLS handshakes sent to a plain port,
# "-" and scanners' junk are kept whole in `request` with null method and path.
_REQUEST_RE = (
    r"^(?P<method>[A-Za-z][A-Za-z0-9_-]*) (?P<path>.*?)(?: (?P<protocol>[A-Z]+/[0-9.]+))?$"
)
# Apache writes a quote inside a quoted field as \" and a backslash as \\. Other
# escapes (\xNN, \n) stay as written: unescaping them would put raw control bytes
# into the data.
_UNESCAPE_RE = r'\\(["\\])'


@dataclass(frozen=True)
class ParseResult:
    """Parsed requests and the lines that were not.

    Attributes:
        rows: one row per request, with the columns of :data:`schema.PARSED_SCHEMA`.
        rejects: ``source``, ``line_no``, ``reason``, ``line`` for every other line.
    """

    rows: pl.LazyFrame
    rejects: pl.LazyFrame


def _unescape(col: str) -> pl.Expr:
    return pl.col(col).str.replace_all(_UNESCAPE_RE, "$1")


def _dash_null(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr == "-").then(None).otherwise(expr)


_NEEDS: dict[str, tuple[str, ...]] = {
    S.TS: ("_time",),
    S.UTC_OFFSET: ("_time",),
    S.METHOD: (S.REQUEST,),
    S.PATH: (S.REQUEST,),
    S.PROTOCOL: (S.REQUEST,),
}
"""Columns computed from other captured fields."""


def parse_lines(
    lines: pl.LazyFrame, fmt: LogFormat, *, columns: Iterable[str] | None = None
) -> pl.LazyFrame:
    """Parse every line; rejected lines keep ``line`` and get a ``reason``.

    This is the single-pass form the pipeline uses: one frame holding both kinds
    of rows, split afterwards by ``reason`` being null.

    Args:
        lines: ``source``, ``line_no``, ``line``.
        fmt: the compiled log format.
        columns: the parsed columns wanted (default all). Lines are accepted or
            rejected the same way whatever is asked for; asking for less is faster.

    Returns:
        The columns of :data:`schema.PARSED_SCHEMA` (or those asked for) plus
        ``reason`` and ``line``.
    """
    wanted = set(S.PARSED_SCHEMA) if columns is None else {*columns, S.CLIENT, S.TS}
    wanted -= {S.SOURCE, S.LINE_NO}
    for col in list(wanted):
        wanted.update(c for c in _NEEDS.get(col, ()) if c != "_time")
    captured = {S.CLIENT, "_time"} | wanted
    if columns is None:
        captured.update(fmt.columns)
    present = [c for c in fmt.columns if c in captured]
    regex = fmt.regex_for(present)
    matched = lines.with_columns(pl.col(S.LINE).str.extract_groups(regex).alias("_m"))
    fields = [pl.col("_m").struct.field(c).alias(c) for c in present]
    frame = matched.with_columns(fields).drop("_m")

    def text(col: str) -> pl.Expr:
        return pl.col(col) if col in present else pl.lit(None, pl.String)

    time_text = text("_time")
    casts = [
        text(S.CLIENT).alias(S.CLIENT),
        _dash_null(text(S.IDENT)).alias(S.IDENT),
        _dash_null(text(S.USER)).alias(S.USER),
        time_text.str.to_datetime(_APACHE_TIME, strict=False, time_unit="us")
        .dt.convert_time_zone("UTC")
        .alias(S.TS),
        time_text.str.extract(r" ([+-]\d{4})\]$").alias(S.UTC_OFFSET),
        (_unescape(S.REQUEST) if S.REQUEST in present else pl.lit(None, pl.String)).alias(
            S.REQUEST
        ),
        text(S.STATUS).cast(pl.Int32, strict=False).alias(S.STATUS),
        text(S.BYTES).cast(pl.Int64, strict=False).alias(S.BYTES),
        _dash_null(_unescape(S.REFERER) if S.REFERER in present else text(S.REFERER)).alias(
            S.REFERER
        ),
        _dash_null(
            _unescape(S.USER_AGENT) if S.USER_AGENT in present else text(S.USER_AGENT)
        ).alias(S.USER_AGENT),
        text(S.VHOST).alias(S.VHOST),
        text(S.PORT).cast(pl.Int32, strict=False).alias(S.PORT),
    ]
    casts = [c for c in casts if c.meta.output_name() in wanted]
    extra = [pl.col(c) for c in present if c not in S.PARSED_SCHEMA and c != "_time"]
    typed = frame.select(pl.col(S.SOURCE), pl.col(S.LINE_NO), pl.col(S.LINE), *casts, *extra)
    stripped = pl.col(S.LINE).str.strip_chars()
    reason = (
        pl.when(pl.col(S.CLIENT).is_not_null() & pl.col(S.TS).is_not_null())
        .then(pl.lit(None, pl.String))
        .when(stripped == "")
        .then(pl.lit(REASON_BLANK))
        .when(stripped.str.starts_with("#"))
        .then(pl.lit(REASON_COMMENT))
        .when(pl.col(S.CLIENT).is_null())
        .then(pl.lit(REASON_NO_MATCH))
        .otherwise(pl.lit(REASON_BAD_TIME))
    )
    request = pl.col(S.REQUEST).str.extract_groups(_REQUEST_RE)
    parts = [
        request.struct.field(name).alias(col)
        for name, col in (("method", S.METHOD), ("path", S.PATH), ("protocol", S.PROTOCOL))
        if col in wanted
    ]
    return typed.with_columns(*parts, reason.alias(S.REASON))


def split_parsed(frame: pl.LazyFrame) -> ParseResult:
    """Split the output of :func:`parse_lines` into requests and rejects."""
    schema = frame.collect_schema()
    ordered = [c for c in S.PARSED_SCHEMA if c in schema]
    extra = [c for c in schema if c not in S.PARSED_SCHEMA and c not in (S.REASON, S.LINE)]
    rows = frame.filter(pl.col(S.REASON).is_null()).select(*ordered, *extra)
    rejects = frame.filter(pl.col(S.REASON).is_not_null()).select(
        S.SOURCE, S.LINE_NO, S.REASON, S.LINE
    )
    return ParseResult(rows=rows, rejects=rejects)


def parse(lines: pl.LazyFrame | pl.DataFrame, *, fmt: str | LogFormat = "combined") -> ParseResult:
    """Parse raw lines into typed request columns.

    Args:
        lines: ``source``, ``line_no``, ``line`` (as from :func:`read_lines`).
        fmt: a preset name, ``apache:<LogFormat>``, or a :class:`LogFormat`.

    Returns:
        The requests and the rejected lines, both lazy over one parsed frame.

    Example:
        >>> import polars as pl
        >>> line = '1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "-"'
        >>> lines = pl.LazyFrame({"source": ["x"], "line_no": [1], "line": [line]})
        >>> parse(lines).rows.select("client", "status").collect().row(0)
        ('1.2.3.4', 200)
    """
    frame = parse_lines(lines.lazy(), get_format(fmt)).collect()
    return split_parsed(frame.lazy())
