"""Access-log formats, compiled once into Polars-ready patterns.

A format is written the way the server's own configuration writes it (Apache
``LogFormat`` directives, nginx ``log_format`` variables, a W3C ``#Fields:``
line, or a JSON field mapping), compiled once into a regex with one named group
per field (or a list of JSON paths), and applied to every line by Polars in one
vectorised pass. This follows apachelogs' design, with Polars' Rust regex engine
doing the work: patterns use no lookaround and no backreferences.

Captured group names are parse columns (``client``, ``status``...), private
helpers (``_time``, ``_date``, ``_query``) or extra text columns kept as they are.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from loganalyzer import schema as S
from loganalyzer.errors import UsageError

Syntax = Literal["apache", "nginx", "regex", "w3c", "json"]

# How a format's time field is written; parse.py turns each into a UTC datetime.
#   clf      [14/Sep/2026:08:01:02 +0800], as Apache's %t writes it
#   clf_bare 14/Sep/2026:08:01:02 +0800 (nginx's $time_local)
#   iso8601  2026-09-14T08:01:02.123+08:00, Z, or no zone (--assume-tz)
#   epoch    seconds since 1970 (float); epoch_ms / epoch_us likewise
#   w3c      separate date and time columns in UTC (W3C/IIS, CloudFront)
#   w3c_local  date-local/time-local: no zone (--assume-tz)
#   ctime    Mon Jun  8 12:08:44 2020 (vsftpd, xferlog): no zone (--assume-tz)
#   haproxy  02/Feb/2012:04:05:24.385: no zone (--assume-tz)
#   strftime:<fmt>  Apache %{<fmt>}t
#   any      the first of iso8601, epoch, clf that reads (generic JSON)
TIME_KINDS = (
    "clf",
    "clf_bare",
    "iso8601",
    "epoch",
    "epoch_ms",
    "epoch_us",
    "w3c",
    "w3c_local",
    "ctime",
    "haproxy",
    "any",
)

# A field inside double quotes. Apache and nginx write a quote inside a field as
# \" (or \x22) and a backslash as \\, so an escaped quote must not end the field.
_QUOTED = r'(?:[^"\\]|\\.)*'
_TOKEN = r"\S+"
# X-Forwarded-For written unquoted still holds ", " between addresses.
_XFF = r"-|[^\s,]+(?:, *[^\s,]+)*"
_CLF_TIME = r"\d{1,2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}"
_ISO_TIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
_NUM_OR_DASH = r"\d+|-"


def _safe_name(text: str) -> str:
    """A header or variable name as a column name usable as a regex group name."""
    name = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return name or "field"


# --- Apache ---------------------------------------------------------------------

_APACHE_DIRECTIVE_RE = re.compile(
    r"%(?P<mod>[<>]?(?:!?\d{3}(?:,\d{3})*)?[<>]?)(?:\{(?P<arg>[^}]*)\})?(?P<letter>[a-zA-Z%])"
)

_APACHE_HEADERS: dict[str, str] = {
    "referer": S.REFERER,
    "user-agent": S.USER_AGENT,
    "x-forwarded-for": S.XFF,
    "host": S.VHOST,
}

# letter -> (column, regex outside quotes) for directives whose argument, if any,
# does not change the column.
_APACHE_SIMPLE: dict[str, tuple[str, str]] = {
    "h": (S.CLIENT, _TOKEN),
    "l": (S.IDENT, _TOKEN),
    "u": (S.USER, _TOKEN),
    "r": (S.REQUEST, _QUOTED),
    "m": (S.METHOD, _TOKEN),
    "U": (S.PATH, _TOKEN),
    # %q is "" when there is no query string, otherwise it starts with "?".
    "q": ("_query", r"\S*"),
    "H": (S.PROTOCOL, _TOKEN),
    "s": (S.STATUS, r"\d{3}|-"),
    "b": (S.BYTES, _NUM_OR_DASH),
    "B": (S.BYTES, _NUM_OR_DASH),
    "O": (S.BYTES, _NUM_OR_DASH),
    "I": ("bytes_received", _NUM_OR_DASH),
    "S": ("bytes_transferred", _NUM_OR_DASH),
    "D": ("duration_us", r"\d+|-"),
    "v": (S.VHOST, r"[^\s:]+|\S+"),
    "V": (S.VHOST, r"[^\s:]+|\S+"),
    "A": ("server_ip", _TOKEN),
    "f": ("filename", _TOKEN),
    "k": ("keepalive_requests", r"\d+|-"),
    "L": ("log_id", _TOKEN),
    "R": ("handler", _TOKEN),
    "X": ("connection_status", r"[X+-]"),
}

# strftime conversion -> regex, for Apache's %{format}t.
_STRFTIME_RE: dict[str, str] = {
    "Y": r"\d{4}",
    "y": r"\d{2}",
    "m": r"\d{1,2}",
    "d": r"\d{1,2}",
    "e": r" ?\d{1,2}",
    "H": r"\d{1,2}",
    "I": r"\d{1,2}",
    "M": r"\d{1,2}",
    "S": r"\d{1,2}",
    "j": r"\d{1,3}",
    "b": r"[A-Za-z]+",
    "h": r"[A-Za-z]+",
    "B": r"[A-Za-z]+",
    "a": r"[A-Za-z]+",
    "A": r"[A-Za-z]+",
    "p": r"[AaPp][Mm]",
    "z": r"[+-]\d{4}",
    "Z": r"[A-Za-z]+",
    "T": r"\d{2}:\d{2}:\d{2}",
    "F": r"\d{4}-\d{2}-\d{2}",
    "s": r"\d+",
    "%": "%",
}


def _strftime_regex(fmt: str) -> str:
    parts: list[str] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%" and i + 1 < len(fmt):
            conv = fmt[i + 1]
            if conv not in _STRFTIME_RE:
                raise UsageError(f"log format time conversion %{conv} is not supported yet")
            parts.append(_STRFTIME_RE[conv])
            i += 2
            continue
        parts.append(" +" if ch == " " else re.escape(ch))
        i += 1
    return "".join(parts)


def _apache_time(arg: str) -> tuple[str, str, str]:
    """(column, regex, time kind) for %{arg}t."""
    spec = arg.removeprefix("begin:").removeprefix("end:")
    if spec in ("sec", "msec", "usec"):
        kind = {"sec": "epoch", "msec": "epoch_ms", "usec": "epoch_us"}[spec]
        return "_time", r"\d+", kind
    if spec in ("msec_frac", "usec_frac"):
        return spec, r"\d+", ""
    return "_time", _strftime_regex(spec), f"strftime:{spec}"


def _apache_directive(mod: str, arg: str | None, letter: str) -> tuple[str, str, str]:
    """(column, regex outside quotes, time kind or "") for one directive."""
    text = f"%{mod}{{{arg}}}{letter}" if arg is not None else f"%{mod}{letter}"
    if letter == "t":
        if arg is None:
            return "_time", r"\[[^\]]*\]", "clf"
        return _apache_time(arg)
    if letter in ("i", "o", "e", "n", "C") and arg is not None:
        name = _safe_name(arg)
        if letter == "i" and arg.lower() in _APACHE_HEADERS:
            column = _APACHE_HEADERS[arg.lower()]
            return column, _XFF if column == S.XFF else _TOKEN, ""
        prefix = {"i": "req", "o": "resp", "e": "env", "n": "note", "C": "cookie"}[letter]
        return f"{prefix}_{name}", _TOKEN, ""
    if letter == "a":
        # %a is the client (mod_remoteip may have put the real one there); %{c}a is
        # the peer of the connection, the client only when nothing else is logged.
        return ("peer_ip" if arg == "c" else S.CLIENT), _TOKEN, ""
    if letter == "p":
        if arg in (None, "canonical", "local"):
            return S.PORT, r"\d+|-", ""
        if arg == "remote":
            return "client_port", r"\d+|-", ""
    if letter == "P" and arg in (None, "pid", "tid", "hextid"):
        return ("pid" if arg in (None, "pid") else arg), r"\S+", ""
    if letter == "T":
        unit = {None: "s", "s": "s", "ms": "ms", "us": "us"}.get(arg)
        if unit is not None:
            return f"duration_{unit}", r"\d+|-", ""
    if arg is None and letter in _APACHE_SIMPLE:
        return (*_APACHE_SIMPLE[letter], "")
    raise UsageError(f"log format directive {text} is not supported yet")


def _apache_tokens(template: str) -> Iterator[tuple[str, str, str, str]]:
    """(kind, literal text | column, regex, time kind) for each part of a template."""
    pos = 0
    for m in _APACHE_DIRECTIVE_RE.finditer(template):
        if m.start() > pos:
            yield "literal", template[pos : m.start()], "", ""
        if m.group("letter") == "%":
            yield "literal", "%", "", ""
        else:
            yield "field", *_apache_directive(m.group("mod"), m.group("arg"), m.group("letter"))
        pos = m.end()
    if pos < len(template):
        yield "literal", template[pos:], "", ""


# --- nginx ------------------------------------------------------------------------

_NGINX_VAR_RE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z0-9_]+)\}|(?P<plain>[A-Za-z0-9_]+))")
_UPSTREAM_LIST = r"(?:[\d.]+|-)(?:(?:, | : )(?:[\d.]+|-))*"

_NGINX_VARS: dict[str, tuple[str, str, str]] = {
    "remote_addr": (S.CLIENT, _TOKEN, ""),
    "realip_remote_addr": (S.CLIENT, _TOKEN, ""),
    "binary_remote_addr": (S.CLIENT, _TOKEN, ""),
    "remote_user": (S.USER, _TOKEN, ""),
    "remote_port": ("client_port", r"\d+|-", ""),
    "time_local": ("_time", _CLF_TIME, "clf_bare"),
    "time_iso8601": ("_time", _ISO_TIME, "iso8601"),
    "msec": ("_time", r"\d+(?:\.\d+)?", "epoch"),
    "request": (S.REQUEST, _QUOTED, ""),
    "status": (S.STATUS, r"\d{3}|-", ""),
    "body_bytes_sent": (S.BYTES, _NUM_OR_DASH, ""),
    "bytes_sent": ("bytes_total", _NUM_OR_DASH, ""),
    "request_length": ("bytes_received", _NUM_OR_DASH, ""),
    "http_referer": (S.REFERER, _TOKEN, ""),
    "http_user_agent": (S.USER_AGENT, _TOKEN, ""),
    "http_x_forwarded_for": (S.XFF, _XFF, ""),
    "proxy_add_x_forwarded_for": (S.XFF, _XFF, ""),
    "request_time": ("request_time", r"[\d.]+|-", ""),
    "upstream_response_time": ("upstream_response_time", _UPSTREAM_LIST, ""),
    "upstream_connect_time": ("upstream_connect_time", _UPSTREAM_LIST, ""),
    "upstream_header_time": ("upstream_header_time", _UPSTREAM_LIST, ""),
    "upstream_status": ("upstream_status", _UPSTREAM_LIST, ""),
    "host": (S.VHOST, _TOKEN, ""),
    "http_host": (S.VHOST, _TOKEN, ""),
    "server_name": (S.VHOST, _TOKEN, ""),
    "server_port": (S.PORT, r"\d+|-", ""),
    "scheme": ("scheme", _TOKEN, ""),
    "request_method": (S.METHOD, _TOKEN, ""),
    "request_uri": (S.PATH, _TOKEN, ""),
    "uri": (S.PATH, _TOKEN, ""),
    "document_uri": (S.PATH, _TOKEN, ""),
    "args": ("_query", r"\S*", ""),
    "query_string": ("_query", r"\S*", ""),
    "server_protocol": (S.PROTOCOL, _TOKEN, ""),
}


def _nginx_tokens(template: str) -> Iterator[tuple[str, str, str, str]]:
    pos = 0
    for m in _NGINX_VAR_RE.finditer(template):
        if m.start() > pos:
            yield "literal", template[pos : m.start()], "", ""
        var = m.group("braced") or m.group("plain")
        # Unknown variables are kept as text columns under their own name.
        column, pattern, time_kind = _NGINX_VARS.get(var, (_safe_name(var), _TOKEN, ""))
        if not time_kind:
            # nginx writes "-" for a variable it has no value for, but nothing at
            # all for one whose value is empty ($server_addr on some listeners,
            # an empty $http_host), so a field may be missing between its spaces.
            pattern = f"(?:{pattern})?"
        yield "field", column, pattern, time_kind
        pos = m.end()
    if pos < len(template):
        yield "literal", template[pos:], "", ""


def _compile_tokens(
    tokens: list[tuple[str, str, str, str]],
) -> tuple[str, tuple[str, ...], str]:
    if not any(kind == "field" and text == S.CLIENT for kind, text, _, _ in tokens):
        tokens = [
            (kind, S.CLIENT if text == "peer_ip" else text, pattern, tkind)
            for kind, text, pattern, tkind in tokens
        ]
    parts: list[str] = ["^"]
    columns: list[str] = []
    time_kind = ""
    for i, (kind, text, pattern, tkind) in enumerate(tokens):
        if kind == "literal":
            # One space in the template accepts a run of spaces: some servers pad.
            parts.append(" +".join(re.escape(chunk) for chunk in text.split(" ")))
            continue
        before = tokens[i - 1][1] if i > 0 and tokens[i - 1][0] == "literal" else ""
        after = tokens[i + 1][1] if i + 1 < len(tokens) and tokens[i + 1][0] == "literal" else ""
        if before.endswith('"') and after.startswith('"'):
            pattern = _QUOTED
        elif before.endswith("[") and after.startswith("]"):
            pattern = r"[^\]]*"
        column = text
        if column == "_time" and time_kind:
            column = "time_2"  # a second time field is kept as text
        elif column == "_time":
            time_kind = tkind
        name = column
        n = 2
        while name in columns:
            name, n = f"{column}_{n}", n + 1
        columns.append(name)
        parts.append(f"(?P<{name}>{pattern})")
    # Tolerate extra trailing fields (nginx's "$http_x_forwarded_for", Icecast's
    # session length): the fields we know are all present and in place.
    tail = r"(?:\s.*)?$"
    if (
        tokens
        and tokens[-1][0] == "literal"
        and tokens[-1][1] == '"'
        and len(tokens) > 1
        and tokens[-2][0] == "field"
    ):
        # A line cut inside its last quoted field (a truncated user agent) still
        # has every field: accept it without the closing quote.
        parts[-1] = ""
        tail = r'(?:"(?:\s.*)?)?$'
    parts.append(tail)
    return "".join(parts), tuple(columns), time_kind


# --- W3C extended (IIS, CloudFront) ------------------------------------------------

_W3C_FIELDS: dict[str, str] = {
    "date": "_date",
    "time": "_time",
    "date-local": "_date",
    "time-local": "_time",
    "c-ip": S.CLIENT,
    "cs-username": S.USER,
    "c-auth-id": S.USER,
    "cs-method": S.METHOD,
    "cs-uri-stem": S.PATH,
    "cs-uri": S.PATH,
    "cs-uri-query": "_query",
    "sc-status": S.STATUS,
    "c-status": S.STATUS,
    "sc-bytes": S.BYTES,
    "bytes": S.BYTES,
    "cs(user-agent)": S.USER_AGENT,
    "c-user-agent": S.USER_AGENT,
    "cs(referer)": S.REFERER,
    "cs(referrer)": S.REFERER,
    "c-referrer": S.REFERER,
    "cs-host": S.VHOST,
    "cs(host)": S.VHOST,
    "s-port": S.PORT,
    "cs-version": S.PROTOCOL,
    "cs-protocol-version": S.PROTOCOL,
    "x-forwarded-for": S.XFF,
    "cs(x-forwarded-for)": S.XFF,
    "c-port": "client_port",
}
# A W3C value is a token without spaces, or a quoted string with "" for a quote.
_W3C_VALUE = r'"(?:[^"]|"")*"|[^\s"]\S*'

IIS_DEFAULT_FIELDS = (
    "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
    "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken"
)
CLOUDFRONT_FIELDS = (
    "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status "
    "cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type "
    "x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for "
    "ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status "
    "fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type "
    "sc-content-type sc-content-len sc-range-start sc-range-end"
)


_W3C_CORE = frozenset({"_date", "_time", S.CLIENT, S.STATUS, S.METHOD, S.PATH})


def _compile_w3c(fields: str, sep: str) -> tuple[str, tuple[str, ...], str]:
    names = fields.split()
    columns: list[str] = []
    parts: list[str] = []
    local = False
    for raw in names:
        key = raw.lower().replace("\u200b", "")
        column = _W3C_FIELDS.get(key, _safe_name(key))
        local = local or key in ("date-local", "time-local")
        name, n = column, 2
        while name in columns:
            name, n = f"{column}_{n}", n + 1
        columns.append(name)
        # Tab-separated values (CloudFront) may hold spaces; quoting is IIS's.
        value = r"[^\t]*" if sep == r"\t" else _W3C_VALUE
        parts.append(f"(?P<{name}>{value})")
    # Fields after the last one we need may be missing (CloudFront added fields
    # over the years; a line written before the header grew lacks them).
    core = max((i for i, c in enumerate(columns) if c in _W3C_CORE), default=len(parts) - 1)
    tail = ""
    for part in reversed(parts[core + 1 :]):
        tail = rf"(?:{sep}{part}{tail})?"
    head = sep.join(parts[: core + 1])
    regex = r"^[ \t]*" + head + tail + rf"(?:{sep}.*)?$"
    return regex, tuple(columns), "w3c_local" if local else "w3c"


# --- JSON lines ---------------------------------------------------------------------

JSON_KEYS: dict[str, str] = {
    "client_ip": S.CLIENT,
    "client": S.CLIENT,
    "ts": "_time",
    "time": "_time",
    "status": S.STATUS,
    "bytes_sent": S.BYTES,
    "bytes": S.BYTES,
    "size": S.BYTES,
    "method": S.METHOD,
    "path": S.PATH,
    "uri": S.PATH,
    "request": S.REQUEST,
    "protocol": S.PROTOCOL,
    "user_agent": S.USER_AGENT,
    "referer": S.REFERER,
    "vhost": S.VHOST,
    "host": S.VHOST,
    "user": S.USER,
    "xff": S.XFF,
    "port": S.PORT,
}


def _json_path(key: str) -> str:
    """``request.headers.User-Agent`` -> ``$.request.headers['User-Agent']``."""
    if key.startswith("$"):
        return key
    out = "$"
    for part in key.split("."):
        index = ""
        m = re.fullmatch(r"(.*?)((?:\[\d+\])*)", part)
        if m:
            part, index = m.group(1), m.group(2)
        out += f".{part}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part) else f"['{part}']"
        out += index
    return out


# --- the format ---------------------------------------------------------------------


@dataclass(frozen=True)
class LogFormat:
    """An access-log format: a name, its definition, and the compiled pattern.

    Args:
        name: the preset name, lowercase (``combined``), or ``custom``.
        template: the definition in the server's own syntax (an Apache
            ``LogFormat`` template, an nginx ``log_format``, W3C ``#Fields``),
            or a raw regex for ``syntax="regex"``.
        description: one line for ``loganalyzer formats``.
        example: a line in this format, shown by ``loganalyzer formats`` and tested.
        syntax: how ``template`` is written.
        time: the time kind for ``syntax="regex"`` (see :data:`TIME_KINDS`).
        json_fields: for ``syntax="json"``: (column, JSON paths tried in order).
        w3c_require: for ``syntax="w3c"``: a field every ``#Fields`` line must have.
        w3c_separator: for ``syntax="w3c"``: the regex between values (spaces
            or tabs for IIS, tabs for CloudFront).
        plus_spaces: W3C/IIS writes spaces in ``cs(User-Agent)`` as ``+``.
        prefix: for ``syntax="regex"``: the template's start up to the last field a
            report needs, capturing some of its fields exactly as the template
            does (each part's extent forced by the next delimiter). When every
            field wanted is in it, lines are matched with the whole template and
            captured with this shorter regex (see ``parse._prefix_captures``).

    Example:
        >>> from loganalyzer.ingest.presets import COMMON, get_format
        >>> COMMON.columns
        ('client', 'ident', 'user', '_time', 'request', 'status', 'bytes_sent')
        >>> get_format("nginx:$remote_addr [$time_local] $status").columns
        ('client', '_time', 'status')
    """

    name: str
    template: str
    description: str = ""
    example: str = ""
    syntax: Syntax = "apache"
    time: str = "clf"
    json_fields: tuple[tuple[str, tuple[str, ...]], ...] = ()
    w3c_require: str = ""
    w3c_separator: str = r"[ \t]+"
    plus_spaces: bool = False
    prefix: str = ""
    regex: str = field(init=False)
    columns: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if self.syntax == "apache":
            regex, columns, kind = _compile_tokens(list(_apache_tokens(self.template)))
        elif self.syntax == "nginx":
            regex, columns, kind = _compile_tokens(list(_nginx_tokens(self.template)))
        elif self.syntax == "w3c":
            regex, columns, kind = _compile_w3c(self.template, self.w3c_separator)
        elif self.syntax == "json":
            regex, columns, kind = "", tuple(c for c, _ in self.json_fields), self.time
        else:
            regex, columns, kind = self.template, tuple(re.compile(self.template).groupindex), ""
            kind = self.time
        if self.syntax in ("apache", "nginx") and not kind:
            kind = self.time
        object.__setattr__(self, "regex", regex)
        object.__setattr__(self, "columns", columns)
        object.__setattr__(self, "time", kind)

    @property
    def header_driven(self) -> bool:
        """W3C formats take their columns from ``#Fields:`` lines inside the file."""
        return self.syntax == "w3c"

    def regex_for(self, columns: Iterable[str]) -> str:
        """The same regex with only ``columns`` captured (the rest still matched).

        Capturing fewer groups roughly halves the cost of a pass over the lines,
        and a line is accepted or rejected exactly as with the full regex.
        """
        keep = frozenset(columns)
        return _narrow(self.regex, self.columns, keep)

    def with_fields(self, fields: str) -> LogFormat:
        """This W3C format with the columns of one ``#Fields:`` line."""
        return _w3c_variant(self, fields)


@functools.lru_cache(maxsize=64)
def _w3c_variant(fmt: LogFormat, fields: str) -> LogFormat:
    return LogFormat(
        name=fmt.name,
        template=fields,
        description=fmt.description,
        syntax="w3c",
        w3c_require=fmt.w3c_require,
        w3c_separator=fmt.w3c_separator,
        plus_spaces=fmt.plus_spaces,
    )


@functools.lru_cache(maxsize=64)
def _narrow(regex: str, columns: tuple[str, ...], keep: frozenset[str]) -> str:
    for col in columns:
        if col not in keep:
            regex = regex.replace(f"(?P<{col}>", "(?:", 1)
    return regex
