"""Where an output goes: its format from the file name, checks, and whole-file writes.

A report, a dataset or a chart is written to a temporary file beside its target
and renamed into place, so a reader never sees half a file and a failed run
leaves the previous one. Every check that can fail runs before the (long)
analysis does.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from loganalyzer.errors import OutputError, UsageError

FORMAT_BY_SUFFIX = {
    ".csv": "csv",
    ".json": "json",
    ".parquet": "parquet",
    ".md": "markdown",
    ".markdown": "markdown",
    ".xlsx": "xlsx",
    ".txt": "table",
}
"""The output format each file-name suffix implies."""


def format_from_path(path: str) -> str:
    """The output format that a file name's suffix implies.

    Raises:
        UsageError: for a suffix that names no output format: writing the terminal
            table into ``out.xls`` would give a file nothing can open.

    Example:
        >>> format_from_path("out.CSV"), format_from_path("out.txt")
        ('csv', 'table')
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMAT_BY_SUFFIX:
        known = ", ".join(sorted(FORMAT_BY_SUFFIX))
        raise UsageError(
            f"-o {path}: cannot tell the output format from {suffix or 'a name without a suffix'}"
            f" (known: {known}); give it with -O"
        )
    return FORMAT_BY_SUFFIX[suffix]


def _refuse_inputs(target: Path, path: str, inputs: Sequence[str]) -> None:
    for name in inputs:
        if name != "-" and Path(name).exists() and target.exists() and target.samefile(name):
            raise OutputError(f"{path}: refusing to overwrite an input file")


def check_target(path: str, inputs: Sequence[str]) -> None:
    """Refuse a target that is one of the inputs or whose folder does not exist.

    Raises:
        OutputError: naming the target and the problem.
    """
    target = Path(path)
    _refuse_inputs(target, path, inputs)
    if not target.parent.is_dir():
        raise OutputError(f"{path}: folder {target.parent} does not exist")


def check_dataset_target(path: str, inputs: Sequence[str], *, partitioned: bool) -> None:
    """As :func:`check_target`, for a Parquet file or (partitioned) a dataset folder.

    Raises:
        OutputError: the target is an input, has no folder, is a folder where a
            file is due, or is a folder that is not empty.
    """
    check_target(path, inputs)
    target = Path(path)
    if partitioned and target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise OutputError(f"{path}: exists and is not an empty folder")
    if not partitioned and target.is_dir():
        raise OutputError(f"{path}: is a folder (use --partitioned to write a dataset)")


@contextmanager
def atomic_file(path: str, inputs: Sequence[str], *, binary: bool) -> Iterator[IO[Any]]:
    """A file opened beside ``path`` that replaces it only when the block succeeds.

    Raises:
        OutputError: the target is an input, a folder, or in a missing folder.
    """
    target = Path(path)
    _refuse_inputs(target, path, inputs)
    if target.is_dir():
        raise OutputError(f"{path}: is a directory")
    parent = target.parent
    if not parent.is_dir():
        raise OutputError(f"{path}: folder {parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=parent)
    # mkstemp makes the file private (0600); a report should get the usual mode.
    umask = os.umask(0)
    os.umask(umask)
    Path(tmp).chmod(0o666 & ~umask)
    try:
        with os.fdopen(
            fd,
            "wb" if binary else "w",
            encoding=None if binary else "utf-8",
            newline=None if binary else "",
        ) as handle:
            yield handle
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_file(text: str | bytes, path: str, inputs: Sequence[str]) -> None:
    """Write a whole rendered output to ``path`` through :func:`atomic_file`."""
    with atomic_file(path, inputs, binary=isinstance(text, bytes)) as handle:
        handle.write(text)


__all__ = [
    "FORMAT_BY_SUFFIX",
    "atomic_file",
    "check_dataset_target",
    "check_target",
    "format_from_path",
    "write_file",
]
