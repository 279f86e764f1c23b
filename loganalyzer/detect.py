"""Which log format a file is in, from its first lines.

Every preset parses a small sample of the file (its first non-blank,
non-comment lines, with the W3C ``#Fields:`` lines before them); the preset
that parses the largest share wins, ties going to the one with more fields
(``combined`` over ``common``). A file no preset reads well is an error naming
the closest formats, never an empty report.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from loganalyzer import schema as S
from loganalyzer.errors import InputError
from loganalyzer.formats import AUTO, PRESETS, LogFormat, get_format
from loganalyzer.parse import REASON_NOT_ACCESS, ParseOptions, ParseState, parse_lines

SAMPLE_LINES = 200
MIN_MATCH_RATE = 0.5


@dataclass(frozen=True)
class Detection:
    """The chosen format for one file and how well each preset did.

    Attributes:
        format: the chosen preset.
        rate: the share of sampled lines it parsed (None when there were none).
        sampled: how many lines were tried.
        rates: every preset's share, best first.
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


def _sample(lines: pl.DataFrame, n: int) -> tuple[pl.DataFrame, int]:
    """The head of ``lines`` up to its n-th data line, and how many data lines it has."""
    stripped = pl.col(S.LINE).str.strip_chars()
    is_data = (stripped != "") & ~stripped.str.starts_with("#") & pl.col(S.LINE).is_not_null()
    marked = lines.select(S.SOURCE, S.LINE_NO, S.LINE, is_data.cum_sum().alias("_n"))
    head = marked.filter(pl.col("_n") <= n)
    data = int(head.select(is_data.sum()).item() or 0)
    return head.drop("_n"), data


def detect_format(
    lines: pl.DataFrame,
    *,
    source: str,
    options: ParseOptions | None = None,
    candidates: tuple[LogFormat, ...] | None = None,
    sample: int = SAMPLE_LINES,
    min_rate: float = MIN_MATCH_RATE,
) -> Detection:
    """Choose the format of one file from its first lines.

    Args:
        lines: the file's first lines (``source``, ``line_no``, ``line``).
        source: the file's name, for the error message.
        options: time zone and client choice (they do not change the choice).
        candidates: formats to try (default every preset).
        sample: how many non-blank, non-comment lines to try.
        min_rate: the best share must be above this (more than half by default).

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
    scored: list[tuple[float, int, int, int, LogFormat]] = []
    for order, fmt in enumerate(formats):
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
        # More fields is more specific (combined beats common on a combined log);
        # with as many, the longer pattern asks more of a line (nginx_main's
        # trailing X-Forwarded-For field over combined).
        scored.append((parsed / tried, len(fmt.columns), len(fmt.regex), -order, fmt))
    scored.sort(key=lambda s: s[:4], reverse=True)
    rates = tuple((s[4].name, round(s[0], 4)) for s in scored)
    best_rate, _, _, _, best = scored[0]
    if best_rate <= min_rate:
        raise FormatDetectionError(source, data, rates)
    return Detection(best, round(best_rate, 4), data, rates)


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
