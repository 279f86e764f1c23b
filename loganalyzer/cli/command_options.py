"""Options a few commands share, some with their own help in each command.

The output table (``-O``, ``-o``, ``--width``), the cluster (``--scheduler``,
``--workers``) and the two periods of a comparison each reach a command as one
object, built as in :mod:`loganalyzer.cli.options`; ``--by``, ``--watch``,
``--top``, ``-o FILE`` and ``--json`` are single options declared once here and
worded per command.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from loganalyzer.cli.context import option_time, setting
from loganalyzer.cli.options import option_group
from loganalyzer.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])


# --- output ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputOptions:
    """Where a table goes and in which format."""

    output: str | None = None
    out_path: str | None = None
    no_csv_safety: bool = False
    width: int | None = None
    columns: tuple[str, ...] = ()
    formats: tuple[str, ...] = ("table", "csv", "json", "parquet", "markdown", "xlsx")

    @property
    def to_tty(self) -> bool:
        """Whether the output is a terminal (colour, width, no binary, CSV escaped)."""
        return self.out_path is None and sys.stdout.isatty()

    @property
    def safe_csv(self) -> bool:
        """Whether spreadsheet-formula cells are prefixed with ``'`` in CSV."""
        return not self.no_csv_safety

    def format(self) -> str:
        """``-O``, else the file's extension, else the settings' ``output``, else table."""
        from loganalyzer.outputs.target import format_from_path

        if self.output:
            return self.output
        if self.out_path is None:
            return str(setting("output") or "table")
        fmt = format_from_path(self.out_path)
        if fmt not in self.formats:
            raise UsageError(
                f"-o {self.out_path}: this command writes {', '.join(self.formats)}, not {fmt}"
            )
        return fmt

    def select(self, analysis: Any) -> Any:
        """The analysis with only the keys and the ``--columns`` asked for (all without)."""
        if not self.columns:
            return analysis
        from loganalyzer.outputs.render import select_columns

        return select_columns(analysis, self.columns)

    def table_width(self) -> int:
        """``--width``, else the terminal's, else 120 columns."""
        from loganalyzer.cli.console import terminal_width

        return self.width or (terminal_width() if self.to_tty else 120)


def _split_columns(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[str, ...]:
    return tuple(c.strip() for c in (value or "").split(",") if c.strip())


def output_options(
    formats: Sequence[str] = OutputOptions.formats, *, width: bool = True, columns: bool = False
) -> Callable[[F], F]:
    """Where and how a command writes its table (-O, -o, --no-csv-safety, --width) as ``out``.

    With ``columns``, ``--columns`` too.
    """
    options = [
        click.option(
            "--output",
            "-O",
            "output",
            type=click.Choice(list(formats)),
            default=None,
            help="Output format [default: table on a terminal; with -o, from the file's "
            "extension].",
        ),
        click.option(
            "-o",
            "out_path",
            type=click.Path(dir_okay=False, path_type=str),
            metavar="FILE",
            help="Write to FILE instead of stdout (written whole, then renamed into place).",
        ),
        click.option(
            "--no-csv-safety",
            is_flag=True,
            help="Do not prefix spreadsheet-formula cells with ' in CSV (for machine consumers).",
        ),
    ]
    if width:
        options.append(
            click.option(
                "--width",
                type=click.IntRange(min=40),
                help="Terminal table width [default: the terminal's, else 120].",
            )
        )
    if columns:
        options.append(
            click.option(
                "--columns",
                callback=_split_columns,
                metavar="COL,...",
                help="Only these columns, in this order, after the keys (which always stay), "
                "in every format; names as in CSV and JSON.",
            )
        )
    return option_group("out", functools.partial(OutputOptions, formats=tuple(formats)), options)


# --- cluster -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterOptions:
    """Where the per-file work runs: here, a local Dask cluster, or a scheduler."""

    scheduler: str | None = None
    workers: int | None = None

    @property
    def active(self) -> bool:
        """Whether the work goes to a cluster."""
        return bool(self.scheduler or self.workers)

    def args(self) -> dict[str, Any]:
        """``scheduler`` and ``workers`` as the library takes them."""
        return {"scheduler": self.scheduler, "workers": self.workers}


cluster_options = option_group(
    "cluster",
    ClusterOptions,
    [
        click.option(
            "--scheduler",
            metavar="ADDRESS",
            envvar="LOGANALYZER_SCHEDULER",
            help="Run one task per file on this dask.distributed scheduler "
            "(tcp://host:8786); the files and databases must be readable by the workers. "
            "[env: LOGANALYZER_SCHEDULER]",
        ),
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            metavar="N",
            help="Run one task per file on a local Dask cluster of N processes.",
        ),
    ],
)


# --- the two periods of a comparison ----------------------------------------------------


@dataclass(frozen=True)
class PeriodOptions:
    """The baseline and current periods: one split time, or two sets of logs."""

    baseline_until: str | None = None
    baseline: tuple[str, ...] = ()
    current: tuple[str, ...] = ()

    @property
    def as_logs(self) -> bool:
        """Whether the periods are given as their own logs (--baseline, --current)."""
        return bool(self.baseline or self.current)

    def args(self) -> dict[str, Any]:
        """``baseline_until`` (read as a time), ``baseline`` and ``current``."""
        return {
            "baseline_until": option_time(self.baseline_until, "--baseline-until"),
            "baseline": self.baseline,
            "current": self.current,
        }


def period_options(*, until_help: str, prefix: str = "") -> Callable[[F], F]:
    """``--baseline-until``, ``--baseline`` and ``--current`` as ``periods``.

    ``prefix`` names the one kind of a command the options serve (``compare: ``).
    """

    def log_help(period: str, other: str) -> str:
        text = f"{prefix}a log of the {period} period (repeatable; with --{other})."
        return text if prefix else text[0].upper() + text[1:]

    def logs(name: str, period: str, other: str) -> Callable[[F], F]:
        return click.option(
            f"--{name}",
            name,
            multiple=True,
            type=click.Path(allow_dash=True, path_type=str),
            metavar="LOG",
            help=log_help(period, other),
        )

    return option_group(
        "periods",
        PeriodOptions,
        [
            click.option("--baseline-until", metavar="TIME", help=until_help),
            logs("baseline", "baseline", "current"),
            logs("current", "current", "baseline"),
        ],
    )


# --- single options, worded per command -------------------------------------------------


def by_option(text: str) -> Callable[[F], F]:
    """``--by KEY`` (repeatable): the grouping."""
    return click.option("--by", "-b", multiple=True, metavar="KEY", help=text)


def watch_option(text: str) -> Callable[[F], F]:
    """``--watch CODE`` (repeatable): countries or provinces always shown."""
    return click.option("--watch", multiple=True, metavar="CODE", help=text)


def top_option(text: str) -> Callable[[F], F]:
    """``--top N`` as ``top_n``."""
    return click.option("--top", "top_n", type=click.IntRange(min=1), metavar="N", help=text)


def json_option(text: str = "Print JSON.") -> Callable[[F], F]:
    """``--json`` as ``as_json``."""
    return click.option("--json", "as_json", is_flag=True, help=text)


def out_file_option(text: str, *, metavar: str = "FILE", folder: bool = False) -> Callable[[F], F]:
    """The required ``-o FILE`` (``folder``: or a folder) as ``out_path``."""
    kind = click.Path(path_type=str) if folder else click.Path(dir_okay=False, path_type=str)
    return click.option("-o", "out_path", required=True, type=kind, metavar=metavar, help=text)


def title_option(text: str) -> Callable[[F], F]:
    """``--title TEXT`` as ``title``: replaces the generated heading."""
    return click.option("--title", "title", metavar="TEXT", help=text)


def tz_option(text: str) -> Callable[[F], F]:
    """``--tz ZONE``, by default the settings' ``time_zone`` (UTC without one)."""
    return click.option(
        "--tz",
        default=lambda: setting("time_zone") or "UTC",
        show_default="the settings' time_zone, else UTC",
        metavar="ZONE",
        help=text,
    )


def chart_options(f: F) -> F:
    """``--watch``, ``--tz`` and ``--top`` as charts and briefings word them."""
    f = top_option("How many places or networks to draw [default: 15; timeline 5].")(f)
    f = tz_option("Time zone of the hours heatmap (Asia/Shanghai, Europe/Madrid, ...).")(f)
    return watch_option(
        "Highlight and always show a country (ES) or province (CN-LN). Repeatable."
    )(f)
