"""The terminal: stderr lines, the progress bar, the table width, stdout writes."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import click

from loganalyzer.errors import LogAnalyzerError


def echo_err(message: str) -> None:
    """Write one line to stderr, with control characters and bad bytes escaped."""
    # File names and log text reach these lines: click strips only CSI sequences,
    # and only when stderr is not a terminal, so escape every control character
    # (OSC title and hyperlink sequences included) and bytes that are not UTF-8.
    from loganalyzer.ingest.read import display_name
    from loganalyzer.outputs.render import safe_text

    click.echo(safe_text(display_name(message)), err=True)


def terminal_width() -> int:
    """The terminal's width, never under the 80 columns the tables are laid out for."""
    return max(80, shutil.get_terminal_size((120, 24)).columns)


def write_stdout(text: str | bytes) -> None:
    """Write a whole rendered output to stdout (bytes for Parquet)."""
    if isinstance(text, bytes):
        sys.stdout.buffer.write(text)
    else:
        sys.stdout.write(text)


def input_size(logs: Sequence[str]) -> int | None:
    """The inputs' total size in bytes, or None when any is unknown (stdin, a URL)."""
    from loganalyzer.ingest.read import expand_inputs

    try:
        sizes = [i.size for i in expand_inputs(logs)]
    except LogAnalyzerError:
        return None
    return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)


@contextmanager
def progress(total: int | None, quiet: bool) -> Iterator[Callable[[int], None] | None]:
    """A bytes-read progress bar on stderr, only when stderr is a terminal."""
    if quiet or not total or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("reading", total=total)
        yield lambda n: bar.advance(task, n)
