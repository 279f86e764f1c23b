"""``loganalyzer brief``: a one-file briefing."""

from __future__ import annotations

from pathlib import Path

import click

from loganalyzer.cli import options, running
from loganalyzer.cli.command_options import chart_options, out_file_option, title_option
from loganalyzer.cli.context import option_time
from loganalyzer.cli.errors import EPILOG_EXIT_CODES


@click.command(epilog=EPILOG_EXIT_CODES)
@options.read_options
@options.geo_options
@options.source_options
@chart_options
@title_option("The briefing's heading. [default: Access briefing]")
@click.option(
    "--compare-baseline",
    metavar="TIME",
    help="Add a section on what changed: requests before TIME (ISO 8601) are the baseline.",
)
@click.option(
    "--links",
    "with_links",
    is_flag=True,
    help="Add a 'Linked access' section: addresses that share rare traces (a user name, "
    "a rare agent, rare paths), anonymized beside direct (loganalyzer links; another read).",
)
@out_file_option(
    "briefing.html (one self-contained file) or briefing.md (Markdown; its images are "
    "written beside it in briefing_files/) or briefing.pdf (paginated)."
)
def brief(
    read: options.ReadOptions,
    filters: options.FilterOptions,
    geo: options.GeoOptions,
    sources: options.SourceOptions,
    watch: tuple[str, ...],
    tz: str,
    top_n: int | None,
    title: str | None,
    compare_baseline: str | None,
    with_links: bool,
    out_path: str,
) -> None:
    """Write a one-file briefing: findings, charts, tables, provenance, caveats.

    The file embeds its images and loads nothing from the network when opened.

    \b
    Examples:
        loganalyzer brief --sample --watch CN-LN --watch ES -o briefing.html
        loganalyzer brief access.log --title "Incident 42: who reached /admin" -o brief.html
        loganalyzer brief access.log* --geoip-dir ~/GeoIP --tz Asia/Shanghai -o briefing.md
        loganalyzer brief access.log --sources-dir ~/anon --watch CN-LN -o briefing.html
        loganalyzer brief --sample --watch CN-LN -o briefing.pdf
        loganalyzer brief --sample --compare-baseline 2026-09-16 -o briefing.html
        loganalyzer brief access.log --sources-dir ~/anon --links -o briefing.html
    """
    from loganalyzer.outputs.briefing import briefing, briefing_format
    from loganalyzer.outputs.charts import write_atomic
    from loganalyzer.outputs.target import check_target

    anon = sources.load()
    read, geo = running.with_sample(read, geo)
    fmt = briefing_format(out_path)
    check_target(out_path, read.logs)
    args = options.analysis_args(read, filters, geo)
    # On a terminal, a bar of the bytes read (the one read of the logs is most of a run).
    with running.reading(read) as r:
        result = briefing(
            read.logs,
            watch=watch,
            tz=tz,
            top_n=top_n or 15,
            fmt=fmt,
            title=title or "Access briefing",
            image_dir=f"{Path(out_path).stem}_files",
            compare_baseline=option_time(compare_baseline, "--compare-baseline"),
            links=with_links,
            **r.args(),
            sources=anon,
            **args,
        )
    running.note_run(result.meta, read)
    dbs = [d["path"] for d in result.meta["databases"]]
    target = Path(out_path)
    if result.files:
        # Markdown links its images by relative path: they go in <name>_files/ beside it.
        (target.parent / f"{target.stem}_files").mkdir(exist_ok=True)
        for name, data in result.files.items():
            write_atomic(target.parent / name, data, inputs=[*read.logs, *dbs])
    data = result.pdf if result.pdf is not None else result.text.encode("utf-8")
    write_atomic(target, data, inputs=[*read.logs, *dbs])
    running.note_written(f"{fmt} briefing", out_path)
    running.end_run(result.faults, read, result.meta)
