"""The installed package's version, for provenance in outputs and the User-Agent."""

from __future__ import annotations

from functools import cache


@cache
def version() -> str:
    """The version pip installed, or ``0+unknown`` in a source tree never installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("loganalyzer")
    except PackageNotFoundError:
        return "0+unknown"
