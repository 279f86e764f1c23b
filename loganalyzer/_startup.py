"""Imported first by the package: a Ctrl-C while the command starts is handled.

Started as the command (not imported by a program), a Ctrl-C while Polars and
friends load gives the CLI's one line and exit code rather than an import
traceback. ``cli.main()`` puts its own handler in place once it runs.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path


def _interrupted_while_starting(signum: int, frame: object) -> None:
    sys.stderr.write("Interrupted.\n")
    os._exit(130)


def install() -> None:
    """Handle SIGINT until the CLI takes over, when run as ``loganalyzer``."""
    started_as_command = bool(sys.argv) and Path(sys.argv[0]).name in ("loganalyzer", "-m")
    if started_as_command:
        # NumPy's OpenBLAS starts a thread per core that spins waiting for
        # matrix work the command never gives it: 4% of a report's CPU on two
        # cores. A program importing the package keeps its own setting.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if started_as_command and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted_while_starting)


install()
