"""loganalyzer: who reached this server, from which countries, provinces and networks.

The public API mirrors the command line::

    from loganalyzer import analyze, sample_paths
    s = sample_paths()
    analysis = analyze([s.log], city_db=s.city_db, asn_db=s.asn_db, by=["region"])
    analysis.rows  # a Polars DataFrame
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loganalyzer import _startup  # noqa: F401  (first: see its docstring)

# Functions named like their modules are bound now: importing the module later
# would otherwise leave the module, not the function, under its name here.
from loganalyzer.aggregate import aggregate
from loganalyzer.enrich import enrich
from loganalyzer.parse import parse

# The API is imported on first use (PEP 562): a command imports only the
# stages it runs. `loganalyzer report` spent 40 ms importing the briefing,
# charts, fetching and follow mode it never used.
_WHERE = {
    "by_country": "aggregate",
    "by_region": "aggregate",
    "top_networks": "aggregate",
    "AnonymizerSources": "anonymizers",
    "classify": "anonymizers",
    "Briefing": "brief",
    "briefing": "brief",
    "Detection": "detect",
    "FormatDetectionError": "detect",
    "detect_format": "detect",
    "DatabaseInfo": "enrich",
    "GeoDatabases": "enrich",
    "lookup": "enrich",
    "ExitCode": "errors",
    "GeoDatabaseError": "errors",
    "InputError": "errors",
    "LogAnalyzerError": "errors",
    "OutputError": "errors",
    "SourceError": "errors",
    "UsageError": "errors",
    "update_sources": "fetch",
    "COMBINED": "formats",
    "COMMON": "formats",
    "PRESETS": "formats",
    "VHOST_COMBINED": "formats",
    "LogFormat": "formats",
    "get_format": "formats",
    "address_evidence": "ips",
    "ParseOptions": "parse",
    "ParseResult": "parse",
    "Analysis": "pipeline",
    "analyze": "pipeline",
    "enrich_logs": "pipeline",
    "sample_paths": "pipeline",
    # Charts import matplotlib inside each function: `import loganalyzer` stays light.
    "Chart": "plot",
    "chart": "plot",
    "figure_bytes": "plot",
    "plot_asn": "plot",
    "plot_compare": "plot",
    "plot_hours": "plot",
    "plot_map": "plot",
    "plot_regions": "plot",
    "plot_timeline": "plot",
    "save_figure": "plot",
    "read_lines": "read",
    "render": "report",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("loganalyzer")
        except PackageNotFoundError:  # running from a source tree that is not installed
            value = "0+unknown"
    elif name in _WHERE:
        import importlib

        value = getattr(importlib.import_module(f"loganalyzer.{_WHERE[name]}"), name)
    else:
        raise AttributeError(f"module 'loganalyzer' has no attribute {name!r}")
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
    from loganalyzer.aggregate import by_country, by_region, top_networks
    from loganalyzer.anonymizers import AnonymizerSources, classify
    from loganalyzer.brief import Briefing, briefing
    from loganalyzer.detect import Detection, FormatDetectionError, detect_format
    from loganalyzer.enrich import DatabaseInfo, GeoDatabases, lookup
    from loganalyzer.errors import (
        ExitCode,
        GeoDatabaseError,
        InputError,
        LogAnalyzerError,
        OutputError,
        SourceError,
        UsageError,
    )
    from loganalyzer.fetch import update_sources
    from loganalyzer.formats import COMBINED, COMMON, PRESETS, VHOST_COMBINED, LogFormat, get_format
    from loganalyzer.ips import address_evidence
    from loganalyzer.parse import ParseOptions, ParseResult
    from loganalyzer.pipeline import Analysis, analyze, enrich_logs, sample_paths
    from loganalyzer.plot import (
        Chart,
        chart,
        figure_bytes,
        plot_asn,
        plot_compare,
        plot_hours,
        plot_map,
        plot_regions,
        plot_timeline,
        save_figure,
    )
    from loganalyzer.read import read_lines
    from loganalyzer.report import render

    __version__: str

__all__ = [
    "COMBINED",
    "COMMON",
    "PRESETS",
    "VHOST_COMBINED",
    "Analysis",
    "AnonymizerSources",
    "Briefing",
    "Chart",
    "DatabaseInfo",
    "Detection",
    "ExitCode",
    "FormatDetectionError",
    "GeoDatabaseError",
    "GeoDatabases",
    "InputError",
    "LogAnalyzerError",
    "LogFormat",
    "OutputError",
    "ParseOptions",
    "ParseResult",
    "SourceError",
    "UsageError",
    "__version__",
    "address_evidence",
    "aggregate",
    "analyze",
    "briefing",
    "by_country",
    "by_region",
    "chart",
    "classify",
    "detect_format",
    "enrich",
    "enrich_logs",
    "figure_bytes",
    "get_format",
    "lookup",
    "parse",
    "plot_asn",
    "plot_compare",
    "plot_hours",
    "plot_map",
    "plot_regions",
    "plot_timeline",
    "read_lines",
    "render",
    "sample_paths",
    "save_figure",
    "top_networks",
    "update_sources",
]
