"""Which log format a file is in, from its first lines, and :func:`parse`, which may ask.

:func:`parse` lives here, not in :mod:`~loganalyzer.ingest.parse`, because its
``fmt="auto"`` detects first: parsing never needs detection otherwise.

Every preset parses a small sample of the file (its first non-blank,
non-comment lines, with the W3C ``#Fields:`` lines before them); the preset
that parses the largest share wins, ties going to the one with more fields
(``combined`` over ``common``). A file no preset reads well is an error naming
the closest formats, never an empty report.

Parsing the sample with all twenty presets took some 40 ms a file, which made
two hundred rotated logs twice as slow to read as one file of the same lines.
So one cheap query first bounds each preset's share from above (a line it
parses must at least match its pattern); presets are then parsed best bound
first, and the search stops when no bound left can beat the best share found.
The choice is the same as parsing with every preset.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from loganalyzer import schema as S
from loganalyzer.errors import InputError
from loganalyzer.ingest.formats import LogFormat
from loganalyzer.ingest.parse import (
    REASON_NOT_ACCESS,
    ParseOptions,
    ParseResult,
    ParseState,
    parse_lines,
    split_parsed,
)
from loganalyzer.ingest.presets import AUTO, PRESETS, get_format

SAMPLE_LINES = 200
MIN_MATCH_RATE = 0.5


@dataclass(frozen=True)
class Detection:
    """The chosen format for one file and how well each preset did.

    Attributes:
        format: the chosen preset.
        rate: the share of sampled lines it parsed (None when there were none).
        sampled: how many lines were tried.
        rates: the share of each preset that was tried, best first. Presets
            that a quick check shows cannot beat the winner are not tried (all
            are with ``exhaustive=True``, and when no preset fits).
    """

    format: LogFormat
    rate: float | None
    sampled: int
    rates: tuple[tuple[str, float], ...]


class FormatDetectionError(InputError):
    """No preset parses enough of a file's first lines."""

    def __init__(self, path: str, sampled: int, rates: tuple[tuple[str, float], ...]) -> None:
        self.path, self.sampled, self.rates = path, sampled, rates
        super().__init__(path, sampled, rates)

    def __str__(self) -> str:
        close = [(name, rate) for name, rate in self.rates[:3] if rate > 0]
        best = ", ".join(f"{name} {rate:.0%}" for name, rate in close)
        return (
            f"{self.path}: no known log format fits its first {self.sampled} lines "
            f"({'closest: ' + best if best else 'no preset reads any of them'}); "
            "pass --log-format with a preset, 'apache:<LogFormat>' or 'nginx:<log_format>'"
        )


def is_text(line: pl.Expr) -> pl.Expr:
    """Whether a line reads as text: no control bytes, at most a quarter undecodable.

    An attacked server's log can open with raw bytes that scanners sent (a TLS
    handshake to a plain-HTTP port). Such lines must not vote on the format, or
    a file whose requests are all well-formed combined lines is refused. Text in
    another encoding (Big5 in a path) decodes to some replacement characters and
    still votes.
    """
    controls = line.str.contains(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
    undecodable = line.str.count_matches("\ufffd", literal=True) * 4 > line.str.len_chars()
    return ~(controls | undecodable)


def _sample(lines: pl.DataFrame, n: int) -> tuple[pl.DataFrame, int]:
    """The head of ``lines`` up to its n-th data line, and how many data lines it has."""
    stripped = pl.col(S.LINE).str.strip_chars()
    text = is_text(pl.col(S.LINE)).fill_null(True)
    is_data = (stripped != "") & ~stripped.str.starts_with("#") & pl.col(S.LINE).is_not_null()
    is_data = is_data & text
    # A first batch holds some 100,000 lines: look at its start first, and at
    # all of it only when blank and comment lines crowd the start. Each query
    # costs more than its 800 lines do (rotated logs detect one per file).
    for part in (lines.head(4 * n), lines):
        marked = part.select(
            S.SOURCE, S.LINE_NO, S.LINE, is_data.cum_sum().alias("_n"), text.alias("_text")
        )
        data = min(n, int(marked["_n"][-1])) if marked.height else 0
        if data >= n or part.height == lines.height:
            break
    # Lines that are not text neither vote nor count: they leave the sample.
    return marked.filter((pl.col("_n") <= n) & pl.col("_text")).drop("_n", "_text"), data


def detect_format(
    lines: pl.DataFrame,
    *,
    source: str,
    options: ParseOptions | None = None,
    candidates: tuple[LogFormat, ...] | None = None,
    sample: int = SAMPLE_LINES,
    min_rate: float = MIN_MATCH_RATE,
    exhaustive: bool = False,
) -> Detection:
    """Choose the format of one file from its first lines.

    Args:
        lines: the file's first lines (``source``, ``line_no``, ``line``).
        source: the file's name, for the error message.
        options: time zone and client choice (they do not change the choice).
        candidates: formats to try (default every preset).
        sample: how many non-blank, non-comment lines to try.
        min_rate: the best share must be above this (more than half by default).
        exhaustive: parse the sample with every candidate, so that ``rates``
            lists them all (the choice is the same either way).

    Returns:
        The :class:`Detection`. With no data lines at all, ``combined`` with rate None.

    Raises:
        FormatDetectionError: when the best share is below ``min_rate``.
    """
    options = options or ParseOptions()
    formats = candidates or tuple(PRESETS.values())
    head, data = _sample(lines, sample)
    if data == 0:
        return Detection(PRESETS["combined"], None, 0, ())
    bounds = _upper_bounds(head, formats, data)

    def rank(share: float, order: int, fmt: LogFormat) -> tuple[float, int, int, int]:
        # More fields is more specific (combined beats common on a combined log);
        # with as many, the longer pattern asks more of a line (nginx_main's
        # trailing X-Forwarded-For field over combined).
        return (share, len(fmt.columns), len(fmt.regex), -order)

    queue = sorted(
        ((rank(bound, order, fmt), order, fmt) for order, (fmt, bound) in enumerate(bounds)),
        key=lambda q: q[0],
        reverse=True,
    )
    scored: list[tuple[tuple[float, int, int, int], LogFormat]] = []
    for bound_key, order, fmt in queue:
        best = scored[0][0] if scored else None
        if not exhaustive and best is not None and best[0] > min_rate and bound_key < best:
            break  # the queue is in bound order: nothing left can win
        share = _share(head, fmt, data, options)
        scored.append((rank(share, order, fmt), fmt))
        scored.sort(key=lambda s: s[0], reverse=True)
    if scored[0][0][0] <= min_rate and not exhaustive:
        # The error names the closest presets: give it every preset's share.
        return detect_format(
            lines,
            source=source,
            options=options,
            candidates=candidates,
            sample=sample,
            min_rate=min_rate,
            exhaustive=True,
        )
    rates = tuple((fmt.name, round(key[0], 4)) for key, fmt in scored)
    best_key, best_fmt = scored[0]
    if best_key[0] <= min_rate:
        raise FormatDetectionError(source, data, rates)
    return Detection(best_fmt, round(best_key[0], 4), data, rates)


def _share(head: pl.DataFrame, fmt: LogFormat, data: int, options: ParseOptions) -> float:
    """The share of the sample's data lines ``fmt`` parses."""
    frame = parse_lines(
        head.lazy(), fmt, columns=(S.CLIENT, S.TS), options=options, state=ParseState()
    )
    parsed, other = (
        frame.select(
            pl.col(S.REASON).is_null().sum().alias("parsed"),
            (pl.col(S.REASON) == REASON_NOT_ACCESS).sum().alias("other"),
        )
        .collect()
        .row(0)
    )
    # JSON records of another kind (start-up messages) are not counted against
    # a JSON access-log format, as long as it reads some records.
    tried = data - other if parsed else data
    return float(parsed / tried)


def _upper_bounds(
    head: pl.DataFrame, formats: tuple[LogFormat, ...], data: int
) -> list[tuple[LogFormat, float]]:
    """For each format, a share of the sample it cannot exceed, from one query.

    A line a pattern-based format parses matches its pattern; a JSON format
    parses (or sets aside) only lines holding a ``{``; a sample with a W3C
    ``#Fields:`` line leaves the W3C formats unbounded.
    """
    line = pl.col(S.LINE)
    stripped = line.str.strip_chars()
    is_data = (stripped != "") & ~stripped.str.starts_with("#") & line.is_not_null()
    # One query, the data lines marked once: a query per question, and the
    # mark made again for every format, were most of the time.
    checks: dict[str, pl.Expr] = {"_headers": stripped.str.starts_with("#Fields:").any()}
    for i, fmt in enumerate(formats):
        if fmt.syntax == "json":
            hit = line.str.contains("{", literal=True)
        elif not fmt.header_driven:
            hit = line.str.contains(fmt.regex_for([]))
        elif fmt.template:
            hit = line.str.contains(fmt.with_fields(fmt.template).regex_for([]))
        else:
            continue
        checks[f"_{i}"] = (pl.col("_data") & hit.fill_null(False)).sum()
    counts = head.with_columns(is_data.alias("_data")).select(**checks).row(0, named=True)
    # Before any #Fields: line a W3C format reads lines with its own default
    # fields, which a pattern bounds like any other; after one, nothing does.
    headers = bool(counts["_headers"])
    out = []
    for i, fmt in enumerate(formats):
        n = None if fmt.header_driven and headers else counts.get(f"_{i}")
        if n is None:
            out.append((fmt, 1.0))
        elif fmt.syntax == "json":
            # Records set aside shrink the denominator: only "none" bounds a share.
            out.append((fmt, 0.0 if n == 0 else 1.0))
        else:
            out.append((fmt, n / data))
    return out


def format_for(
    spec: str | LogFormat | None,
    lines: pl.DataFrame,
    *,
    source: str,
    options: ParseOptions | None = None,
) -> Detection:
    """The format of one file: ``spec`` itself, or detected from ``lines`` for ``auto``.

    The one call every reader of files needs (the pipeline, and any other loop
    over batches): pass the file's first batch.

    Args:
        spec: ``auto`` (or None), or anything :func:`get_format` takes.
        lines: the file's first lines (used only for ``auto``).
        source: the file's name, for the error message.
        options: time zone and client choice.

    Returns:
        A :class:`Detection`; for a named format its ``rate`` is None.

    Raises:
        FormatDetectionError: ``auto`` and no preset fits.
        UsageError: an unknown format name.

    Example:
        >>> import polars as pl
        >>> one = pl.DataFrame({"source": ["a"], "line_no": [1], "line": ["x"]})
        >>> found = format_for("common", one, source="a")
        >>> (found.format.name, found.rate)
        ('common', None)
    """
    if spec is None or (isinstance(spec, str) and spec == AUTO):
        return detect_format(lines, source=source, options=options)
    return Detection(get_format(spec), None, 0, ())


def parse(
    lines: pl.LazyFrame | pl.DataFrame,
    *,
    fmt: str | LogFormat = "combined",
    options: ParseOptions | None = None,
) -> ParseResult:
    """Parse raw lines into typed request columns.

    Args:
        lines: ``source``, ``line_no``, ``line`` (as from :func:`read_lines`).
        fmt: a preset name, ``apache:<LogFormat>``, ``nginx:<log_format>``,
            ``json:<column=path,...>``, a :class:`LogFormat`, or ``auto`` (the
            format is detected from the first lines).
        options: time zone for zone-less times, and the client-address choice.

    Returns:
        The requests and the rejected lines, both lazy over one parsed frame.

    Raises:
        FormatDetectionError: with ``auto``, when no format fits the lines.

    Example:
        >>> import polars as pl
        >>> line = '1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "-"'
        >>> lines = pl.LazyFrame({"source": ["x"], "line_no": [1], "line": [line]})
        >>> parse(lines).rows.select("client", "status").collect().row(0)
        ('1.2.3.4', 200)
    """
    options = options or ParseOptions()
    if isinstance(fmt, str) and fmt == "auto":
        eager = lines.lazy().collect()
        name = eager[S.SOURCE][0] if eager.height else "-"
        fmt = detect_format(eager, source=name, options=options).format
        lines = eager
    frame = parse_lines(
        lines.lazy(), get_format(fmt), options=options, state=ParseState()
    ).collect()
    return split_parsed(frame.lazy())
