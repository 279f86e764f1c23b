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
from loganalyzer.analysis.aggregate import aggregate
from loganalyzer.geo.enrich import enrich
from loganalyzer.ingest.detect import parse

# The API is imported on first use (PEP 562): a command imports only the
# stages it runs. `loganalyzer report` spent 40 ms importing the briefing,
# charts, fetching and follow mode it never used.
_WHERE = {
    "by_country": "analysis.aggregate",
    "by_region": "analysis.aggregate",
    "top_networks": "analysis.aggregate",
    "AnonymizerSources": "anonymity.sources",
    "classify": "anonymity.verdict",
    "Briefing": "outputs.briefing",
    "briefing": "outputs.briefing",
    "Detection": "ingest.detect",
    "FormatDetectionError": "ingest.detect",
    "detect_format": "ingest.detect",
    "DatabaseInfo": "geo.databases",
    "GeoDatabases": "geo.databases",
    "lookup": "geo.enrich",
    "ExitCode": "errors",
    "GeoDatabaseError": "errors",
    "InputError": "errors",
    "LogAnalyzerError": "errors",
    "OutputError": "errors",
    "SourceError": "errors",
    "UsageError": "errors",
    "update_sources": "anonymity.update",
    "COMBINED": "ingest.presets",
    "COMMON": "ingest.presets",
    "PRESETS": "ingest.presets",
    "VHOST_COMBINED": "ingest.presets",
    "LogFormat": "ingest.formats",
    "get_format": "ingest.presets",
    "address_evidence": "analysis.ips",
    "ParseOptions": "ingest.parse",
    "ParseResult": "ingest.parse",
    "Analysis": "analysis.pipeline",
    "analyze": "analysis.pipeline",
    "enrich_logs": "analysis.enrich_logs",
    "sample_paths": "analysis.pipeline",
    # Charts import matplotlib inside each function: `import loganalyzer` stays light.
    "Chart": "outputs.charts",
    "chart": "outputs.charts",
    "figure_bytes": "outputs.charts",
    "plot_asn": "outputs.charts",
    "plot_compare": "outputs.charts",
    "plot_hours": "outputs.charts",
    "plot_map": "outputs.charts",
    "plot_regions": "outputs.charts",
    "plot_timeline": "outputs.charts",
    "save_figure": "outputs.charts",
    "read_lines": "ingest.read",
    "render": "outputs.render",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from loganalyzer._version import version

        value = version()
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
    from loganalyzer.analysis.aggregate import by_country, by_region, top_networks
    from loganalyzer.analysis.enrich_logs import enrich_logs
    from loganalyzer.analysis.ips import address_evidence
    from loganalyzer.analysis.pipeline import Analysis, analyze, sample_paths
    from loganalyzer.anonymity.sources import AnonymizerSources
    from loganalyzer.anonymity.update import update_sources
    from loganalyzer.anonymity.verdict import classify
    from loganalyzer.errors import (
        ExitCode,
        GeoDatabaseError,
        InputError,
        LogAnalyzerError,
        OutputError,
        SourceError,
        UsageError,
    )
    from loganalyzer.geo.databases import DatabaseInfo, GeoDatabases
    from loganalyzer.geo.enrich import lookup
    from loganalyzer.ingest.detect import Detection, FormatDetectionError, detect_format
    from loganalyzer.ingest.formats import LogFormat
    from loganalyzer.ingest.parse import ParseOptions, ParseResult
    from loganalyzer.ingest.presets import COMBINED, COMMON, PRESETS, VHOST_COMBINED, get_format
    from loganalyzer.ingest.read import read_lines
    from loganalyzer.outputs.briefing import Briefing, briefing
    from loganalyzer.outputs.charts import (
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
    from loganalyzer.outputs.render import render

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
