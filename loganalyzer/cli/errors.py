"""Every outcome of a command as an exit code, in one place (httpie's ``raw_main``).

Each failure becomes one ``Error: ...`` line on stderr with a documented code,
and a traceback only with ``--traceback``. Commands raise; nothing else in the
CLI catches to pick a code.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable

import click

from loganalyzer.cli.console import echo_err
from loganalyzer.errors import ExitCode, LogAnalyzerError

EPILOG_EXIT_CODES = (
    "Exit codes: 0 ok, 1 unexpected error, 2 usage, 3 input (unreadable, truncated or "
    "unparseable logs), 4 GeoIP database or anonymizer source, 5 output, 6 nothing matched "
    "the filters or period (the empty output is still written), 7 partial (--keep-going skipped "
    "or cut short some inputs; the output covers the rest), 130 interrupted."
)


class Interrupt(BaseException):
    """Ctrl-C, kept from click (which prints a blank line and calls it Abort)."""


def _interrupt_once(signum: int, frame: object) -> None:
    # A second Ctrl-C (or a second delivery while Polars winds down) must not
    # break the cleanup that removes temporary output files.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise Interrupt


def exit_code_of(command: Callable[[], object], *, show_traceback: bool) -> int:
    """Run ``command`` and map how it ended to an exit code.

    Args:
        command: the parsed command line, ready to run.
        show_traceback: re-raise library and unexpected errors instead of
            printing their one-line message (``--traceback``).

    Returns:
        The process exit code (:class:`~loganalyzer.errors.ExitCode` or click's own).
    """
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, _interrupt_once)
    try:
        command()
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return ExitCode.USAGE if isinstance(exc, click.UsageError) else ExitCode.ERROR
    except click.exceptions.Abort:
        echo_err("Interrupted.")
        return ExitCode.INTERRUPTED
    except (KeyboardInterrupt, Interrupt):
        if sys.stderr.isatty():  # end the terminal's "^C" line; a pipe gets one line
            click.echo(err=True)
        echo_err("Interrupted.")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error worth a message.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.OK
    except LogAnalyzerError as exc:
        if show_traceback:
            raise
        echo_err(f"{exc.label}: {exc}")
        return exc.exit_code
    except Exception as exc:
        if show_traceback:
            raise
        from loganalyzer.outputs.render import safe_text

        echo_err(
            f"Error: unexpected {type(exc).__name__}: {safe_text(str(exc))[:500]} "
            "(run again with --traceback and report it)"
        )
        return ExitCode.ERROR
    finally:
        # In-process callers get their Ctrl-C back (unless it was used: then we exit).
        if previous is not None and signal.getsignal(signal.SIGINT) is _interrupt_once:
            signal.signal(signal.SIGINT, previous)
    return ExitCode.OK
