"""Parsing: raw lines to typed request columns, in one vectorised Polars pass.

Lines that do not match the format are never dropped: they come back as rejects
with their source, line number and a reason, so parsed + rejected = lines read.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import polars as pl

from loganalyzer import schema as S
from loganalyzer.errors import UsageError
from loganalyzer.ingest.formats import LogFormat
from loganalyzer.ingest.jsonlines import json_captures

REASON_BLANK = "blank line"
REASON_COMMENT = "comment line"
REASON_NO_MATCH = "does not match the log format"
REASON_BAD_TIME = "unreadable timestamp"
# A JSON record of another kind in a JSON access log (Caddy's start-up messages).
REASON_NOT_ACCESS = "not an access record"

# The largest byte count a line may give: 256 TiB in one response, past any real
# one. A count above it (an attacker's 18 or 19 digits), or below 0, is null: the
# line stays parsed, and a sum of counts within the bound cannot pass 2^63 before
# 2^15 of the largest (issue 26). The native scanner hands such lines here
# (CLF_MAX_BYTES in loganalyzer/native/clf.h, held equal by test_native_totals).
MAX_BYTES = 1 << 48

ClientIP = Literal["conn", "xff", "xff-first"]

# Request lines are "METHOD TARGET PROTOCOL". TLS handshakes sent to a plain port,
# "-" and scanners' junk are kept whole in `request` with null method and path.
_REQUEST_RE = (
    r"^(?P<method>[A-Za-z][A-Za-z0-9_-]*) (?P<path>.*?)(?: (?P<protocol>[A-Z]+/[0-9.]+))?$"
)
# Apache writes a quote inside a quoted field as \" and a backslash as \\. Other
# escapes (\xNN, \n) stay as written: unescaping them would put raw control bytes
# into the data.
_UNESCAPE_RE = r'\\(["\\])'
_QUOTED_COLUMNS = (S.REQUEST, S.REFERER, S.USER_AGENT, S.XFF)


@dataclass(frozen=True)
class ParseOptions:
    """How to read times without a zone and which address is the client.

    Attributes:
        assume_tz: the zone of times written without one (HAProxy, vsftpd,
            xferlog, W3C ``date-local``, ISO 8601 without offset): an IANA name
            (``Asia/Shanghai``), ``UTC`` or a fixed offset (``+08:00``).
        client_ip: ``conn`` (the connection address), ``xff`` (the right-most
            X-Forwarded-For address that is not a trusted proxy) or
            ``xff-first`` (the left-most, as sent by the client: spoofable).
        trusted_proxies: CIDR ranges of your own proxies, skipped by ``xff``.
        skip_bad_files: an input that cannot be opened, whose format nothing
            fits, or none of whose lines parse is noted as skipped (a
            :class:`~loganalyzer.ingest.read.ReadFault`) and the run goes on
            with the others, instead of failing (``--keep-going``).

    Raises:
        UsageError: for an unknown zone, client-ip mode or CIDR.
    """

    assume_tz: str = "UTC"
    client_ip: ClientIP = "conn"
    trusted_proxies: tuple[str, ...] = ()
    skip_bad_files: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "assume_tz", _check_tz(self.assume_tz))
        if self.client_ip not in ("conn", "xff", "xff-first"):
            raise UsageError(f"--client-ip {self.client_ip!r}: use conn, xff or xff-first")
        for cidr in self.trusted_proxies:
            try:
                ipaddress.ip_network(cidr.strip(), strict=False)
            except ValueError:
                raise UsageError(
                    f"--trusted-proxy {cidr!r} is not an address or CIDR range"
                ) from None


@functools.lru_cache(maxsize=16)
def _check_tz(tz: str) -> str:
    text = tz.strip()
    if len(text) == 5 and text[0] in "+-" and text[1:].isdigit():
        text = f"{text[:3]}:{text[3:]}"  # +0800 -> +08:00, which Polars accepts
    try:
        pl.Series([0], dtype=pl.Datetime("us")).dt.replace_time_zone(text)
    except (pl.exceptions.PolarsError, ValueError):
        raise UsageError(
            f"--assume-tz {tz!r}: use an IANA zone (Europe/Madrid), UTC or an offset (+08:00)"
        ) from None
    return text


@dataclass
class ParseState:
    """What one file's earlier batches leave for its later ones.

    Attributes:
        w3c_fields: the ``#Fields:`` line in effect at the end of the last batch.
        w3c_date: the ``#Date:`` directive's date in effect then.
    """

    w3c_fields: str | None = None
    w3c_date: str | None = None


@dataclass(frozen=True)
class ParseResult:
    """Parsed requests and the lines that were not.

    Attributes:
        rows: one row per request, with the columns of :data:`schema.PARSED_SCHEMA`.
        rejects: ``source``, ``line_no``, ``reason``, ``line`` for every other line.
    """

    rows: pl.LazyFrame
    rejects: pl.LazyFrame


def _unescape(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace_all(_UNESCAPE_RE, "$1")


def _dash_null(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr == "-").then(None).otherwise(expr)


_NEEDS: dict[str, tuple[str, ...]] = {
    S.TS: ("_time", "_date"),
    S.UTC_OFFSET: ("_time", "_date"),
    S.METHOD: (S.REQUEST, S.METHOD),
    S.PATH: (S.REQUEST, S.PATH, "_query"),
    S.PROTOCOL: (S.REQUEST, S.PROTOCOL),
    S.REQUEST: (S.REQUEST, S.METHOD, S.PATH, "_query", S.PROTOCOL),
    S.CLIENT_CONN: (S.CLIENT,),
}
"""Captured fields each parsed column is computed from."""


# --- time ---------------------------------------------------------------------------


def _local(naive: pl.Expr, tz: str) -> pl.Expr:
    # A wall-clock time that does not exist (spring forward) is unreadable; one
    # that happens twice (fall back) is taken as the first.
    return naive.dt.replace_time_zone(
        tz, ambiguous="earliest", non_existent="null"
    ).dt.convert_time_zone("UTC")


def _quick_iso(t: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(UTC time, +HHMM) of ``2026-09-14T08:01:02[.f](Z|+HH:MM)``, else null.

    The zoned parse (chrono's format interpreter, as for Apache's times), the
    offset's regex and even ``%.f`` each left Polars' fast path: 5 s of a
    1M-line Traefik log. The usual forms are read as a zone-less time to the
    second (the fast path), plus the fraction and less the offset in integer
    arithmetic; anything else is null here and read by :func:`_general_iso`,
    which the tests hold this equal to.
    """
    n = t.str.len_bytes()
    zulu = t.str.ends_with("Z") | t.str.ends_with("z")
    colon = (t.str.slice(-3, 1) == ":") & t.str.slice(-6, 1).is_in(["+", "-"])
    zone = pl.when(zulu).then(1).when(colon).then(6)
    off = pl.when(zulu).then(pl.lit("+00:00")).when(colon).then(t.str.slice(-6))
    hh, mm = off.str.slice(1, 2), off.str.slice(4, 2)
    hours, minutes = hh.cast(pl.Int64, strict=False), mm.cast(pl.Int64, strict=False)
    # Nothing or "." and 1-9 digits between the seconds and the zone.
    frac = t.str.slice(20, n - zone - 20)
    frac_ok = (n - zone == 19) | (
        (t.str.slice(19, 1) == ".")
        & (n - zone).is_between(21, 29)
        & (frac.str.strip_chars("0123456789") == "")
    )
    micros = frac.str.pad_end(6, "0").str.slice(0, 6).cast(pl.Int64, strict=False).fill_null(0)
    digits = (hh.str.strip_chars("0123456789") == "") & (mm.str.strip_chars("0123456789") == "")
    usual = (t.str.slice(10, 1) == "T") & (hours < 24) & (minutes < 60) & digits & frac_ok
    naive = t.str.slice(0, 19).str.to_datetime(
        "%Y-%m-%dT%H:%M:%S", strict=False, time_unit="us", cache=False
    )
    sign = pl.when(off.str.starts_with("-")).then(-1).otherwise(1)
    utc = naive.cast(pl.Int64) + micros - sign * (hours * 60 + minutes) * 60_000_000
    ts = pl.when(usual.fill_null(False)).then(utc.cast(pl.Datetime("us", "UTC")))
    offset = pl.when(ts.is_not_null()).then(pl.concat_str([off.str.slice(0, 3), mm]))
    return ts, offset


QUICK_ISO_TIMES = True
"""False: every ISO 8601 time through the general parser alone (the reference path)."""


_ISO_QUICK, _ISO_OFF = "_iso_quick", "_iso_offset"


def _iso_stages(frame: pl.LazyFrame, t: pl.Expr) -> pl.LazyFrame:
    """:func:`_quick_iso`'s columns, computed once for :func:`_iso` to read."""
    ts, offset = _quick_iso(t)
    return frame.with_columns(ts.alias(_ISO_QUICK), offset.alias(_ISO_OFF))


def _iso(text: pl.Expr, tz: str) -> tuple[pl.Expr, pl.Expr]:
    if QUICK_ISO_TIMES:
        # _iso_stages read the usual values; only the others reach the general parser.
        rest = pl.when(pl.col(_ISO_QUICK).is_null()).then(text)
        ts, offset = _general_iso(rest, tz)
        return pl.coalesce(pl.col(_ISO_QUICK), ts), pl.coalesce(pl.col(_ISO_OFF), offset)
    return _general_iso(text, tz)


def _general_iso(text: pl.Expr, tz: str) -> tuple[pl.Expr, pl.Expr]:
    s = text.str.replace(",", ".", literal=True).str.replace(r"[Zz]$", "+00:00")
    zoned = s.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us")
    naive = s.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")
    ts = pl.coalesce(zoned.dt.convert_time_zone("UTC"), _local(naive, tz))
    offset = s.str.extract(r"T.*([+-]\d{2}:?\d{2})$").str.replace(":", "", literal=True)
    return ts, offset


def _epoch(text: pl.Expr, scale: float) -> pl.Expr:
    micros = (text.cast(pl.Float64, strict=False) * scale).round(0).cast(pl.Int64, strict=False)
    return micros.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


_CLF = "[%d/%b/%Y:%H:%M:%S %z]"
_CLF_OFF, _CLF_QUICK = "_clf_offset", "_clf_quick"
# False: every Apache time through the general parser alone, the straightforward
# path the tests hold the quick one equal to.
QUICK_CLF_TIMES = True


def _clf_stages(frame: pl.LazyFrame, t: pl.Expr) -> pl.LazyFrame:
    """Columns for Apache's ``[10/Oct/2000:13:55:36 -0700]``: offset, quick UTC time.

    The quick time is set only for values of the usual fixed-width form.

    With ``%z`` Polars hands every value to chrono's format interpreter, which
    made this the second most costly step of a report. The usual form is read
    instead as a zone-less time (Polars' own fast path) less its offset in
    integer arithmetic. Anything else (a one-digit day, ``+07:00``, an offset
    chrono would refuse) is left null here for the general parser. Two stages,
    so that each piece is computed once.
    """
    tail = t.str.slice(-7)
    offset = pl.when(tail.str.contains(r"^ [+-][0-9]{4}\]$")).then(tail.str.slice(1, 5))
    staged = frame.with_columns(offset.alias(_CLF_OFF))
    off = pl.col(_CLF_OFF)
    hours = off.str.slice(1, 2).cast(pl.Int64, strict=False)
    minutes = off.str.slice(3, 2).cast(pl.Int64, strict=False)
    naive = t.str.slice(1, 20).str.to_datetime(
        "%d/%b/%Y:%H:%M:%S", strict=False, time_unit="us", cache=False
    )
    usual = (t.str.len_bytes() == 28) & t.str.starts_with("[") & (hours < 24) & (minutes < 60)
    sign = pl.when(off.str.starts_with("-")).then(-1).otherwise(1)
    utc = naive.cast(pl.Int64) - sign * (hours * 60 + minutes) * 60_000_000
    quick = pl.when(usual.fill_null(False)).then(utc.cast(pl.Datetime("us", "UTC")))
    return staged.with_columns(quick.alias(_CLF_QUICK))


def _time_exprs(kind: str, t: pl.Expr, d: pl.Expr, tz: str) -> tuple[pl.Expr, pl.Expr]:
    """(UTC timestamp, original offset as +HHMM) for one time kind."""
    none = pl.lit(None, pl.String)
    if kind == "clf" and not QUICK_CLF_TIMES:
        ts = t.str.to_datetime(_CLF, strict=False, time_unit="us")
        return ts.dt.convert_time_zone("UTC"), t.str.extract(r" ([+-]\d{4})\]$")
    if kind == "clf":
        # The quick form of _clf_stages took the usual values; the rest are parsed
        # here, and only they: the others are null by then.
        rest = pl.when(pl.col(_CLF_QUICK).is_null()).then(t)
        slow = rest.str.to_datetime(_CLF, strict=False, time_unit="us", cache=False)
        return pl.coalesce(pl.col(_CLF_QUICK), slow.dt.convert_time_zone("UTC")), pl.col(_CLF_OFF)
    if kind == "clf_bare":
        ts = t.str.to_datetime("%d/%b/%Y:%H:%M:%S %z", strict=False, time_unit="us")
        return ts.dt.convert_time_zone("UTC"), t.str.extract(r" ([+-]\d{4})$")
    if kind == "iso8601":
        return _iso(t, tz)
    if kind in ("epoch", "epoch_ms", "epoch_us"):
        scale = {"epoch": 1e6, "epoch_ms": 1e3, "epoch_us": 1.0}[kind]
        return _epoch(t, scale), none
    if kind in ("w3c", "w3c_local"):
        naive = pl.concat_str([d, t], separator=" ").str.to_datetime(
            "%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us"
        )
        if kind == "w3c":
            # W3C extended logs (IIS, CloudFront) write date and time in UTC.
            return naive.dt.replace_time_zone("UTC"), pl.lit("+0000")
        return _local(naive, tz), none
    if kind == "ctime":
        # The weekday is dropped: a wrong one must not make the line unreadable.
        naive = (
            t.str.replace_all(" +", " ")
            .str.replace(r"^[A-Za-z]+ ", "")
            .str.to_datetime("%b %d %H:%M:%S %Y", strict=False, time_unit="us")
        )
        return _local(naive, tz), none
    if kind == "haproxy":
        naive = t.str.to_datetime("%d/%b/%Y:%H:%M:%S%.f", strict=False, time_unit="us")
        return _local(naive, tz), none
    if kind.startswith("strftime:"):
        fmt = " ".join(kind.removeprefix("strftime:").split())
        s = t.str.replace_all(" +", " ")
        if "%z" in fmt:
            ts = s.str.to_datetime(fmt, strict=False, time_unit="us").dt.convert_time_zone("UTC")
            return ts, s.str.extract(r"([+-]\d{4})\D*$")
        return _local(s.str.to_datetime(fmt, strict=False, time_unit="us"), tz), none
    if kind == "any":
        iso_ts, iso_off = _iso(t, tz)
        num = t.cast(pl.Float64, strict=False)
        # Epoch numbers in seconds, ms, us or ns: told apart by size (seconds reach
        # 1e11 only in the year 5138).
        epoch = (
            pl.when(num > 1e17)
            .then(_epoch(t, 1e-3))
            .when(num > 1e14)
            .then(_epoch(t, 1.0))
            .when(num > 1e11)
            .then(_epoch(t, 1e3))
            .otherwise(_epoch(t, 1e6))
        )
        bare = t.str.strip_prefix("[").str.strip_suffix("]")
        clf_ts, clf_off = _time_exprs("clf_bare", bare, d, tz)
        return pl.coalesce(iso_ts, epoch, clf_ts), pl.coalesce(iso_off, clf_off)
    raise ValueError(f"unknown time kind {kind!r}")


# --- the client behind proxies -------------------------------------------------------


def _normalise_address(entry: pl.Expr) -> pl.Expr:
    """``[2001:db8::1]:443`` -> ``2001:db8::1``; ``1.2.3.4:5678`` -> ``1.2.3.4``."""
    s = entry.str.strip_chars(" \t\"'")
    s = s.str.replace(r"^\[([^\]]+)\](?::\d+)?$", "$1")
    return s.str.replace(r"^(\d{1,3}(?:\.\d{1,3}){3}):\d+$", "$1")


def _in_networks(
    text: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> bool:
    try:
        addr = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr in net for net in networks)


def _pick_from_xff(xff: pl.Series, trusted: tuple[str, ...], mode: ClientIP) -> pl.Series:
    """The client from each X-Forwarded-For value (null: absent, ``-`` or empty)."""
    entries = xff.str.split(",").list.eval(
        _normalise_address(pl.element()).filter(
            (pl.element().str.strip_chars() != "") & (pl.element().str.strip_chars() != "-")
        )
    )
    if mode == "xff-first":
        return entries.list.first()
    networks = tuple(ipaddress.ip_network(c.strip(), strict=False) for c in trusted)
    # Python sees each distinct address once, never each line.
    distinct = entries.explode().drop_nulls().unique().to_list()
    trusted_seen = [a for a in distinct if _in_networks(a, networks)]
    untrusted = entries.list.eval(pl.element().filter(~pl.element().is_in(trusted_seen)))
    # Every hop trusted: the left-most is as far back as the header goes.
    return pl.select(pl.coalesce(untrusted.list.last(), entries.list.first())).to_series()


def _client_expr(conn: pl.Expr, xff: pl.Expr, options: ParseOptions) -> pl.Expr:
    if options.client_ip == "conn":
        return conn
    mode, trusted = options.client_ip, options.trusted_proxies
    picked = xff.map_batches(
        lambda s: _pick_from_xff(s, trusted, mode), return_dtype=pl.String, is_elementwise=True
    )
    return pl.coalesce(picked, conn)


# --- parsing ------------------------------------------------------------------------


QUICK_W3C = True
"""False: every W3C line through the format's regex alone (the reference path)."""
_W3C_SPLIT, _W3C_PLAIN = "_w3c_split", "_w3c_plain"
# With every column wanted (enrich: 33 for CloudFront) choosing between two
# captures per column cost more than the regex saved.
_W3C_QUICK_MAX = 10


def _w3c_captures(
    lines: pl.LazyFrame, fmt: LogFormat, present: list[str], regex: str
) -> pl.LazyFrame:
    """W3C values by splitting each plain line at its separator; the rest by regex.

    The regex (a value is a token or a quoted string, separators are runs of
    blanks) cost three quarters of parsing an IIS log. A plain line has one
    separator between values and nothing the regex reads otherwise: for IIS no
    quote, no tab, no other white space, no two spaces in a row, no blank at
    either end; for CloudFront (tabs only, values may hold anything else) no
    blank at its start. Its values are exactly the pieces between separators;
    every other line goes through the regex, which the tests hold this equal to.
    """
    line = pl.col(S.LINE)
    tabs = fmt.w3c_separator == r"\t"
    sep = "\t" if tabs else " "
    core = max(
        (i for i, c in enumerate(fmt.columns) if c in _W3C_CORE), default=len(fmt.columns) - 1
    )
    if tabs:
        plain = ~(line.str.starts_with(" ") | line.str.starts_with("\t"))
    else:
        plain = ~line.str.contains(r'"|[^\S ]|  |^ | $')
    wanted = [fmt.columns.index(c) for c in present]
    # One struct of the first values (str.split and a list.get per column
    # split every line again for each column).
    pieces = line.str.split_exact(sep, max(core, *wanted))
    staged = lines.with_columns(pieces.alias(_W3C_SPLIT)).with_columns(
        (plain & pl.col(_W3C_SPLIT).struct.field(f"field_{core}").is_not_null()).alias(_W3C_PLAIN)
    )
    # Only the lines that are not plain reach the regex (null for the others).
    rest = pl.when(~pl.col(_W3C_PLAIN)).then(line).str.extract_groups(regex)
    split = pl.col(_W3C_SPLIT)
    return staged.with_columns(
        pl.when(pl.col(_W3C_PLAIN))
        .then(split.struct.field(f"field_{i}"))
        .otherwise(rest.struct.field(c))
        .alias(c)
        for c, i in zip(present, wanted, strict=True)
    ).drop(_W3C_PLAIN, _W3C_SPLIT)


# The columns a W3C line must have (formats._W3C_CORE): lines with fewer values
# do not match the format's regex.
_W3C_CORE = frozenset({"_date", "_time", S.CLIENT, S.STATUS, S.METHOD, S.PATH})


QUICK_PREFIX = True
"""False: every line of a format with a ``prefix`` through its whole regex (reference)."""


@functools.lru_cache(maxsize=64)
def _groups(regex: str) -> frozenset[str]:
    return frozenset(re.compile(regex).groupindex)


def _prefix_captures(lines: pl.LazyFrame, fmt: LogFormat, present: list[str]) -> pl.LazyFrame:
    """Whether each line matches the whole format, and its first fields by the prefix.

    Capturing groups over a whole AWS line cost six times matching it: the
    prefix captures only the fields before the first long quoted one, and only
    on lines the whole regex matches (the others capture nothing, as before).
    """
    line = pl.col(S.LINE)
    matched = line.str.contains(fmt.regex)
    captured = pl.when(matched).then(line).str.extract_groups(fmt.prefix)
    return (
        lines.with_columns(captured.alias("_m"))
        .with_columns(pl.col("_m").struct.field(c).alias(c) for c in present)
        .drop("_m")
    )


def _captures(lines: pl.LazyFrame, fmt: LogFormat, present: list[str]) -> pl.LazyFrame:
    """One text column per captured field."""
    if fmt.syntax == "json":
        paths = dict(fmt.json_fields)
        wanted = tuple((c, paths[c]) for c in present)
        if not wanted:
            return lines.with_columns()
        dtype = pl.Struct({c: pl.String for c in present})
        # Anything before the first brace (a container name, a syslog prefix) is
        # not part of the record; a line without one holds none (null).
        line = pl.col(S.LINE)
        doc = line.str.slice(line.str.find("{", literal=True))
        decoded = doc.map_batches(lambda s: json_captures(s, wanted), return_dtype=dtype)
        return (
            lines.with_columns(decoded.alias("_json"))
            .with_columns([pl.col("_json").struct.field(c).alias(c) for c in present])
            .drop("_json")
        )
    regex = fmt.regex_for(present)
    if fmt.prefix and present and QUICK_PREFIX and set(present) <= _groups(fmt.prefix):
        return _prefix_captures(lines, fmt, present)
    if fmt.syntax == "w3c" and 0 < len(present) <= _W3C_QUICK_MAX and QUICK_W3C:
        return _w3c_captures(lines, fmt, present, regex)
    matched = lines.with_columns(pl.col(S.LINE).str.extract_groups(regex).alias("_m"))
    if not present:
        # extract_groups on a regex without groups gives no struct fields; keep
        # whether the line matched.
        return lines.with_columns(pl.col(S.LINE).str.contains(regex).alias("_matched"))
    return matched.with_columns([pl.col("_m").struct.field(c).alias(c) for c in present]).drop("_m")


def parse_lines(
    lines: pl.LazyFrame,
    fmt: LogFormat,
    *,
    columns: Iterable[str] | None = None,
    options: ParseOptions | None = None,
    state: ParseState | None = None,
) -> pl.LazyFrame:
    """Parse every line; rejected lines keep ``line`` and get a ``reason``.

    This is the single-pass form the pipeline uses: one frame holding both kinds
    of rows, split afterwards by ``reason`` being null.

    Args:
        lines: ``source``, ``line_no``, ``line``.
        fmt: the compiled log format.
        columns: the parsed columns wanted (default all). Lines are accepted or
            rejected the same way whatever is asked for; asking for less is faster.
        options: time zone for zone-less times, and the client-address choice.
        state: carried from batch to batch of one file (W3C ``#Fields:``).

    Returns:
        The columns of :data:`schema.PARSED_SCHEMA` (or those asked for) plus
        ``reason`` and ``line``.
    """
    options = options or ParseOptions()
    if fmt.header_driven:
        return _parse_w3c(lines, fmt, columns=columns, options=options, state=state)
    return _parse_regular(lines, fmt, columns=columns, options=options)


def _parse_w3c(
    lines: pl.LazyFrame,
    fmt: LogFormat,
    *,
    columns: Iterable[str] | None,
    options: ParseOptions,
    state: ParseState | None,
) -> pl.LazyFrame:
    """W3C logs: each line is read with the ``#Fields:`` line last seen before it."""
    header = pl.col(S.LINE).str.strip_chars()
    fields = (
        pl.when(header.str.starts_with("#Fields:"))
        .then(header.str.strip_prefix("#Fields:").str.strip_chars())
        .otherwise(None)
    )
    # Logs without a date field (IIS 4) date their lines by the #Date: directive.
    date = (
        pl.when(header.str.starts_with("#Date:"))
        .then(header.str.extract(r"^#Date:\s*(\d{4}-\d{2}-\d{2})"))
        .otherwise(None)
    )
    start = state.w3c_fields if state is not None and state.w3c_fields else fmt.template
    frame = (
        lines.with_row_index("_row")
        .with_columns(
            fields.forward_fill().fill_null(start).alias("_fields"),
            date.forward_fill()
            .fill_null(pl.lit(state.w3c_date if state is not None else None, pl.String))
            .alias("_directive_date"),
        )
        .collect()
    )
    if state is not None and frame.height:
        state.w3c_fields = frame["_fields"][-1]
        state.w3c_date = frame["_directive_date"][-1]
    wanted = None if columns is None else list(columns)
    parts = []
    texts = frame["_fields"].unique(maintain_order=True).to_list() or [start]
    for text in texts:
        # One #Fields: line for the whole batch (the usual case): no copy, no sort.
        segment = (frame.filter(pl.col("_fields") == text) if len(texts) > 1 else frame).drop(
            "_fields"
        )
        sub = fmt.with_fields(text)
        names = {f.lower() for f in text.split()}
        usable = not fmt.w3c_require or fmt.w3c_require in names
        parts.append(
            _parse_regular(
                segment.lazy(), sub, columns=wanted, options=options, reject_all=not usable
            ).collect()
        )
    if len(parts) == 1:
        return parts[0].drop("_row").lazy()
    return pl.concat(parts, how="diagonal_relaxed").sort("_row").drop("_row").lazy()


def _parse_regular(
    lines: pl.LazyFrame,
    fmt: LogFormat,
    *,
    columns: Iterable[str] | None,
    options: ParseOptions,
    reject_all: bool = False,
) -> pl.LazyFrame:
    wanted = set(S.PARSED_SCHEMA) if columns is None else {*columns, S.CLIENT, S.TS}
    wanted -= {S.SOURCE, S.LINE_NO}
    captured = {S.CLIENT, "_time", "_date"} | wanted
    for col in list(wanted):
        captured.update(_NEEDS.get(col, ()))
    # Without an address field of its own (nginx's $proxy_add_x_forwarded_for
    # first), the connection's address is the header's last entry.
    conn_from_xff = S.CLIENT not in fmt.columns and S.XFF in fmt.columns
    if options.client_ip != "conn" or conn_from_xff:
        captured.add(S.XFF)
    if columns is None:
        captured.update(fmt.columns)
    present = [c for c in fmt.columns if c in captured]
    frame = _captures(lines, fmt, present)

    w3c = fmt.syntax == "w3c"

    def raw(col: str) -> pl.Expr:
        if col not in present:
            return pl.lit(None, pl.String)
        expr = pl.col(col)
        if w3c:
            # A quoted W3C value has "" for a quote inside it.
            quoted = (
                expr.str.starts_with('"') & expr.str.ends_with('"') & (expr.str.len_chars() > 1)
            )
            expr = (
                pl.when(quoted)
                .then(expr.str.slice(1, expr.str.len_chars() - 2).str.replace_all('""', '"'))
                .otherwise(expr)
            )
        elif col in _QUOTED_COLUMNS and fmt.syntax != "json":
            expr = _unescape(expr)
        elif col in (S.STATUS, S.BYTES, S.PORT) and fmt.syntax == "json":
            # A whole number written as 200.0 reads "200.0" path by path and "200"
            # decoded (see _json_captures): the same number either way.
            expr = expr.str.strip_suffix(".0")
        return expr

    def text(col: str) -> pl.Expr:
        expr = raw(col)
        return _dash_null(expr) if w3c else expr

    schema = frame.collect_schema()
    date = raw("_date")
    if "_date" not in present and "_directive_date" in schema:
        date = pl.col("_directive_date")
    if fmt.time == "clf" and QUICK_CLF_TIMES:
        frame = _clf_stages(frame, raw("_time"))
    if fmt.time in ("iso8601", "any") and QUICK_ISO_TIMES:
        frame = _iso_stages(frame, raw("_time"))
    ts, offset = _time_exprs(fmt.time, raw("_time"), date, options.assume_tz)
    request_parts = raw(S.REQUEST).str.extract_groups(_REQUEST_RE)

    def part(col: str, name: str) -> pl.Expr:
        # A field of its own wins; a JSON record may have only the request line.
        from_request = request_parts.struct.field(name)
        if col not in present:
            return from_request
        return pl.coalesce(text(col), from_request) if S.REQUEST in present else text(col)

    method = part(S.METHOD, "method")
    path = part(S.PATH, "path")
    if "_query" in present:
        query = text("_query").str.strip_prefix("?")
        path = (
            pl.when(query.is_null() | (query == ""))
            .then(path)
            .otherwise(pl.concat_str([path, query], separator="?"))
        )
    protocol = part(S.PROTOCOL, "protocol")
    request = raw(S.REQUEST)
    if S.METHOD in present or S.PATH in present:
        # W3C and JSON logs have no request line: it is rebuilt from its parts.
        rebuilt = (
            pl.when(method.is_null() & path.is_null())
            .then(None)
            .otherwise(pl.concat_str([method, path, protocol], separator=" ", ignore_nulls=True))
        )
        request = pl.coalesce(request, rebuilt) if S.REQUEST in present else rebuilt
    agent = _dash_null(raw(S.USER_AGENT))
    if w3c:
        # IIS writes the spaces of a user agent as "+"; CloudFront URL-encodes them.
        agent = (
            agent.str.replace_all("+", " ", literal=True)
            if fmt.plus_spaces
            else (agent.str.replace_all("%20", " ", literal=True))
        )
    status = text(S.STATUS).cast(pl.Int32, strict=False)
    # "-" stays: S3 writes it for AWS's own requests, and it must count as a request.
    conn = raw(S.CLIENT)
    xff = _dash_null(raw(S.XFF))
    if conn_from_xff:
        conn = _normalise_address(raw(S.XFF).str.split(",").list.last())
    casts = [
        _client_expr(conn, xff, options).alias(S.CLIENT),
        conn.alias(S.CLIENT_CONN),
        xff.alias(S.XFF),
        _dash_null(text(S.IDENT)).alias(S.IDENT),
        _dash_null(text(S.USER)).alias(S.USER),
        ts.alias(S.TS),
        offset.alias(S.UTC_OFFSET),
        request.alias(S.REQUEST),
        method.alias(S.METHOD),
        path.alias(S.PATH),
        protocol.alias(S.PROTOCOL),
        # HAProxy writes -1 when there was no response.
        pl.when(status >= 0).then(status).alias(S.STATUS),
        _byte_count(text(S.BYTES)).alias(S.BYTES),
        _dash_null(raw(S.REFERER)).alias(S.REFERER),
        agent.alias(S.USER_AGENT),
        text(S.VHOST).alias(S.VHOST),
        text(S.PORT).cast(pl.Int32, strict=False).alias(S.PORT),
    ]
    casts = [c for c in casts if c.meta.output_name() in wanted]
    extra = [
        text(c).alias(c) for c in present if c not in S.PARSED_SCHEMA and not c.startswith("_")
    ]
    if "_matched" in schema:
        matched = pl.col("_matched")
    elif S.CLIENT in present:
        matched = pl.col(S.CLIENT).is_not_null()
    else:
        matched = pl.col(S.XFF).is_not_null() if conn_from_xff else pl.lit(False)
    typed = frame.select(
        pl.col(S.SOURCE),
        pl.col(S.LINE_NO),
        pl.col(S.LINE),
        *casts,
        *extra,
        *([_bytes_invalid(text(S.BYTES))] if S.BYTES in wanted and S.BYTES in present else []),
        matched.alias("_ok"),
        *([pl.col("_row")] if "_row" in schema else []),
    )
    ok = pl.col("_ok") & pl.col(S.TS).is_not_null()
    # Only the lines not taken are looked at again (reason is null for the others).
    stripped = pl.when(~ok).then(pl.col(S.LINE)).str.strip_chars()
    # Only JSON formats look for records of another kind: a regex over every
    # line of every other format would cost a second pass.
    other_record = (
        stripped.str.contains(r"^[^{]*\{.*\}$") if fmt.syntax == "json" else pl.lit(False)
    )
    reason = (
        pl.when(ok if not reject_all else pl.lit(False))
        .then(pl.lit(None, pl.String))
        .when(stripped == "")
        .then(pl.lit(REASON_BLANK))
        .when(stripped.str.starts_with("#"))
        .then(pl.lit(REASON_COMMENT))
        .when(~pl.col("_ok") & other_record)
        .then(pl.lit(REASON_NOT_ACCESS))
        .when(~pl.col("_ok") | pl.lit(reject_all))
        .then(pl.lit(REASON_NO_MATCH))
        .otherwise(pl.lit(REASON_BAD_TIME))
    )
    return typed.with_columns(reason.alias(S.REASON)).drop("_ok")


BYTES_INVALID = "_bytes_invalid"
"""A parsed line's flag: its byte count was a number out of bounds, and is null."""


def _bytes_invalid(text: pl.Expr) -> pl.Expr:
    # Digits that _byte_count refused: counted in meta, so a null is never silent.
    return (text.str.contains(r"^-?\d+$") & _byte_count(text).is_null()).alias(BYTES_INVALID)


def _byte_count(text: pl.Expr) -> pl.Expr:
    """A byte count within ``[0, MAX_BYTES]``, else null ("-", junk, or out of bounds)."""
    value = text.cast(pl.Int64, strict=False)
    return pl.when(value.is_between(0, MAX_BYTES)).then(value)


def split_parsed(frame: pl.LazyFrame) -> ParseResult:
    """Split the output of :func:`parse_lines` into requests and rejects."""
    schema = frame.collect_schema()
    ordered = [c for c in S.PARSED_SCHEMA if c in schema]
    extra = [
        c for c in schema if c not in S.PARSED_SCHEMA and c not in (S.REASON, S.LINE, BYTES_INVALID)
    ]
    rows = frame.filter(pl.col(S.REASON).is_null()).select(*ordered, *extra)
    rejects = frame.filter(pl.col(S.REASON).is_not_null()).select(
        S.SOURCE, S.LINE_NO, S.REASON, S.LINE
    )
    return ParseResult(rows=rows, rejects=rejects)
