"""The command line: options in, one library call, output out, exit codes.

Every command is a thin adapter over the library. Errors become exit codes in
one place, :func:`main`, so each failure is one ``Error: ...`` line on stderr
with a documented code, and a traceback only with ``--traceback``.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from loganalyzer.errors import ExitCode, LogAnalyzerError, OutputError, UsageError

F = TypeVar("F", bound=Callable[..., Any])

EPILOG_EXIT_CODES = (
    "Exit codes: 0 ok, 1 unexpected error, 2 usage, 3 input (unreadable, truncated or "
    "unparseable logs), 4 GeoIP database, 5 output, 130 interrupted."
)


def _echo_err(message: str) -> None:
    # File names and log text reach these lines: click strips only CSI sequences,
    # and only when stderr is not a terminal, so escape every control character
    # (OSC title and hyperlink sequences included) and bytes that are not UTF-8.
    from loganalyzer.read import display_name
    from loganalyzer.report import safe_text

    click.echo(safe_text(display_name(message)), err=True)


def log_options(f: F) -> F:
    """Options shared by commands that read logs."""
    decorators = [
        click.argument("logs", nargs=-1, type=click.Path(allow_dash=True, path_type=str)),
        click.option(
            "--log-format",
            "-f",
            default="combined",
            show_default=True,
            metavar="NAME|apache:FMT",
            help="Input format: combined, common, vhost_combined, or apache:'<LogFormat>'.",
        ),
        click.option(
            "--since",
            metavar="TIME",
            help="Only requests at or after TIME (ISO 8601; UTC if no zone).",
        ),
        click.option("--until", metavar="TIME", help="Only requests before TIME."),
        click.option(
            "--where",
            "-w",
            multiple=True,
            metavar="COL=VALUE",
            help="Filter (repeatable, all must hold): region_iso=CN-LN, asn=4837, "
            "client_ip=175.167.0.0/16, status>=400, path~^/admin.",
        ),
        click.option(
            "--rejects",
            type=click.Path(dir_okay=False, writable=True, path_type=str),
            help="Write rejected lines to FILE as JSON Lines (source, line_no, reason, line).",
        ),
        click.option(
            "--max-bad-lines",
            type=click.IntRange(min=0),
            help="Fail (exit 3) when more than N lines are rejected.",
        ),
        click.option(
            "--keep-going",
            is_flag=True,
            help="Exit 0 even if a compressed file is truncated (what was readable is counted).",
        ),
        click.option(
            "--sample",
            is_flag=True,
            help="Analyse the bundled sample log with its invented sample databases.",
        ),
    ]
    for d in reversed(decorators):
        f = d(f)
    return f


def geo_options(f: F) -> F:
    """Options that choose the GeoIP databases."""
    decorators = [
        click.option(
            "--city-db",
            type=click.Path(path_type=str),
            envvar="LOGANALYZER_CITY_DB",
            help="City or Country MMDB (GeoLite2, GeoIP2 or DB-IP). [env: LOGANALYZER_CITY_DB]",
        ),
        click.option(
            "--asn-db",
            type=click.Path(path_type=str),
            envvar="LOGANALYZER_ASN_DB",
            help="ASN MMDB (GeoLite2-ASN or DB-IP ASN). [env: LOGANALYZER_ASN_DB]",
        ),
        click.option(
            "--geoip-dir",
            type=click.Path(path_type=str),
            help="Folder with databases under their usual names "
            "[env: LOGANALYZER_GEOIP_DIR; then /usr/share/GeoIP and friends].",
        ),
        click.option(
            "--lang",
            default="en",
            show_default=True,
            help="Language of place names (en, de, es, fr, ja, pt-BR, ru, zh-CN).",
        ),
    ]
    for d in reversed(decorators):
        f = d(f)
    return f


def _parse_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{option}: cannot read {value!r}; "
            "use ISO 8601, e.g. 2026-09-14 or 2026-09-14T08:00+08:00"
        ) from None


@contextmanager
def _atomic_output(path: str | None, inputs: Sequence[str], *, binary: bool) -> Iterator[IO[Any]]:
    """Write to a temporary file beside ``path`` and rename it into place on success."""
    if path is None or path == "-":
        yield sys.stdout.buffer if binary else sys.stdout
        return
    target = Path(path)
    for name in inputs:
        if name != "-" and Path(name).exists() and target.exists() and target.samefile(name):
            raise OutputError(f"{path}: refusing to overwrite an input file")
    if target.is_dir():
        raise OutputError(f"{path}: is a directory")
    parent = target.parent
    if not parent.is_dir():
        raise OutputError(f"{path}: folder {parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=parent)
    # mkstemp makes the file private (0600); a report should get the usual mode.
    umask = os.umask(0)
    os.umask(umask)
    Path(tmp).chmod(0o666 & ~umask)
    try:
        with os.fdopen(
            fd,
            "wb" if binary else "w",
            encoding=None if binary else "utf-8",
            newline=None if binary else "",
        ) as handle:
            yield handle
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _progress(total: int | None, quiet: bool) -> Iterator[Callable[[int], None] | None]:
    """A bytes-read progress bar on stderr, only when stderr is a terminal."""
    if quiet or not total or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("reading", total=total)
        yield lambda n: bar.advance(task, n)


def _input_size(logs: Sequence[str]) -> int | None:
    from loganalyzer.read import expand_inputs

    try:
        sizes = [i.size for i in expand_inputs(logs)]
    except LogAnalyzerError:
        return None
    return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)


def _resolve_sample(
    logs: tuple[str, ...], sample: bool, city_db: str | None, asn_db: str | None, quiet: bool
) -> tuple[tuple[str, ...], str | None, str | None]:
    if not sample:
        if not logs:
            raise UsageError("no log files given; pass LOG... (or - for stdin), or --sample")
        return logs, city_db, asn_db
    from loganalyzer.pipeline import sample_paths

    s = sample_paths()
    if not quiet:
        _echo_err(
            "Using the bundled sample log and its invented sample databases (not real geolocation)."
        )
    return (logs or (str(s.log),)), city_db or str(s.city_db), asn_db or str(s.asn_db)


def _summarise_rejects(meta: dict[str, Any], rejects_path: str | None) -> None:
    lines = meta["lines"]
    if not lines["rejected"]:
        return
    reasons = ", ".join(f"{n:,} {r}" for r, n in lines["rejected_by_reason"].items())
    first = next((f for f in meta["files"] if f["lines"]["rejected"]), None)
    hint = f"; written to {rejects_path}" if rejects_path else "; see them with --rejects FILE"
    where = f" (in {first['path']})" if first else ""
    _echo_err(f"Rejected {lines['rejected']:,} of {lines['total']:,} lines{where}: {reasons}{hint}")


def _open_rejects(path: str | None) -> IO[str] | None:
    if path is None:
        return None
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write rejects ({exc.strerror})") from None


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EPILOG_EXIT_CODES,
)
@click.version_option(package_name="loganalyzer", prog_name="loganalyzer")
@click.option(
    "--traceback", is_flag=True, help="Show the full traceback on errors (for bug reports)."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or notes on stderr.")
@click.pass_context
def cli(ctx: click.Context, traceback: bool, quiet: bool) -> None:
    """Who reached this server, from which countries, provinces and networks, and when.

    \b
    Start with the bundled sample:
        loganalyzer report --sample
    Then your own logs (plain, .gz, .bz2, .xz, .zst; globs and - for stdin):
        loganalyzer report /var/log/nginx/access.log* --geoip-dir /usr/share/GeoIP
    """
    ctx.ensure_object(dict)
    ctx.obj["traceback"] = traceback
    ctx.obj["quiet"] = quiet


@cli.command(epilog=EPILOG_EXIT_CODES)
@log_options
@geo_options
@click.option(
    "--by",
    "-b",
    multiple=True,
    metavar="KEY",
    help="Group by country, region (ISO 3166-2 province), subregion, city, asn, ip, "
    "or any column (path, status, user_agent, vhost, day, hour). "
    "Repeat to combine. [default: region]",
)
@click.option(
    "--watch",
    multiple=True,
    metavar="CODE",
    help="Always show and mark a country (ES) or province (CN-LN). Repeatable.",
)
@click.option(
    "--top",
    "top_n",
    type=click.IntRange(min=1),
    metavar="N",
    help="Only the first N rows (watched rows always kept).",
)
@click.option(
    "--output",
    "-O",
    "output",
    type=click.Choice(["table", "csv", "json", "parquet", "markdown"]),
    default=None,
    help="Output format [default: table on a terminal; with -o, from the file's extension].",
)
@click.option(
    "-o",
    "out_path",
    type=click.Path(dir_okay=False, path_type=str),
    metavar="FILE",
    help="Write to FILE instead of stdout (written whole, then renamed into place).",
)
@click.option(
    "--no-csv-safety",
    is_flag=True,
    help="Do not prefix spreadsheet-formula cells with ' in CSV (for machine consumers).",
)
@click.option(
    "--width",
    type=click.IntRange(min=40),
    help="Terminal table width [default: the terminal's, else 120].",
)
@click.pass_context
def report(
    ctx: click.Context,
    logs: tuple[str, ...],
    log_format: str,
    since: str | None,
    until: str | None,
    where: tuple[str, ...],
    rejects: str | None,
    max_bad_lines: int | None,
    keep_going: bool,
    sample: bool,
    city_db: str | None,
    asn_db: str | None,
    geoip_dir: str | None,
    lang: str,
    by: tuple[str, ...],
    watch: tuple[str, ...],
    top_n: int | None,
    output: str | None,
    out_path: str | None,
    no_csv_safety: bool,
    width: int | None,
) -> None:
    """Summarise requests by country, province, city, network or any column.

    \b
    Examples:
        loganalyzer report --sample --watch CN-LN --watch ES
        loganalyzer report access.log* --city-db GeoLite2-City.mmdb --asn-db GeoLite2-ASN.mmdb
        loganalyzer report access.log --by region --by asn --top 20
        loganalyzer report access.log --where region_iso=CN-LN --by path
        loganalyzer report access.log --where client_ip=175.167.0.0/16 --by day -O csv -o out.csv
        zcat old.log.gz | loganalyzer report - --by country -O json
    """
    from loganalyzer.pipeline import analyze, raise_for_faults
    from loganalyzer.report import render

    quiet = bool(ctx.obj.get("quiet"))
    logs, city_db, asn_db = _resolve_sample(logs, sample, city_db, asn_db, quiet)
    fmt_out = output or _output_from_path(out_path)
    with _open_rejects_ctx(rejects) as rej, _progress(_input_size(logs), quiet) as progress:
        analysis = analyze(
            logs,
            log_format=log_format,
            by=by or ("region",),
            where=where,
            since=_parse_time(since, "--since"),
            until=_parse_time(until, "--until"),
            watch=watch,
            top_n=top_n,
            city_db=city_db,
            asn_db=asn_db,
            geoip_dir=geoip_dir,
            lang=lang,
            rejects=rej,
            max_bad_lines=max_bad_lines,
            on_bytes=progress,
        )
    if not quiet:
        _summarise_rejects(analysis.meta, rejects)
        for d in analysis.meta["databases"]:
            _echo_err(f"Database: {d['path']} ({d['type']}, built {d['build_date']})")
    to_tty = out_path is None and sys.stdout.isatty()
    if fmt_out == "parquet" and out_path is None and sys.stdout.isatty():
        raise UsageError("Parquet is binary: write it with -o FILE.parquet")
    term_width = width or (_terminal_width() if to_tty else 120)
    text = render(analysis, fmt_out, safe_csv=not no_csv_safety, width=term_width, color=to_tty)
    with _atomic_output(out_path, logs, binary=isinstance(text, bytes)) as handle:
        handle.write(text)
    if out_path and not quiet:
        _echo_err(f"Wrote {fmt_out} report to {out_path}")
    for fault in analysis.faults:
        _echo_err(f"Warning: {fault.source}: {fault.problem} after line {fault.line_no}")
    if analysis.faults and not keep_going:
        raise_for_faults(analysis.faults)


def _terminal_width() -> int:
    import shutil

    return max(80, shutil.get_terminal_size((120, 24)).columns)


def _output_from_path(path: str | None) -> str:
    if path is None:
        return "table"
    suffix = Path(path).suffix.lower()
    return {
        ".csv": "csv",
        ".json": "json",
        ".parquet": "parquet",
        ".md": "markdown",
        ".markdown": "markdown",
    }.get(suffix, "table")


@contextmanager
def _open_rejects_ctx(path: str | None) -> Iterator[IO[str] | None]:
    handle = _open_rejects(path)
    try:
        yield handle
    except (KeyboardInterrupt, _Interrupt):
        # Rejects stream out as lines are read (kept on errors, to see what was
        # wrong), but an interrupted run leaves no half-written file behind.
        if handle is not None and path is not None:
            handle.close()
            Path(path).unlink(missing_ok=True)
        raise
    finally:
        if handle is not None:
            handle.close()


@cli.command()
@log_options
@geo_options
@click.option(
    "-o",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=str),
    metavar="FILE.parquet",
    help="The Parquet file to write.",
)
@click.pass_context
def enrich(
    ctx: click.Context,
    logs: tuple[str, ...],
    log_format: str,
    since: str | None,
    until: str | None,
    where: tuple[str, ...],
    rejects: str | None,
    max_bad_lines: int | None,
    keep_going: bool,
    sample: bool,
    city_db: str | None,
    asn_db: str | None,
    geoip_dir: str | None,
    lang: str,
    out_path: str,
) -> None:
    """Write every request with its geo and ASN columns to Parquet.

    For pandas, DuckDB, Spark or Polars: one row per request, with the parsed
    columns (client, ts, status, path, ...) and the enrichment (client_ip,
    geo_status, country_iso, region_iso, city, asn, as_org, ...).

    \b
    Examples:
        loganalyzer enrich access.log.gz -o requests.parquet --geoip-dir ~/GeoIP
        python -c "import polars as pl; print(pl.read_parquet('requests.parquet'))"
    """
    from loganalyzer.enrich import GeoDatabases
    from loganalyzer.pipeline import enrich_logs, raise_for_faults

    quiet = bool(ctx.obj.get("quiet"))
    logs, city_db, asn_db = _resolve_sample(logs, sample, city_db, asn_db, quiet)
    target = Path(out_path)
    for name in logs:
        if name != "-" and Path(name).exists() and target.exists() and target.samefile(name):
            raise OutputError(f"{out_path}: refusing to overwrite an input file")
    if not target.parent.is_dir():
        raise OutputError(f"{out_path}: folder {target.parent} does not exist")
    dbs = GeoDatabases.open(city=city_db, asn=asn_db, geoip_dir=geoip_dir)
    dbs.require_city()
    with _open_rejects_ctx(rejects) as rej, _progress(_input_size(logs), quiet) as progress:
        meta = enrich_logs(
            logs,
            out_path,
            log_format=log_format,
            where=where,
            since=_parse_time(since, "--since"),
            until=_parse_time(until, "--until"),
            dbs=dbs,
            lang=lang,
            rejects=rej,
            max_bad_lines=max_bad_lines,
            on_bytes=progress,
        )
    if not quiet:
        _summarise_rejects(meta, rejects)
        _echo_err(f"Wrote {meta['lines']['matched']:,} requests to {out_path}")
    for line in meta["faults"]:
        _echo_err(f"Warning: {line}")
    if meta["_faults"] and not keep_going:
        raise_for_faults(meta["_faults"])


@cli.group()
def db() -> None:
    """GeoIP databases: which are used, and how old they are."""


@db.command("info")
@click.option("--city-db", type=click.Path(path_type=str), envvar="LOGANALYZER_CITY_DB")
@click.option("--asn-db", type=click.Path(path_type=str), envvar="LOGANALYZER_ASN_DB")
@click.option("--geoip-dir", type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def db_info(city_db: str | None, asn_db: str | None, geoip_dir: str | None, as_json: bool) -> None:
    """Show which databases a report would use, their type and build date.

    \b
    Examples:
        loganalyzer db info
        loganalyzer db info --geoip-dir /usr/share/GeoIP --json
    """
    import json
    import time

    from loganalyzer.enrich import GeoDatabases

    dbs = GeoDatabases.open(city=city_db, asn=asn_db, geoip_dir=geoip_dir)
    now = time.time()
    rows: list[dict[str, Any]] = []
    for role in ("city", "asn"):
        info = getattr(dbs, role)
        if info is None:
            rows.append({"role": role, "path": None, "age_days": None})
            continue
        rows.append({**info.as_dict(), "age_days": int((now - info.build_epoch) // 86400)})
    if as_json:
        click.echo(
            json.dumps({"databases": rows, "searched": dbs.searched}, indent=2, sort_keys=True)
        )
        return
    from loganalyzer.report import safe_text

    for r in rows:
        if r["path"] is None:
            click.echo(
                f"{r['role']:5} not found (searched: {', '.join(dbs.searched) or 'nothing'})"
            )
        else:
            click.echo(
                f"{r['role']:5} {safe_text(r['path'])}  {r['type']}  built {r['build_date']} "
                f"({r['age_days']} days ago)"
            )
    if dbs.city is None:
        raise_missing = dbs.require_city
        raise_missing()


@cli.command()
def formats() -> None:
    """List the log formats, with their Apache template and an example line.

    \b
    Example:
        loganalyzer formats
        loganalyzer report access.log --log-format vhost_combined
    """
    from loganalyzer.formats import PRESETS

    for fmt in PRESETS.values():
        click.echo(
            f"{fmt.name}\n  {fmt.description}\n"
            f"  template: {fmt.template}\n  example:  {fmt.example}\n"
        )


class _Interrupt(BaseException):
    """Ctrl-C, kept from click (which prints a blank line and calls it Abort)."""


def _interrupt_once(signum: int, frame: object) -> None:
    # A second Ctrl-C (or a second delivery while Polars winds down) must not
    # break the cleanup that removes temporary output files.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise _Interrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and map every outcome to an exit code (the only place that does)."""
    args = list(sys.argv[1:] if argv is None else argv)
    show_traceback = "--traceback" in args
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, _interrupt_once)
    try:
        cli.main(args=args, prog_name="loganalyzer", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return ExitCode.USAGE if isinstance(exc, click.UsageError) else ExitCode.ERROR
    except click.exceptions.Abort:
        _echo_err("Interrupted.")
        return ExitCode.INTERRUPTED
    except (KeyboardInterrupt, _Interrupt):
        if sys.stderr.isatty():  # end the terminal's "^C" line; a pipe gets one line
            click.echo(err=True)
        _echo_err("Interrupted.")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error worth a message.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.OK
    except LogAnalyzerError as exc:
        if show_traceback:
            raise
        _echo_err(f"Error: {exc}")
        return exc.exit_code
    except Exception as exc:
        if show_traceback:
            raise
        from loganalyzer.report import safe_text

        _echo_err(
            f"Error: unexpected {type(exc).__name__}: {safe_text(str(exc))[:500]} "
            "(run again with --traceback and report it)"
        )
        return ExitCode.ERROR
    finally:
        # In-process callers get their Ctrl-C back (unless it was used: then we exit).
        if previous is not None and signal.getsignal(signal.SIGINT) is _interrupt_once:
            signal.signal(signal.SIGINT, previous)
    return ExitCode.OK


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
