"""Errors raised by the library and the exit codes the CLI maps them to.

The library raises; only :mod:`loganalyzer.cli` turns exceptions into exit codes,
in one place, so every command fails the same way.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path
from typing import ClassVar


class ExitCode(IntEnum):
    """Process exit codes, documented in the README."""

    OK = 0
    ERROR = 1
    USAGE = 2
    INPUT = 3
    GEO_DB = 4
    OUTPUT = 5
    NOTHING_MATCHED = 6
    PARTIAL = 7
    INTERRUPTED = 130


class LogAnalyzerError(Exception):
    """Base class of every error the library raises on purpose."""

    exit_code: ClassVar[ExitCode] = ExitCode.ERROR
    label: ClassVar[str] = "Error"  # the word before the CLI's one-line message


class UsageError(LogAnalyzerError, ValueError):
    """An argument or option value that cannot work (bad ``--by``, bad ``--where``)."""

    exit_code = ExitCode.USAGE


class InputError(LogAnalyzerError, ValueError):
    """An input log that cannot be read or parsed."""

    exit_code = ExitCode.INPUT


class InputFileError(InputError):
    """A log file that is missing, unreadable, a directory, or corrupt."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(self.path, problem)

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


class TruncatedInputError(InputError):
    """A compressed file that ends early or is corrupt part-way through.

    What was readable before the break has been processed and counted; the CLI
    reports it and exits non-zero unless ``--keep-going`` was given.
    """

    def __init__(self, path: str, line_no: int, problem: str) -> None:
        self.path, self.line_no, self.problem = path, line_no, problem
        super().__init__(path, line_no, problem)

    def __str__(self) -> str:
        return (
            f"{self.path}: {self.problem} after line {self.line_no}; "
            "the lines before it were analysed (--keep-going analyses the other files too)"
        )


class TooManyBadLinesError(InputError):
    """More lines were rejected than ``--max-bad-lines`` allows."""

    def __init__(self, bad: int, total: int, first_line_no: int, path: str, fmt: str) -> None:
        self.bad, self.total, self.first_line_no = bad, total, first_line_no
        self.path, self.fmt = path, fmt
        super().__init__(bad, total, first_line_no, path, fmt)

    def __str__(self) -> str:
        return (
            f"{self.bad} of {self.total} lines did not match log format {self.fmt!r} "
            f"(first at {self.path}:{self.first_line_no}); "
            "check --log-format, or raise --max-bad-lines"
        )


class GeoDatabaseError(LogAnalyzerError):
    """A GeoIP database that is missing, unreadable, corrupt or of the wrong type."""

    exit_code = ExitCode.GEO_DB

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(self.path, problem)

    def __str__(self) -> str:
        return self.problem if self.path is None else f"{self.path}: {self.problem}"


class WrongDatabaseTypeError(GeoDatabaseError):
    """A database whose ``database_type`` does not fit the role it was given."""

    def __init__(self, path: str | Path, role: str, expected: str, actual: str) -> None:
        self.role, self.expected, self.actual = role, expected, actual
        super().__init__(
            path,
            f"is a {actual!r} database, but {role} needs {expected}",
        )


class SourceError(LogAnalyzerError):
    """An anonymizer source (Tor list, IP list, cloud ranges, ...) that cannot be used.

    Shares the database exit code: both are reference data the analysis needs.
    """

    exit_code = ExitCode.GEO_DB

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(self.path, problem)

    def __str__(self) -> str:
        return self.problem if self.path is None else f"{self.path}: {self.problem}"


class NothingMatchedError(LogAnalyzerError):
    """Lines were read but none matched the filters or period: the output is empty.

    Raised by the command line after the (empty) output is written, so scripts can
    tell "no access from there" apart from "asked about the wrong days".
    """

    exit_code = ExitCode.NOTHING_MATCHED


class PartialError(LogAnalyzerError):
    """``--keep-going`` left inputs out or read some only in part; the output covers the rest.

    Raised after the output is written, so that a script can tell a complete
    answer from one over fewer files than it named.
    """

    exit_code = ExitCode.PARTIAL
    label = "Partial"


class OutputError(LogAnalyzerError):
    """An output that cannot be written (or would overwrite an input)."""

    exit_code = ExitCode.OUTPUT


class MissingDependencyError(LogAnalyzerError, ImportError):
    """An optional dependency is needed for this feature."""
