"""How ``loganalyzer bench`` reads on a terminal: one line per timed variant."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loganalyzer.analysis.bench import BenchResult, FormatSpeed, Run


def render_format_speeds(speeds: Sequence[FormatSpeed]) -> str:
    """Each preset's parsing rate, with the report's columns and with all of them."""
    out = [f"{'format':16} {'report columns':>16} {'all columns':>14}   (lines/s)"]
    out += [f"{x.name:16} {x.report_columns:16,.0f} {x.all_columns:14,.0f}" for x in speeds]
    return "\n".join(out)


def render_benchmark(result: BenchResult) -> str:
    """The floor, the report and each optional run, then the peers and the machine."""
    from loganalyzer.outputs.render import safe_text

    m = result.machine
    report = result.report
    out = [
        f"log      {safe_text(result.log)}: {result.lines:,} lines, "
        f"{result.size_bytes / 1e6:,.1f} MB",
        f"floor    {result.floor.seconds:6.2f} s   bare Polars scan counting distinct first fields",
        f"report   {report.seconds:6.2f} s   {result.lines_per_second:,.0f} lines/s, "
        f"peak {report.peak_rss_mb:,.0f} MB, {result.ratio:.2f}x the floor",
    ]

    def extra(label: str, run: Run | None, what: Callable[[Run], str]) -> None:
        # One line per optional run: its time and what it compares, or its failure.
        if run is None:
            return
        if run.returncode != 0:
            out.append(f"{label:<8} failed (exit {run.returncode})")
            return
        out.append(f"{label:<8} {run.seconds:6.2f} s   {what(run)}")

    extra(
        "gzip",
        result.gzip,
        lambda r: (
            f"{r.seconds / report.seconds:.2f}x the plain-text report, peak {r.peak_rss_mb:,.0f} MB"
        ),
    )
    extra(
        "files",
        result.files,
        lambda r: (
            f"{result.file_count} gzip files of the same lines, "
            f"{r.seconds / report.seconds:.2f}x the one-file report, peak {r.peak_rss_mb:,.0f} MB"
        ),
    )
    extra(
        "longer",
        result.longer,
        lambda r: (
            f"{result.longer_lines / result.lines:.2f}x the lines: "
            f"{r.seconds / report.seconds:.2f}x the time, peak {r.peak_rss_mb:,.0f} MB "
            f"({r.peak_rss_mb / report.peak_rss_mb:.2f}x the memory)"
        ),
    )
    parse = result.parse
    extra(
        "parse",
        parse,
        lambda r: (
            f"`report --by ip`, nothing looked up: parsing and counting alone, "
            f"{result.distinct_clients:,} distinct clients; the report's enrichment "
            f"{report.seconds / r.seconds - 1:+.0%} over it"
        ),
    )
    if parse is not None and parse.returncode == 0:
        extra(
            "sources",
            result.sources,
            lambda r: (
                f"the report with anonymizer sources: enrichment and sources "
                f"{r.seconds / parse.seconds - 1:+.0%} over parsing alone, "
                f"peak {r.peak_rss_mb:,.0f} MB (lists read from the cache of parsed lists)"
            ),
        )
        extra(
            "first",
            result.sources_first,
            lambda r: (
                f"the same, the first time (parsing the lists into the cache): "
                f"{r.seconds / parse.seconds - 1:+.0%} over parsing alone"
            ),
        )
    for name, each in result.presets.items():
        floor, run = each["floor"], each["report"]
        if run.returncode != 0 or floor.returncode != 0:
            out.append(f"{name:<8} failed (exit {run.returncode or floor.returncode})")
            continue
        out.append(
            f"{name:<8} {run.seconds:6.2f} s   the same requests as {name} "
            f"({each['size_bytes'] / 1e6:,.1f} MB): {run.seconds / floor.seconds:.2f}x "
            f"that file's floor ({floor.seconds:.2f} s), peak {run.peak_rss_mb:,.0f} MB"
        )
    what = {
        "enrich": "`enrich -o requests.parquet`",
        "ips": "`ips`",
        "compare": "`compare --baseline-until` the middle day",
        "lookup": "`lookup` of 100,000 addresses from standard input",
        "links": "`links`",
        "plot": "`plot --kind timeline`",
        "brief": "`brief` (HTML)",
    }

    def against_report(label: str) -> Callable[[Run], str]:
        def line(r: Run) -> str:
            return (
                f"{what[label]}: {r.seconds / report.seconds:.2f}x the report, "
                f"peak {r.peak_rss_mb:,.0f} MB"
            )

        return line

    for name, run in result.commands.items():
        extra(name, run, against_report(name))
    for name, run in result.peers.items():
        rate = f"{result.lines / run.seconds:,.0f} lines/s" if run.returncode == 0 else "failed"
        out.append(
            f"peer     {run.seconds:6.2f} s   {rate}, peak {run.peak_rss_mb:,.0f} MB: {name}"
        )
    out.append(
        f"machine  {m['cpus']} CPUs, {m['memory_gb']} GB, Python {m['python']}, "
        f"Polars {m['polars']}, native scanner {'on' if m.get('native_scanner') else 'off'}; "
        f"best of {result.repeat}"
    )
    return "\n".join(out)


__all__ = ["render_benchmark", "render_format_speeds"]
