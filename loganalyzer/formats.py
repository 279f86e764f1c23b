"""Access-log formats, compiled once into one regular expression each.

A format is written the way the server's own configuration writes it (Apache
``LogFormat`` directives), compiled once into a regex with one named group per
field, and applied to every line by Polars in one vectorised pass. This follows
apachelogs' design, with Polars' Rust regex engine doing the work.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from loganalyzer import schema as S
from loganalyzer.errors import UsageError

# A field inside double quotes. Apache writes a quote inside a field as \" and a
# backslash as \\, so an escaped quote must not end the field.
_QUOTED = r'(?:[^"\\]|\\.)*'
_TOKEN = r"\S+"

# directive -> (column, regex outside quotes). Columns not in the schema are kept
# as extra text columns by parse().
_DIRECTIVES: dict[str, tuple[str, str]] = {
    "h": (S.CLIENT, _TOKEN),
    "a": (S.CLIENT, _TOKEN),
    "l": (S.IDENT, _TOKEN),
    "u": (S.USER, _TOKEN),
    "t": ("_time", r"\[[^\]]*\]"),
    "r": (S.REQUEST, _QUOTED),
    ">s": (S.STATUS, r"\d{3}|-"),
    "s": (S.STATUS, r"\d{3}|-"),
    "b": (S.BYTES, r"\d+|-"),
    "B": (S.BYTES, r"\d+|-"),
    "O": (S.BYTES, r"\d+|-"),
    "v": (S.VHOST, r"[^\s:]+|\S+"),
    "V": (S.VHOST, r"[^\s:]+|\S+"),
    "p": (S.PORT, r"\d+|-"),
    "{Referer}i": (S.REFERER, _QUOTED),
    "{User-Agent}i": (S.USER_AGENT, _QUOTED),
}

_DIRECTIVE_RE = re.compile(r"%(>s|\{[^}]*\}[a-zA-Z]|[a-zA-Z])")


@dataclass(frozen=True)
class LogFormat:
    """An access-log format: a name, its Apache template, and the compiled regex.

    Args:
        name: the preset name, lowercase (``combined``).
        template: the format in Apache ``LogFormat`` syntax.
        description: one line for ``loganalyzer formats``.
        example: a line in this format, shown by ``loganalyzer formats`` and tested.

    Example:
        >>> COMMON.columns
        ('client', 'ident', 'user', '_time', 'request', 'status', 'bytes_sent')
    """

    name: str
    template: str
    description: str = ""
    example: str = ""
    regex: str = field(init=False)
    columns: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        regex, columns = _compile(self.template)
        object.__setattr__(self, "regex", regex)
        object.__setattr__(self, "columns", columns)

    def regex_for(self, columns: Iterable[str]) -> str:
        """The same regex with only ``columns`` captured (the rest still matched).

        Capturing fewer groups roughly halves the cost of a pass over the lines,
        and a line is accepted or rejected exactly as with the full regex.
        """
        keep = frozenset(columns)
        return _narrow(self.regex, self.columns, keep)


@functools.lru_cache(maxsize=64)
def _narrow(regex: str, columns: tuple[str, ...], keep: frozenset[str]) -> str:
    for col in columns:
        if col not in keep:
            regex = regex.replace(f"(?P<{col}>", "(?:", 1)
    return regex


def _tokens(template: str) -> Iterator[tuple[str, str]]:
    pos = 0
    for m in _DIRECTIVE_RE.finditer(template):
        if m.start() > pos:
            yield "literal", template[pos : m.start()]
        yield "directive", m.group(1)
        pos = m.end()
    if pos < len(template):
        yield "literal", template[pos:]


def _compile(template: str) -> tuple[str, tuple[str, ...]]:
    parts: list[str] = ["^"]
    columns: list[str] = []
    tokens = list(_tokens(template))
    for i, (kind, text) in enumerate(tokens):
        if kind == "literal":
            # One space in the template accepts a run of spaces: some servers pad.
            parts.append(" +".join(re.escape(chunk) for chunk in text.split(" ")))
            continue
        if text not in _DIRECTIVES:
            raise UsageError(f"log format directive %{text} is not supported yet")
        column, pattern = _DIRECTIVES[text]
        before = tokens[i - 1][1] if i > 0 and tokens[i - 1][0] == "literal" else ""
        after = tokens[i + 1][1] if i + 1 < len(tokens) and tokens[i + 1][0] == "literal" else ""
        if before.endswith('"') and after.startswith('"'):
            pattern = _QUOTED
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
        and tokens[-1] == ("literal", '"')
        and len(tokens) > 1
        and tokens[-2][0] == "directive"
    ):
        # A line cut inside its last quoted field (a truncated user agent) still
        # has every field: accept it without the closing quote.
        parts[-1] = ""
        tail = r'(?:"(?:\s.*)?)?$'
    parts.append(tail)
    return "".join(parts), tuple(columns)


COMMON = LogFormat(
    name="common",
    template='%h %l %u %t "%r" %>s %b',
    description="NCSA Common Log Format (Apache 'common', nginx without referer/agent)",
    example='175.167.3.4 - - [14/Sep/2026:08:01:02 +0800] "GET / HTTP/1.1" 200 512',
)
COMBINED = LogFormat(
    name="combined",
    template='%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"',
    description="NCSA Combined (Apache 'combined', nginx default 'main'/'combined')",
    example=(
        '2.136.4.5 - - [14/Sep/2026:02:01:02 +0200] "GET /login HTTP/1.1" 200 1043 '
        '"https://example.org/" "Mozilla/5.0 (X11; Linux x86_64)"'
    ),
)
VHOST_COMBINED = LogFormat(
    name="vhost_combined",
    template='%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
    description="Apache 'vhost_combined' (Debian's default for other_vhosts_access.log)",
    example=(
        "www.example.org:443 81.2.69.160 - - [14/Sep/2026:01:01:02 +0100] "
        '"GET / HTTP/1.1" 200 512 "-" "curl/8.5.0"'
    ),
)

PRESETS: dict[str, LogFormat] = {f.name: f for f in (COMMON, COMBINED, VHOST_COMBINED)}


def get_format(spec: str | LogFormat) -> LogFormat:
    """Return the format for a preset name or an ``apache:<LogFormat>`` string.

    Args:
        spec: a preset name (``combined``), ``apache:`` followed by an Apache
            ``LogFormat`` template, or a :class:`LogFormat`.

    Returns:
        The compiled format.

    Raises:
        UsageError: for an unknown name or an unsupported directive.
    """
    if isinstance(spec, LogFormat):
        return spec
    if spec in PRESETS:
        return PRESETS[spec]
    if spec.startswith("apache:"):
        return LogFormat(name="custom", template=spec.removeprefix("apache:"))
    known = ", ".join(PRESETS)
    raise UsageError(
        f"unknown log format {spec!r}; use one of {known}, or 'apache:<LogFormat string>'"
    )
