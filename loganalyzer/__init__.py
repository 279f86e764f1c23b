"""loganalyzer: who reached this server, from which countries, provinces and networks.

The public API mirrors the command line::

    from loganalyzer import analyze, sample_paths
    s = sample_paths()
    analysis = analyze([s.log], city_db=s.city_db, asn_db=s.asn_db, by=["region"])
    analysis.rows  # a Polars DataFrame
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from loganalyzer import _startup  # noqa: F401  (first: see its docstring)
from loganalyzer.aggregate import aggregate, by_country, by_region, top_networks
from loganalyzer.anonymizers import AnonymizerSources, classify
from loganalyzer.brief import Briefing, briefing
from loganalyzer.detect import Detection, FormatDetectionError, detect_format
from loganalyzer.enrich import DatabaseInfo, GeoDatabases, enrich, lookup
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
from loganalyzer.parse import ParseOptions, ParseResult, parse
from loganalyzer.pipeline import Analysis, analyze, enrich_logs, sample_paths

# Charts import matplotlib inside each function: `import loganalyzer` stays light.
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

try:
    __version__ = version("loganalyzer")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

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
