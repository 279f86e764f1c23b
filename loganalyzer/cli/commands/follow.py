"""``report --follow``: a live table until Ctrl-C, then the final report."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from loganalyzer.cli import options
from loganalyzer.cli.console import echo_err
from loganalyzer.cli.context import quiet
from loganalyzer.cli.running import open_rejects, write_output
from loganalyzer.errors import UsageError

if TYPE_CHECKING:
    from loganalyzer.analysis.follow import FollowEvent, LiveReport
    from loganalyzer.anonymity.sources import AnonymizerSources
    from loganalyzer.cli.command_options import OutputOptions


def follow_report(
    read: options.ReadOptions,
    filters: options.FilterOptions,
    geo: options.GeoOptions,
    sources: AnonymizerSources | None,
    by: Sequence[str],
    watch: Sequence[str],
    top_n: int | None,
    out: OutputOptions,
    *,
    interval: float,
    tz: str = "UTC",
) -> None:
    """Refresh until SIGINT/SIGTERM, then write the final report and exit 0."""
    from loganalyzer.analysis.follow import LiveReport, LogFollower, follow
    from loganalyzer.outputs.notes import rejects_summary
    from loganalyzer.outputs.render import render, render_table, safe_text

    chosen = filters.args()
    if len(read.logs) != 1 or read.logs[0] == "-":
        raise UsageError("--follow reads one file (not stdin): loganalyzer report --follow LOG")
    silent = quiet()
    fmt = out.format()
    dbs = geo.open()
    follower = LogFollower(read.logs[0])
    live_table = out.to_tty and fmt == "table"
    term_width = out.table_width()
    name = safe_text(read.logs[0])
    last_lines = -1

    def refresh(live: LiveReport) -> None:
        nonlocal last_lines
        if live_table:
            # Home and clear, then the table: a redraw, not a scrolling log.
            table = render_table(live.analysis(), width=term_width, color=True)
            click.echo("\x1b[H\x1b[2J" + table, nl=False)
        elif not silent and live.lines != last_lines:
            echo_err(f"Following {name}: {live.lines:,} lines read")
        last_lines = live.lines

    def event(e: FollowEvent) -> None:
        if not silent:
            what = "the new file" if e.kind == "rotated" else "it again"
            echo_err(f"Note: {safe_text(e.source)} was {e.kind}; reading {what} from its start")

    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with open_rejects(read.rejects) as rejects:
            live = LiveReport(
                **read.args(),
                **chosen,
                by=by,
                watch=watch,
                top_n=top_n,
                dbs=dbs,
                lang=geo.lang,
                rejects=rejects,
                sources=sources,
                tz=tz,
            )
            analysis = follow(
                follower,
                live,
                stop=lambda: stopping,
                interval=interval,
                on_refresh=refresh,
                on_event=event,
                poll_every=min(0.2, interval),
            )
    finally:
        follower.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if live_table:
        click.echo("\x1b[H\x1b[2J", nl=False)
    if not silent:
        summary = rejects_summary(analysis.meta, read.rejects)
        if summary:
            echo_err(summary)
        if follower.pending:
            echo_err("Note: the last line has no newline yet and was not counted")
    text = render(
        analysis,
        fmt,
        safe_csv=out.safe_csv,
        width=term_width,
        color=out.to_tty,
        terminal=out.to_tty,
    )
    write_output(text, out.out_path, read.logs)
