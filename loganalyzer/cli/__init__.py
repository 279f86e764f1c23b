"""The command line: options in, one library call, output out, exit codes.

Every command is a thin adapter over the library. Errors become exit codes in
one place, :func:`main`, so each failure is one ``Error: ...`` line on stderr
with a documented code, and a traceback only with ``--traceback``.
"""

from __future__ import annotations

import functools
import gc
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar, cast

import click

from loganalyzer.errors import ExitCode, LogAnalyzerError, OutputError, UsageError

if TYPE_CHECKING:
    from loganalyzer.analysis.bench import Run
    from loganalyzer.anonymity.sources import AnonymizerSources
    from loganalyzer.ingest.parse import ParseOptions

F = TypeVar("F", bound=Callable[..., Any])

EPILOG_EXIT_CODES = (
    "Exit codes: 0 ok, 1 unexpected error, 2 usage, 3 input (unreadable, truncated or "
    "unparseable logs), 4 GeoIP database or anonymizer source, 5 output, 130 interrupted."
)


def _echo_err(message: str) -> None:
    # File names and log text reach these lines: click strips only CSI sequences,
    # and only when stderr is not a terminal, so escape every control character
    # (OSC title and hyperlink sequences included) and bytes that are not UTF-8.
    from loganalyzer.ingest.read import display_name
    from loganalyzer.outputs.render import safe_text

    click.echo(safe_text(display_name(message)), err=True)


def log_options(f: F) -> F:
    """Options shared by commands that read logs.

    The format-reading options (``--assume-tz``, ``--client-ip``,
    ``--trusted-proxy``, ``--json-field``) reach the command as one
    ``parse_options`` argument, and ``--json-field`` turns ``--log-format`` into
    a JSON mapping.
    """

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from loganalyzer.ingest.parse import ParseOptions

        json_field = kwargs.pop("json_field")
        if json_field:
            if kwargs["log_format"] not in ("auto", "json"):
                raise UsageError("--json-field goes with --log-format json (or auto)")
            kwargs["log_format"] = "json:" + ",".join(json_field)
        kwargs["parse_options"] = ParseOptions(
            assume_tz=kwargs.pop("assume_tz"),
            client_ip=kwargs.pop("client_ip"),
            trusted_proxies=tuple(kwargs.pop("trusted_proxy")),
        )
        return f(*args, **kwargs)

    decorators = [
        click.argument("logs", nargs=-1, type=click.Path(allow_dash=True, path_type=str)),
        click.option(
            "--log-format",
            "-f",
            default="auto",
            show_default=True,
            metavar="auto|NAME|apache:FMT|nginx:FMT",
            help="Input format: auto (detected per file), a preset (loganalyzer formats), "
            "apache:'<LogFormat>' or nginx:'<log_format>'.",
        ),
        click.option(
            "--json-field",
            multiple=True,
            metavar="COL=PATH",
            help="JSON lines: where a column is, e.g. client_ip=remote_addr,ts=time "
            "(repeatable; implies --log-format json).",
        ),
        click.option(
            "--client-ip",
            type=click.Choice(["conn", "xff", "xff-first"]),
            default="conn",
            show_default=True,
            help="Client address: the connection's, the right-most X-Forwarded-For entry "
            "not a --trusted-proxy, or the left-most (spoofable).",
        ),
        click.option(
            "--trusted-proxy",
            multiple=True,
            metavar="CIDR",
            help="Your own proxies, skipped in X-Forwarded-For by --client-ip xff. Repeatable.",
        ),
        click.option(
            "--assume-tz",
            default="UTC",
            show_default=True,
            metavar="ZONE",
            help="Zone of log times written without one (HAProxy, vsftpd, W3C date-local): "
            "Europe/Madrid, +08:00.",
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
    wrapped: Any = wrapper
    for d in reversed(decorators):
        wrapped = d(wrapped)
    return cast(F, wrapped)


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


def output_options(
    formats: Sequence[str] = ("table", "csv", "json", "parquet", "markdown"), *, width: bool = True
) -> Callable[[F], F]:
    """Where and how a command writes its table: -O, -o, --no-csv-safety, --width."""
    decorators = [
        click.option(
            "--output",
            "-O",
            "output",
            type=click.Choice(list(formats)),
            default=None,
            help="Output format [default: table on a terminal; with -o, from the file's "
            "extension].",
        ),
        click.option(
            "-o",
            "out_path",
            type=click.Path(dir_okay=False, path_type=str),
            metavar="FILE",
            help="Write to FILE instead of stdout (written whole, then renamed into place).",
        ),
        click.option(
            "--no-csv-safety",
            is_flag=True,
            help="Do not prefix spreadsheet-formula cells with ' in CSV (for machine consumers).",
        ),
    ]
    if width:
        decorators.append(
            click.option(
                "--width",
                type=click.IntRange(min=40),
                help="Terminal table width [default: the terminal's, else 120].",
            )
        )

    def apply(f: F) -> F:
        for d in reversed(decorators):
            f = d(f)
        return f

    return apply


def cluster_options(f: F) -> F:
    """Options that send the per-file work to a Dask cluster (the ``cluster`` extra)."""
    decorators = [
        click.option(
            "--scheduler",
            metavar="ADDRESS",
            envvar="LOGANALYZER_SCHEDULER",
            help="Run one task per file on this dask.distributed scheduler "
            "(tcp://host:8786); the files and databases must be readable by the workers. "
            "[env: LOGANALYZER_SCHEDULER]",
        ),
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            metavar="N",
            help="Run one task per file on a local Dask cluster of N processes.",
        ),
    ]
    for d in reversed(decorators):
        f = d(f)
    return f


_SOURCE_PARAMS = (
    "anon_db",
    "tor_exits",
    "ip_list",
    "cloud_ranges",
    "asn_list",
    "sources_dir",
    "tor_window",
    "stale_after",
)


def source_options(f: F) -> F:
    """Options that load anonymizer sources; the command gets ``anon_sources``.

    The options arrive as one loaded :class:`AnonymizerSources` (None when no
    source is given), so a command body stays one library call.
    """

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {k: kwargs.pop(k) for k in _SOURCE_PARAMS}
        kwargs["anon_sources"] = _load_sources(**given)
        return f(*args, **kwargs)

    decorators = [
        click.option(
            "--anon-db",
            multiple=True,
            type=click.Path(path_type=str),
            help="MaxMind Anonymous IP / Anonymous Plus / Residential Proxy MMDB. Repeatable.",
        ),
        click.option(
            "--tor-exits",
            multiple=True,
            type=click.Path(path_type=str),
            help="Tor exits: bulk list, TorDNSEL exit-addresses or Onionoo JSON. Repeatable.",
        ),
        click.option(
            "--ip-list",
            multiple=True,
            metavar="CATEGORY=FILE",
            help="Address/CIDR list, MISP warninglist or geofeed with its category "
            "(tor_exit, privacy_relay, vpn, public_proxy, residential_proxy, hosting; "
            "tor, relay, proxy also accepted). Repeatable.",
        ),
        click.option(
            "--cloud-ranges",
            multiple=True,
            type=click.Path(path_type=str),
            help="AWS, Google, Azure or Oracle published ranges JSON (hosting). Repeatable.",
        ),
        click.option(
            "--asn-list",
            type=click.Path(path_type=str),
            help="CSV of ASN,category,note, applied through --asn-db (suspected only).",
        ),
        click.option(
            "--sources-dir",
            type=click.Path(path_type=str),
            envvar="LOGANALYZER_SOURCES_DIR",
            help="Folder of anonymizer sources under their usual names "
            "[env: LOGANALYZER_SOURCES_DIR].",
        ),
        click.option(
            "--tor-window",
            type=click.FloatRange(min=0),
            default=24.0,
            show_default=True,
            metavar="HOURS",
            help="A request counts as through a measured Tor exit (TorDNSEL, Onionoo) "
            "within this many hours of its measurement.",
        ),
        click.option(
            "--stale-after",
            type=click.IntRange(min=1),
            default=30,
            show_default=True,
            metavar="DAYS",
            help="Warn when a source's data is more than this many days from the log's time range.",
        ),
    ]
    for d in reversed(decorators):
        wrapper = d(wrapper)
    return wrapper  # type: ignore[return-value]


def _load_sources(
    *,
    anon_db: tuple[str, ...],
    tor_exits: tuple[str, ...],
    ip_list: tuple[str, ...],
    cloud_ranges: tuple[str, ...],
    asn_list: str | None,
    sources_dir: str | None,
    tor_window: float = 24.0,
    stale_after: int = 30,
) -> AnonymizerSources | None:
    if not (anon_db or tor_exits or ip_list or cloud_ranges or asn_list or sources_dir):
        return None
    from datetime import timedelta

    from loganalyzer.anonymity.sources import AnonymizerSources, default_cache_dir

    return AnonymizerSources.load(
        anon_db=anon_db,
        tor_exits=tor_exits,
        ip_lists=ip_list,
        cloud_ranges=cloud_ranges,
        asn_list=asn_list,
        sources_dir=sources_dir,
        tor_slack=timedelta(hours=tor_window),
        stale_days=stale_after,
        cache_dir=default_cache_dir() or "",
    )


def _note_sources(meta: dict[str, Any]) -> None:
    from loganalyzer.analysis.pipeline import NO_ANON_SOURCES
    from loganalyzer.outputs.render import safe_text

    for src in meta.get("sources", []):
        _echo_err(f"Source: {safe_text(src['path'])} ({src['kind']}, {src['entries']:,} entries)")
    if meta.get("anonymizers") == NO_ANON_SOURCES:
        _echo_err(f"Note: {NO_ANON_SOURCES}")
    for warning in meta.get("warnings", []):
        _echo_err(f"Warning: {safe_text(warning)}")


def _parse_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{option}: cannot read {value!r}; "
            "use ISO 8601, e.g. 2026-09-14 or 2026-09-14T08:00+08:00"
        ) from None
    zone = _setting("time_zone")
    if parsed.tzinfo is None and zone and zone != "UTC":
        from zoneinfo import ZoneInfo

        parsed = parsed.replace(tzinfo=ZoneInfo(zone))
    return parsed


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
    from loganalyzer.ingest.read import expand_inputs

    try:
        sizes = [i.size for i in expand_inputs(logs)]
    except LogAnalyzerError:
        return None
    return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)


def _resolve_sample(
    logs: tuple[str, ...], sample: bool, city_db: str | None, asn_db: str | None, quiet: bool
) -> tuple[tuple[str, ...], str | None, str | None]:
    if not sample:
        logs = logs or tuple(_setting("logs") or ())
        if not logs:
            raise UsageError("no log files given; pass LOG... (or - for stdin), or --sample")
        return logs, city_db, asn_db
    from loganalyzer.analysis.pipeline import sample_paths

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
    with_rejects = [f for f in meta["files"] if f["lines"]["rejected"]]
    hint = f"; written to {rejects_path}" if rejects_path else "; see them with --rejects FILE"
    where = f" (in {with_rejects[0]['path']}" if with_rejects else ""
    if len(with_rejects) > 1:
        others = len(with_rejects) - 1
        where += f" and {others:,} other file{'s' if others > 1 else ''}"
    where += ")" if with_rejects else ""
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
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=str),
    is_eager=True,
    expose_value=False,
    callback=lambda ctx, _param, value: _load_config(ctx, value),
    metavar="FILE",
    help="Settings file [env: LOGANALYZER_CONFIG; default: "
    "$XDG_CONFIG_HOME/loganalyzer/config.toml]. See: loganalyzer config show.",
)
# Not eager, so that it runs after --config and names the databases that config picks.
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    callback=lambda ctx, _param, value: _show_version(ctx) if value else None,
    help="Show the version and the databases in use, then exit.",
)
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
@source_options
@click.option(
    "--by",
    "-b",
    multiple=True,
    metavar="KEY",
    help="Group by country, region (ISO 3166-2 province), subregion, city, asn, ip, "
    "anonymizer, provider, or any column (path, status, user_agent, vhost, day, hour). "
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
@output_options()
@click.option(
    "--follow",
    "-F",
    "follow_log",
    is_flag=True,
    help="Keep reading LOG as it grows, like tail -F (across rotation and truncation); "
    "Ctrl-C prints the final report and exits 0.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=2.0,
    show_default=True,
    help="Seconds between refreshes of the table with --follow.",
)
@cluster_options
@click.pass_context
def report(
    ctx: click.Context,
    logs: tuple[str, ...],
    log_format: str,
    parse_options: ParseOptions,
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
    anon_sources: AnonymizerSources | None,
    by: tuple[str, ...],
    watch: tuple[str, ...],
    top_n: int | None,
    output: str | None,
    out_path: str | None,
    no_csv_safety: bool,
    width: int | None,
    scheduler: str | None,
    workers: int | None,
    follow_log: bool,
    interval: float,
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
        loganalyzer report access.log --sources-dir ~/anon --watch CN-LN --watch ES
        loganalyzer report 'logs/*.gz' --workers 2 --by region
        loganalyzer report 'logs/*.gz' --scheduler tcp://10.0.0.5:8786 --geoip-dir /srv/geoip
        loganalyzer report --follow /var/log/nginx/access.log --interval 5
    """
    from loganalyzer.analysis.pipeline import raise_for_faults
    from loganalyzer.outputs.render import render

    quiet = bool(ctx.obj.get("quiet"))
    logs, city_db, asn_db = _resolve_sample(logs, sample, city_db, asn_db, quiet)
    fmt_out = output or _output_from_path(out_path)
    watch = _fitting_watch(ctx, watch, by or ("region",))
    if follow_log:
        if scheduler or workers:
            raise UsageError("--follow reads in this process: drop --workers and --scheduler")
        _follow_report(
            ctx,
            logs,
            log_format=log_format,
            parse_options=parse_options,
            since=_parse_time(since, "--since"),
            until=_parse_time(until, "--until"),
            where=where,
            rejects=rejects,
            max_bad_lines=max_bad_lines,
            dbs_args=(city_db, asn_db, geoip_dir),
            lang=lang,
            by=by or ("region",),
            watch=watch,
            top_n=top_n,
            fmt_out=fmt_out,
            out_path=out_path,
            safe_csv=not no_csv_safety,
            width=width,
            interval=interval,
            sources=anon_sources,
        )
        return
    if rejects and (scheduler or workers):
        raise UsageError("--rejects is not available on a cluster yet; run without it")
    with _open_rejects_ctx(rejects) as rej, _progress(_input_size(logs), quiet) as progress:
        analysis = _runner(scheduler, workers)(
            logs,
            log_format=log_format,
            parse_options=parse_options,
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
            sources=anon_sources,
        )
    if not quiet:
        _summarise_rejects(analysis.meta, rejects)
        for d in analysis.meta["databases"]:
            _echo_err(f"Database: {d['path']} ({d['type']}, built {d['build_date']})")
        _note_sources(analysis.meta)
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


@cli.command(epilog=EPILOG_EXIT_CODES)
@log_options
@geo_options
@source_options
@click.option(
    "--top",
    "top_n",
    type=click.IntRange(min=1),
    metavar="N",
    help="Only the N busiest addresses.",
)
@output_options()
@click.pass_context
def ips(
    ctx: click.Context,
    logs: tuple[str, ...],
    log_format: str,
    parse_options: ParseOptions,
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
    anon_sources: AnonymizerSources | None,
    top_n: int | None,
    output: str | None,
    out_path: str | None,
    no_csv_safety: bool,
    width: int | None,
) -> None:
    """Each client address with its evidence: requests, place, network, anonymizer verdict.

    One row per address, busiest first: requests, first and last seen, country,
    region, ASN and organisation (when those databases are given), and with
    anonymizer sources the verdict (anonymizer, confidence) and the reasons: every
    source's claim. The place of an anonymized address is its exit's, not its
    user's (location_is_exit). JSON rows are keyed ip, requests, anonymizer,
    confidence, reasons, ...

    \b
    Examples:
        loganalyzer ips access.log --sources-dir ~/anon --geoip-dir ~/GeoIP
        loganalyzer ips access.log --tor-exits exit-addresses --top 20
        loganalyzer ips access.log --sources-dir ~/anon --where anonymizer=vpn -O csv -o vpn.csv
        loganalyzer ips access.log --sources-dir ~/anon --where region_iso=CN-LN -O json
    """
    from loganalyzer.analysis.ips import address_evidence
    from loganalyzer.analysis.pipeline import raise_for_faults
    from loganalyzer.geo.databases import GeoDatabases
    from loganalyzer.outputs.addresses import render_ips_table
    from loganalyzer.outputs.render import render

    quiet = bool(ctx.obj.get("quiet"))
    logs, city_db, asn_db = _resolve_sample(logs, sample, city_db, asn_db, quiet)
    fmt_out = output or _output_from_path(out_path)
    dbs = GeoDatabases.open(city=city_db, asn=asn_db, geoip_dir=geoip_dir)
    with _open_rejects_ctx(rejects) as rej, _progress(_input_size(logs), quiet) as progress:
        analysis = address_evidence(
            logs,
            dbs=dbs,
            log_format=log_format,
            parse_options=parse_options,
            where=where,
            since=_parse_time(since, "--since"),
            until=_parse_time(until, "--until"),
            top_n=top_n,
            lang=lang,
            rejects=rej,
            max_bad_lines=max_bad_lines,
            on_bytes=progress,
            sources=anon_sources,
        )
    if not quiet:
        _summarise_rejects(analysis.meta, rejects)
        for d in analysis.meta["databases"]:
            _echo_err(f"Database: {d['path']} ({d['type']}, built {d['build_date']})")
        _note_sources(analysis.meta)
    to_tty = out_path is None and sys.stdout.isatty()
    if fmt_out == "parquet" and to_tty:
        raise UsageError("Parquet is binary: write it with -o FILE.parquet")
    if fmt_out == "table":
        term_width = width or (_terminal_width() if to_tty else 120)
        text: str | bytes = render_ips_table(analysis, width=term_width, color=to_tty)
    else:
        text = render(analysis, fmt_out, safe_csv=not no_csv_safety)
    with _atomic_output(out_path, logs, binary=isinstance(text, bytes)) as handle:
        handle.write(text)
    if out_path and not quiet:
        _echo_err(f"Wrote {fmt_out} evidence table to {out_path}")
    for fault in analysis.faults:
        _echo_err(f"Warning: {fault.source}: {fault.problem} after line {fault.line_no}")
    if analysis.faults and not keep_going:
        raise_for_faults(analysis.faults)


def _runner(scheduler: str | None, workers: int | None) -> Callable[..., Any]:
    """``analyze`` here, or the same report with one task per file on a cluster."""
    if not scheduler and not workers:
        from loganalyzer.analysis.pipeline import analyze

        return analyze
    import functools

    from loganalyzer.analysis.cluster import analyze_distributed

    return functools.partial(
        analyze_distributed, scheduler=scheduler, workers=None if scheduler else workers
    )


def _terminal_width() -> int:
    import shutil

    return max(80, shutil.get_terminal_size((120, 24)).columns)


def _output_from_path(path: str | None) -> str:
    if path is None:
        return str(_setting("output") or "table")
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
@source_options
@click.option(
    "-o",
    "out_path",
    required=True,
    type=click.Path(path_type=str),
    metavar="FILE.parquet|DIR",
    help="The Parquet file to write (with --partitioned, the dataset folder).",
)
@click.option(
    "--partitioned",
    is_flag=True,
    help="Write a Hive-partitioned dataset by UTC date (DIR/date=2026-09-14/*.parquet) "
    "that Spark, Trino, DuckDB and Polars read as one table.",
)
@cluster_options
@click.pass_context
def enrich(
    ctx: click.Context,
    logs: tuple[str, ...],
    log_format: str,
    parse_options: ParseOptions,
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
    anon_sources: AnonymizerSources | None,
    out_path: str,
    partitioned: bool,
    scheduler: str | None,
    workers: int | None,
) -> None:
    """Write every request with its geo and ASN columns to Parquet.

    For pandas, DuckDB, Spark or Polars: one row per request, with the parsed
    columns (client, ts, status, path, ...) and the enrichment (client_ip,
    geo_status, country_iso, region_iso, city, asn, as_org, ...).

    \b
    Examples:
        loganalyzer enrich access.log.gz -o requests.parquet --geoip-dir ~/GeoIP
        python -c "import polars as pl; print(pl.read_parquet('requests.parquet'))"
        loganalyzer enrich 'logs/*.gz' -o dataset --partitioned --workers 2
    """
    from loganalyzer.analysis.pipeline import enrich_logs, raise_for_faults
    from loganalyzer.geo.databases import GeoDatabases

    quiet = bool(ctx.obj.get("quiet"))
    logs, city_db, asn_db = _resolve_sample(logs, sample, city_db, asn_db, quiet)
    target = Path(out_path)
    for name in logs:
        if name != "-" and Path(name).exists() and target.exists() and target.samefile(name):
            raise OutputError(f"{out_path}: refusing to overwrite an input file")
    if not target.parent.is_dir():
        raise OutputError(f"{out_path}: folder {target.parent} does not exist")
    if partitioned and target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise OutputError(f"{out_path}: exists and is not an empty folder")
    if not partitioned and target.is_dir():
        raise OutputError(f"{out_path}: is a folder (use --partitioned to write a dataset)")
    if scheduler or workers:
        if not partitioned or rejects:
            raise UsageError(
                "on a cluster, enrich writes a --partitioned dataset, without --rejects"
            )
        from loganalyzer.analysis.cluster import enrich_distributed

        meta = enrich_distributed(
            logs,
            out_path,
            scheduler=scheduler,
            workers=None if scheduler else workers,
            log_format=log_format,
            parse_options=parse_options,
            where=where,
            since=_parse_time(since, "--since"),
            until=_parse_time(until, "--until"),
            city_db=city_db,
            asn_db=asn_db,
            geoip_dir=geoip_dir,
            lang=lang,
        )
    else:
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
                partitioned=partitioned,
                sources=anon_sources,
            )
    if not quiet:
        _summarise_rejects(meta, rejects)
        _note_sources(meta)
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

    from loganalyzer.geo.databases import GeoDatabases

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
    from loganalyzer.outputs.render import safe_text

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


@cli.group()
def sources() -> None:
    """Anonymizer sources (Tor, VPN, proxy, cloud, relay lists): what is loaded; updates."""


@sources.command("info")
@source_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def sources_info(anon_sources: AnonymizerSources | None, as_json: bool) -> None:
    """Show each anonymizer source a report would load: kind, date, size, entries.

    A file that `sources update` fetched also shows when, from where, whether it
    has changed since, and the last failed update if any (from manifest.json).

    \b
    Examples:
        loganalyzer sources info --sources-dir ~/anon
        loganalyzer sources info --tor-exits exit-addresses --ip-list vpn=vpn.txt --json
    """
    import json

    from loganalyzer.anonymity.sources import describe
    from loganalyzer.anonymity.update import fetch_record
    from loganalyzer.outputs.render import safe_text

    rows = [i.as_dict() for i in anon_sources.infos] if anon_sources else []
    for r in rows:
        record = fetch_record(r["path"], r["sha256"])
        if record is not None:
            r["fetched"] = record
    if as_json:
        click.echo(json.dumps({"sources": rows}, indent=2, sort_keys=True))
        return
    if not rows:
        click.echo(
            "no anonymizer sources given: every address would be 'not listed' "
            "(pass --sources-dir, --anon-db, --tor-exits, --ip-list, --cloud-ranges or --asn-list)"
        )
    for r in rows:
        click.echo(safe_text(describe(r)))
        got = r.get("fetched") or {}
        if got.get("fetched_at"):
            changed = "" if got["same_file"] else " (the file has changed since)"
            click.echo(safe_text(f"  fetched {got['fetched_at']} from {got['url']}{changed}"))
        if got.get("last_failure"):
            fail = got["last_failure"]
            click.echo(safe_text(f"  last update failed {fail.get('at')}: {fail.get('error')}"))


@sources.command("update", epilog=EPILOG_EXIT_CODES)
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False, path_type=str))
@click.option(
    "--url",
    "urls",
    multiple=True,
    metavar="NAME=URL",
    help="Fetch NAME from URL (repeatable); azure has no fixed URL and needs this. "
    "Names: tor-bulk, tor-exit-addresses, aws, google, oracle, azure, icloud-relay.",
)
@click.option(
    "--base-url",
    metavar="URL",
    envvar="LOGANALYZER_SOURCES_BASE_URL",
    help="Fetch every list from URL/<file name> instead of its publisher (a mirror) "
    "[env: LOGANALYZER_SOURCES_BASE_URL].",
)
@click.option(
    "--only",
    multiple=True,
    metavar="NAME",
    help="Fetch only this source (repeatable).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.01),
    default=60.0,
    show_default=True,
    help="Seconds to wait for each server.",
)
@click.pass_context
def sources_update(
    ctx: click.Context,
    folder: str,
    urls: tuple[str, ...],
    base_url: str | None,
    only: tuple[str, ...],
    timeout: float,
) -> None:
    """Download the public lists into DIR (the only command that uses the network).

    Fetches the Tor bulk exit list and TorDNSEL exit-addresses, AWS ip-ranges.json,
    Google cloud.json, Oracle public_ip_ranges.json, Apple's iCloud Private Relay
    egress-ip-ranges.csv and, given its dated URL, Azure's Service Tags, under the
    names --sources-dir reads. Each file is checked by loading it before it
    replaces the previous copy (a broken download never does), and DIR/manifest.json
    records each one's URL, time, HTTP status, sha256, size, entries and terms.
    Exits 4 when any source failed, after fetching the others.

    \b
    Examples:
        loganalyzer sources update ~/anon
        loganalyzer sources update ~/anon --url azure=https://download.microsoft.com/.../ServiceTags_Public_20260907.json
        loganalyzer sources update ~/anon --only tor-bulk --only tor-exit-addresses
        loganalyzer report access.log --sources-dir ~/anon
    """
    from loganalyzer.anonymity.update import update_sources
    from loganalyzer.errors import SourceError
    from loganalyzer.outputs.render import safe_text

    quiet = bool(ctx.obj.get("quiet"))
    results = update_sources(folder, urls=urls, base_url=base_url, only=only, timeout=timeout)
    failed = [r for r in results if not r.ok and not r.skipped]
    for r in results:
        if r.ok and r.entry is not None:
            click.echo(
                f"{r.name:18} {r.entry['entries']:>9,} entries "
                f"{r.entry['size_bytes']:>11,} bytes  sha256 {r.entry['sha256'][:12]}  "
                f"{safe_text(str(r.path))}"
            )
        elif r.skipped and not quiet:
            _echo_err(f"Skipped: {r.name}: {r.error}")
        elif not r.ok:
            _echo_err(
                f"Error: {r.name}: {safe_text(r.url or '')}: {safe_text(r.error or '')} "
                f"(kept the previous {r.path.name})"
                if r.path.exists()
                else f"Error: {r.name}: {safe_text(r.url or '')}: {safe_text(r.error or '')}"
            )
    if failed:
        names = ", ".join(r.name for r in failed)
        raise SourceError(None, f"{len(failed)} of {len(results)} sources failed: {names}")


@cli.command()
def formats() -> None:
    """List the log formats, with their definition and an example line.

    Without --log-format each file's format is detected from its first lines
    (the preset that reads most of them); name one to skip detection.

    \b
    Example:
        loganalyzer formats
        loganalyzer report access.log --log-format vhost_combined
        loganalyzer report access.log -f nginx:'$remote_addr [$time_local] "$request" $status'
    """
    from loganalyzer.ingest.presets import ALIASES, PRESETS
    from loganalyzer.outputs.render import safe_text

    aliases: dict[str, list[str]] = {}
    for alias, name in ALIASES.items():
        aliases.setdefault(name, []).append(alias)
    for fmt in PRESETS.values():
        also = f"  aliases:  {', '.join(aliases[fmt.name])}\n" if fmt.name in aliases else ""
        definition = "regex" if fmt.syntax == "regex" else fmt.syntax
        click.echo(
            f"{fmt.name}\n  {fmt.description}\n{also}"
            f"  {definition}: {safe_text(fmt.template)}\n  example:  {safe_text(fmt.example)}\n"
        )


@cli.command(epilog=EPILOG_EXIT_CODES)
@click.argument("log", required=False, type=click.Path(exists=True, dir_okay=False, path_type=str))
@geo_options
@click.option(
    "--lines",
    type=click.IntRange(min=100),
    default=1_000_000,
    show_default=True,
    help="Lines to generate when no LOG is given.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the generated log.")
@click.option(
    "--keep",
    type=click.Path(dir_okay=False, path_type=str),
    help="Keep the generated log at this path (default: a temporary file).",
)
@click.option(
    "--by",
    default="region",
    show_default=True,
    help="The report's grouping (as in `report --by`).",
)
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Rounds; each runs every variant once.",
)
@click.option("--gzip", "with_gzip", is_flag=True, help="Also time a gzip copy of the log.")
@click.option(
    "--split",
    type=click.IntRange(min=2),
    help="Also time the report on the log cut into N gzip files (rotated logs).",
)
@click.option(
    "--longer",
    type=click.Path(exists=True, dir_okay=False, path_type=str),
    metavar="LOG",
    help="Also time the report on a longer log, and print how time and peak memory grow.",
)
@click.option(
    "--peers",
    is_flag=True,
    help="Also time, once each, a hand-written re + geoip2 loop and GoAccess (if installed) "
    "with the same City database.",
)
@click.option(
    "--sources",
    "with_sources",
    is_flag=True,
    help="Also time the report with anonymizer sources: synthetic lists of real sizes drawn "
    "from the log's clients (20,000 VPN networks, 8,000 cloud ranges, 1,500 Tor exits), "
    "and `report --by ip` with nothing looked up, which both are compared with.",
)
@click.option(
    "--sources-dir",
    "bench_sources_dir",
    type=click.Path(exists=True, file_okay=False, path_type=str),
    help="As --sources, with your own sources folder (laid out as for `report`).",
)
@click.option(
    "--formats",
    "formats_only",
    is_flag=True,
    help="Only time the parser on each preset's example line (no databases needed).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the measurements as JSON.")
def bench(
    log: str | None,
    city_db: str | None,
    asn_db: str | None,
    geoip_dir: str | None,
    lang: str,
    lines: int,
    seed: int,
    keep: str | None,
    by: str,
    repeat: int,
    with_gzip: bool,
    split: int | None,
    longer: str | None,
    peers: bool,
    with_sources: bool,
    bench_sources_dir: str | None,
    formats_only: bool,
    as_json: bool,
) -> None:
    """Time `report` end to end against a bare Polars floor, in one sitting.

    Without LOG, a realistic combined log is generated first (heavy-hitter
    clients drawn from the City database's networks, a third IPv6, several
    time zones, a few malformed lines). Each variant (floor, report, and those
    asked for below) runs once a round as a fresh process, --repeat rounds; the
    fastest of each counts, peak memory is the largest.

    \b
    Examples:
        loganalyzer bench --city-db GeoLite2-City.mmdb --asn-db GeoLite2-ASN.mmdb
        loganalyzer bench big.log --geoip-dir /usr/share/GeoIP --gzip --json
        loganalyzer bench big.log --geoip-dir /usr/share/GeoIP --split 200
        loganalyzer bench 5m.log --longer 20m.log --geoip-dir /usr/share/GeoIP
        loganalyzer bench 5m.log --geoip-dir /usr/share/GeoIP --sources
        loganalyzer bench --formats
    """
    import json
    import tempfile

    from loganalyzer.analysis.bench import (
        format_throughput,
        generate_log,
        generate_sources,
        run_benchmark,
    )
    from loganalyzer.geo.databases import GeoDatabases
    from loganalyzer.outputs.render import safe_text

    if formats_only:
        _echo_err(f"Parsing each preset's example line {min(lines, 200_000):,} times...")
        speeds = format_throughput(lines=min(lines, 200_000), repeat=repeat)
        if as_json:
            click.echo(json.dumps([vars(x) for x in speeds], indent=2))
            return
        click.echo(f"{'format':16} {'report columns':>16} {'all columns':>14}   (lines/s)")
        for x in speeds:
            click.echo(f"{x.name:16} {x.report_columns:16,.0f} {x.all_columns:14,.0f}")
        return

    dbs = GeoDatabases.open(city=city_db, asn=asn_db, geoip_dir=geoip_dir)
    dbs.require_city()
    args = ["--by", by, "-O", "csv", "--lang", lang]
    for info in dbs.infos:
        args += [f"--{info.role}-db", str(info.path)]
    with tempfile.TemporaryDirectory(prefix="loganalyzer-bench-") as tmp:
        if log is None:
            target = Path(keep) if keep else Path(tmp) / "bench.log"
            _echo_err(f"Generating {lines:,} lines (seed {seed}) into {target}...")
            city_path = next(i.path for i in dbs.infos if i.role == "city")
            log = str(generate_log(target, lines=lines, seed=seed, city_db=city_path))
        sources_dir = bench_sources_dir
        if with_sources and sources_dir is None:
            sources_dir = str(Path(tmp) / "sources")
            _echo_err(f"Drawing anonymizer sources from the log's clients into {sources_dir}...")
            generate_sources(sources_dir, log, seed=seed)
        variants = ["floor", "report"]
        variants += ["gzip"] * with_gzip + ["files"] * bool(split) + ["longer"] * bool(longer)
        variants += ["parse", "sources", "first run"] if sources_dir else []
        _echo_err(f"Timing {repeat} rounds, each running {', '.join(variants)} once...")
        city = next(i.path for i in dbs.infos if i.role == "city")
        result = run_benchmark(
            log,
            report_args=args,
            repeat=repeat,
            with_gzip=with_gzip,
            workdir=tmp,
            peers_city_db=city if peers else None,
            split=split or 0,
            longer=longer,
            sources_dir=sources_dir,
        )
        if bench_sources_dir is None:
            result.sources_dir = None  # a temporary folder, gone by now
    if result.report.returncode != 0:
        raise LogAnalyzerError(
            f"the report failed (exit {result.report.returncode}): " + " ".join(result.command)
        )
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    m = result.machine
    click.echo(
        f"log      {safe_text(result.log)}: {result.lines:,} lines, "
        f"{result.size_bytes / 1e6:,.1f} MB\n"
        f"floor    {result.floor.seconds:6.2f} s   "
        "bare Polars scan counting distinct first fields\n"
        f"report   {result.report.seconds:6.2f} s   {result.lines_per_second:,.0f} lines/s, "
        f"peak {result.report.peak_rss_mb:,.0f} MB, {result.ratio:.2f}x the floor"
    )
    report = result.report

    def extra(label: str, run: Run | None, what: Callable[[Run], str]) -> None:
        # One line per optional run: its time and what it compares, or its failure.
        if run is None:
            return
        if run.returncode != 0:
            click.echo(f"{label:<8} failed (exit {run.returncode})")
            return
        click.echo(f"{label:<8} {run.seconds:6.2f} s   {what(run)}")

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
    for name, run in result.peers.items():
        rate = f"{result.lines / run.seconds:,.0f} lines/s" if run.returncode == 0 else "failed"
        click.echo(
            f"peer     {run.seconds:6.2f} s   {rate}, peak {run.peak_rss_mb:,.0f} MB: {name}"
        )
    click.echo(
        f"machine  {m['cpus']} CPUs, {m['memory_gb']} GB, Python {m['python']}, "
        f"Polars {m['polars']}, native scanner {'on' if m.get('native_scanner') else 'off'}; "
        f"best of {result.repeat}"
    )


# === Analyst workflow (issue 9): settings, --version, lookup, compare, report --follow ===
# Kept together so that other commands' edits elsewhere in this file merge cleanly.


def _load_config(ctx: click.Context, path: str | None) -> None:
    """Read the settings once, for every command: the option defaults come from them."""
    if ctx.resilient_parsing:  # shell completion: never fail, never read files twice
        return
    from loganalyzer.settings import load_settings

    settings = load_settings(path)
    ctx.meta["settings"] = settings
    ctx.default_map = {**(ctx.default_map or {}), **settings.default_map()}


def _setting(name: str) -> Any:
    ctx = click.get_current_context(silent=True)
    settings = ctx.meta.get("settings") if ctx is not None else None
    return settings.get(name) if settings is not None else None


def _show_version(ctx: click.Context) -> None:
    from loganalyzer import __version__
    from loganalyzer.errors import GeoDatabaseError
    from loganalyzer.geo.databases import GeoDatabases, open_database_info
    from loganalyzer.outputs.render import safe_text

    click.echo(f"loganalyzer, version {__version__}")
    city, asn, geoip_dir = _setting("city_db"), _setting("asn_db"), _setting("geoip_dir")
    for role, given in (("city", city), ("asn", asn)):
        try:
            if given:
                info = open_database_info(given, role)  # type: ignore[arg-type]
            else:
                dbs = GeoDatabases.open(geoip_dir=geoip_dir, search=True)
                info = getattr(dbs, role)
        except GeoDatabaseError as exc:
            click.echo(f"{role} database: unusable ({safe_text(str(exc))})")
            continue
        if info is None:
            click.echo(f"{role} database: none found")
        else:
            click.echo(
                f"{role} database: {safe_text(info.path)} "
                f"({info.database_type}, built {info.build_date})"
            )
    ctx.exit(0)


def _fitting_watch(ctx: click.Context, watch: Sequence[str], by: Sequence[str]) -> tuple[str, ...]:
    """A watch list from the settings file keeps only the codes this grouping can show.

    Given on the command line, a code that does not fit is an error worth seeing;
    from the settings, it would make every ``--by country`` or ``--by asn`` fail.
    """
    if ctx.get_parameter_source("watch") != click.core.ParameterSource.DEFAULT_MAP:
        return tuple(watch)
    from loganalyzer.analysis.aggregate import resolve_grouping
    from loganalyzer.schema import COUNTRY_ISO, REGION_ISO, SUBREGION_ISO

    keys = set(resolve_grouping(by).keys)
    fits_country = COUNTRY_ISO in keys
    fits_province = bool(keys & {REGION_ISO, SUBREGION_ISO})
    return tuple(w for w in watch if (fits_province if "-" in w else fits_country))


def _write_text(text: str | bytes, out_path: str | None, inputs: Sequence[str]) -> None:
    with _atomic_output(out_path, inputs, binary=isinstance(text, bytes)) as handle:
        handle.write(text)


@cli.group()
def config() -> None:
    """Settings: a TOML file, environment variables and built-in defaults.

    \b
    Example:
        loganalyzer config show
        loganalyzer --config ./team.toml config show --json
    """


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def config_show(ctx: click.Context, as_json: bool) -> None:
    """Print the effective settings and where each came from.

    Precedence: command line > environment > settings file > defaults. The file is
    --config FILE, else $LOGANALYZER_CONFIG, else $XDG_CONFIG_HOME/loganalyzer/config.toml
    (~/.config when XDG_CONFIG_HOME is unset).

    \b
    Example:
        loganalyzer config show
        LOGANALYZER_OUTPUT=csv loganalyzer config show --json
    """
    import json

    from loganalyzer.outputs.render import safe_text
    from loganalyzer.settings import describe

    settings = ctx.meta["settings"]
    records = describe(settings)
    file_note = (
        f"settings file: {settings.file}"
        if settings.file
        else f"settings file: none (looked for {settings.searched})"
    )
    if as_json:
        doc = {
            "file": str(settings.file) if settings.file else None,
            "searched": str(settings.searched) if settings.searched else None,
            "settings": records,
        }
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
        return
    click.echo(safe_text(file_note))
    for r in records:
        value = r["value"]
        shown = "-" if value is None or value == [] else value
        if isinstance(shown, list):
            shown = ", ".join(shown)
        click.echo(f"{r['name']:<11} {safe_text(str(shown))}  [{safe_text(r['source'])}]")


_LOOKUP_EPILOG = (
    "Exit codes: 0 every address looked up (not found and non-public are answers, not "
    "errors), 2 usage, 3 an input is not an IP address (all rows are still printed), "
    "4 GeoIP database, 5 output."
)


def _read_address_lines(stream: IO[str]) -> list[str]:
    out = []
    for line in stream:
        text = line.strip()
        if text and not text.startswith("#"):
            out.append(text)
    return out


@cli.command(epilog=_LOOKUP_EPILOG)
@click.argument("addresses", nargs=-1, metavar="[ADDRESS]...")
@click.option(
    "--from-log",
    "from_log",
    multiple=True,
    type=click.Path(allow_dash=True, path_type=str),
    metavar="LOG",
    help="Look up every distinct client of LOG (repeatable), busiest first.",
)
@click.option(
    "--log-format",
    "-f",
    default="combined",
    show_default=True,
    metavar="NAME|apache:FMT",
    help="Format of --from-log logs.",
)
@geo_options
@output_options(formats=("table", "csv", "json"), width=False)
@click.option("--sample", is_flag=True, help="Use the bundled invented sample databases.")
@source_options
@click.pass_context
def lookup(
    ctx: click.Context,
    addresses: tuple[str, ...],
    from_log: tuple[str, ...],
    log_format: str,
    city_db: str | None,
    asn_db: str | None,
    geoip_dir: str | None,
    lang: str,
    output: str | None,
    out_path: str | None,
    no_csv_safety: bool,
    sample: bool,
    anon_sources: AnonymizerSources | None,
) -> None:
    """Everything the databases say about some addresses.

    Country, both subdivision levels (ISO 3166-2), city, coordinates and accuracy
    radius, time zone, registered country, ASN and organisation, the networks
    matched, and with anonymizer sources the verdict and its evidence. Addresses
    come from the arguments, from stdin (one a line, or -), or from the distinct
    clients of a log (--from-log). Ports, brackets, zone ids and IPv4-mapped IPv6
    are accepted; private and reserved addresses are answered without a lookup.

    \b
    Examples:
        loganalyzer lookup 81.2.69.160 2408:8200::1 --geoip-dir ~/GeoIP
        loganalyzer lookup --sample 175.167.1.2 -O json
        grep -o '^[^ ]*' access.log | sort -u | loganalyzer lookup -O csv -o clients.csv
        loganalyzer lookup --from-log access.log -O csv
        loganalyzer lookup 185.220.101.20 --sources-dir ~/anon
    """
    from loganalyzer.analysis.lookup import (
        flat_lists,
        lookup_addresses,
        lookup_log_clients,
    )
    from loganalyzer.analysis.pipeline import CAVEAT, Analysis, anonymizer_settings, sample_paths
    from loganalyzer.errors import InputError
    from loganalyzer.geo.databases import GeoDatabases
    from loganalyzer.outputs.addresses import render_lookup_table
    from loganalyzer.outputs.render import render_csv, render_json

    if sample:
        s = sample_paths()
        city_db, asn_db = city_db or str(s.city_db), asn_db or str(s.asn_db)
    if from_log and addresses:
        raise UsageError("give addresses or --from-log LOG, not both")
    dbs = GeoDatabases.open(city=city_db, asn=asn_db, geoip_dir=geoip_dir)
    if dbs.city is None and dbs.asn is None:
        dbs.require_city()
    if from_log:
        analysis = lookup_log_clients(
            from_log, dbs, log_format=log_format, lang=lang, sources=anon_sources
        )
        given: list[str] = []
    else:
        given = [a for a in addresses if a != "-"]
        if "-" in addresses or not addresses:
            if not addresses and sys.stdin.isatty():
                raise UsageError("no addresses given; pass ADDRESS..., pipe them in, or --from-log")
            given += _read_address_lines(sys.stdin)
        if not given:
            raise UsageError("no addresses on stdin")
        from loganalyzer import __version__

        rows = lookup_addresses(given, dbs, lang=lang, sources=anon_sources)
        meta = {
            "tool": {"name": "loganalyzer", "version": __version__},
            "databases": [d.as_dict() for d in dbs.infos],
            **({"sources": [i.as_dict() for i in anon_sources.infos]} if anon_sources else {}),
            **({"anonymizer_settings": anonymizer_settings(anon_sources)} if anon_sources else {}),
            "caveat": CAVEAT,
        }
        analysis = Analysis(rows=rows, meta=meta)
    fmt_out = output or {"csv": "csv", "json": "json"}.get(_output_from_path(out_path), "table")
    if fmt_out == "json":
        text = render_json(analysis)
    elif fmt_out == "csv":
        text = render_csv(flat_lists(analysis.rows), safe=not no_csv_safety)
    else:
        text = render_lookup_table(analysis.rows)
    _write_text(text, out_path, from_log)
    quiet = bool(ctx.obj.get("quiet"))
    if from_log and not quiet:
        bad = analysis.meta["invalid_clients"]["requests"]
        if bad:
            _echo_err(f"{bad:,} requests had a client field that is not an IP address")
    invalid = [
        r["input"] for r in analysis.rows.iter_rows(named=True) if r["status"] == "invalid_ip"
    ]
    if invalid and not from_log:
        from loganalyzer.outputs.render import safe_text

        raise InputError(
            f"{len(invalid)} of {len(given)} inputs not an IP address "
            f"(first: {safe_text(invalid[0])!r}); their rows say status invalid_ip"
        )


@cli.command(epilog=EPILOG_EXIT_CODES)
@log_options
@geo_options
@click.option(
    "--baseline-until",
    metavar="TIME",
    help="Split LOGS here: requests before TIME are the baseline, the rest current "
    "(ISO 8601; a date means its midnight).",
)
@click.option(
    "--baseline",
    "baseline",
    multiple=True,
    type=click.Path(allow_dash=True, path_type=str),
    metavar="LOG",
    help="A log of the baseline period (repeatable; with --current).",
)
@click.option(
    "--current",
    "current",
    multiple=True,
    type=click.Path(allow_dash=True, path_type=str),
    metavar="LOG",
    help="A log of the current period (repeatable; with --baseline).",
)
@click.option(
    "--by",
    "-b",
    multiple=True,
    metavar="KEY",
    help="Compare by country, region, subregion, city, asn, ip or any column. "
    "Repeat to combine. [default: region]",
)
@click.option(
    "--watch",
    multiple=True,
    metavar="CODE",
    help="Rank a country (ES) or province (CN-LN) first when new, and always show it.",
)
@click.option(
    "--top", "top_n", type=click.IntRange(min=1), metavar="N", help="Only the first N rows."
)
@output_options()
@source_options
@click.pass_context
def compare(
    ctx: click.Context,
    logs: tuple[str, ...],
    log_format: str,
    parse_options: ParseOptions,
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
    baseline_until: str | None,
    baseline: tuple[str, ...],
    current: tuple[str, ...],
    by: tuple[str, ...],
    watch: tuple[str, ...],
    top_n: int | None,
    output: str | None,
    out_path: str | None,
    no_csv_safety: bool,
    width: int | None,
    anon_sources: AnonymizerSources | None,
) -> None:
    """What changed between two periods: new and gone regions and networks, and growth.

    Per region (or --by asn, path, ...): requests and distinct clients in each
    period, the change, and whether the row is new, gone, up or down (up and down
    compare shares of requests, so periods of different lengths compare fairly).
    Rows are ranked for an analyst: new watched places, then anything new, then
    the biggest relative increases; gone last. The logs are read once.

    \b
    Examples:
        loganalyzer compare --sample --baseline-until 2026-09-16 --watch CN-LN
        loganalyzer compare access.log* --baseline-until 2026-09-10 --by asn --top 20
        loganalyzer compare --baseline last-week.log.gz --current access.log -O csv -o diff.csv
        loganalyzer compare a.log --baseline-until 2026-09-10 --by provider --sources-dir ~/anon
    """
    from loganalyzer.analysis.compare import compare as compare_periods
    from loganalyzer.analysis.pipeline import raise_for_faults
    from loganalyzer.outputs.comparison import render_comparison

    quiet = bool(ctx.obj.get("quiet"))
    if sample and not baseline_until:
        raise UsageError("--sample needs --baseline-until, e.g. 2026-09-16")
    if baseline or current:
        if sample:
            raise UsageError("--sample splits the sample log: use --baseline-until with it")
        s_city, s_asn = city_db, asn_db
    else:
        logs, s_city, s_asn = _resolve_sample(logs, sample, city_db, asn_db, quiet)
    fmt_out = output or _output_from_path(out_path)
    by = by or ("region",)
    watch = _fitting_watch(ctx, watch, by)
    inputs = (*logs, *baseline, *current)
    with _open_rejects_ctx(rejects) as rej, _progress(_input_size(inputs), quiet) as progress:
        analysis = compare_periods(
            logs,
            baseline_until=_parse_time(baseline_until, "--baseline-until"),
            baseline=baseline,
            current=current,
            log_format=log_format,
            parse_options=parse_options,
            by=by,
            where=where,
            since=_parse_time(since, "--since"),
            until=_parse_time(until, "--until"),
            watch=watch,
            top_n=top_n,
            city_db=s_city,
            asn_db=s_asn,
            geoip_dir=geoip_dir,
            lang=lang,
            rejects=rej,
            max_bad_lines=max_bad_lines,
            on_bytes=progress,
            sources=anon_sources,
        )
    if not quiet:
        _summarise_rejects(analysis.meta, rejects)
        _note_sources(analysis.meta)
    if fmt_out == "parquet" and out_path is None and sys.stdout.isatty():
        raise UsageError("Parquet is binary: write it with -o FILE.parquet")
    to_tty = out_path is None and sys.stdout.isatty()
    term_width = width or (_terminal_width() if to_tty else 120)
    text = render_comparison(analysis, fmt_out, safe_csv=not no_csv_safety, width=term_width)
    _write_text(text, out_path, inputs)
    for fault in analysis.faults:
        _echo_err(f"Warning: {fault.source}: {fault.problem} after line {fault.line_no}")
    if analysis.faults and not keep_going:
        raise_for_faults(analysis.faults)


def _follow_report(
    ctx: click.Context,
    logs: Sequence[str],
    *,
    log_format: str,
    parse_options: ParseOptions,
    since: datetime | None,
    until: datetime | None,
    where: Sequence[str],
    rejects: str | None,
    max_bad_lines: int | None,
    dbs_args: tuple[str | None, str | None, str | None],
    lang: str,
    by: Sequence[str],
    watch: Sequence[str],
    top_n: int | None,
    fmt_out: str,
    out_path: str | None,
    safe_csv: bool,
    width: int | None,
    interval: float,
    sources: AnonymizerSources | None,
) -> None:
    """``report --follow``: refresh until SIGINT/SIGTERM, then the final report, exit 0."""
    import signal

    from loganalyzer.analysis.follow import FollowEvent, LiveReport, LogFollower, follow
    from loganalyzer.geo.databases import GeoDatabases
    from loganalyzer.outputs.render import render, render_table, safe_text

    if len(logs) != 1 or logs[0] == "-":
        raise UsageError("--follow reads one file (not stdin): loganalyzer report --follow LOG")
    quiet = bool(ctx.obj.get("quiet"))
    city_db, asn_db, geoip_dir = dbs_args
    dbs = GeoDatabases.open(city=city_db, asn=asn_db, geoip_dir=geoip_dir)
    follower = LogFollower(logs[0])
    to_tty = out_path is None and sys.stdout.isatty()
    live_table = to_tty and fmt_out == "table"
    term_width = width or (_terminal_width() if to_tty else 120)
    name = safe_text(logs[0])
    last_lines = -1

    def refresh(live: LiveReport) -> None:
        nonlocal last_lines
        if live_table:
            # Home and clear, then the table: a redraw, not a scrolling log.
            table = render_table(live.analysis(), width=term_width, color=True)
            click.echo("\x1b[H\x1b[2J" + table, nl=False)
        elif not quiet and live.lines != last_lines:
            _echo_err(f"Following {name}: {live.lines:,} lines read")
        last_lines = live.lines

    def event(e: FollowEvent) -> None:
        if not quiet:
            what = "the new file" if e.kind == "rotated" else "it again"
            _echo_err(f"Note: {safe_text(e.source)} was {e.kind}; reading {what} from its start")

    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with _open_rejects_ctx(rejects) as rej:
            live = LiveReport(
                log_format=log_format,
                parse_options=parse_options,
                by=by,
                where=where,
                since=since,
                until=until,
                watch=watch,
                top_n=top_n,
                dbs=dbs,
                lang=lang,
                rejects=rej,
                max_bad_lines=max_bad_lines,
                sources=sources,
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
    if not quiet:
        _summarise_rejects(analysis.meta, rejects)
        if follower.pending:
            _echo_err("Note: the last line has no newline yet and was not counted")
    text = render(analysis, fmt_out, safe_csv=safe_csv, width=term_width, color=to_tty)
    _write_text(text, out_path, logs)


# --- Charts and briefings (issue 5) ---------------------------------------------------
# Kept together so that other commands can be added above without touching this block.


def _analysis_options(
    logs: tuple[str, ...],
    log_format: str,
    since: str | None,
    until: str | None,
    where: tuple[str, ...],
    city_db: str | None,
    asn_db: str | None,
    geoip_dir: str | None,
    lang: str,
    max_bad_lines: int | None,
    parse_options: ParseOptions,
) -> dict[str, Any]:
    return {
        "log_format": log_format,
        "parse_options": parse_options,
        "where": where,
        "since": _parse_time(since, "--since"),
        "until": _parse_time(until, "--until"),
        "city_db": city_db,
        "asn_db": asn_db,
        "geoip_dir": geoip_dir,
        "lang": lang,
        "max_bad_lines": max_bad_lines,
    }


def _refuse_input_target(out_path: str, inputs: Sequence[str]) -> None:
    """Fail before the (long) analysis rather than after it."""
    target = Path(out_path)
    for name in inputs:
        if name != "-" and Path(name).exists() and target.exists() and target.samefile(name):
            raise OutputError(f"{out_path}: refusing to overwrite an input file")
    if not target.parent.is_dir():
        raise OutputError(f"{out_path}: folder {target.parent} does not exist")


def _briefing_options(f: F) -> F:
    decorators = [
        click.option(
            "--watch",
            multiple=True,
            metavar="CODE",
            help="Highlight and always show a country (ES) or province (CN-LN). Repeatable.",
        ),
        click.option(
            "--tz",
            default="UTC",
            show_default=True,
            metavar="ZONE",
            help="Time zone of the hours heatmap (Asia/Shanghai, Europe/Madrid, ...).",
        ),
        click.option(
            "--top",
            "top_n",
            type=click.IntRange(min=1),
            metavar="N",
            help="How many places or networks to draw [default: 15; timeline 5].",
        ),
    ]
    for d in reversed(decorators):
        f = d(f)
    return f


@cli.command(epilog=EPILOG_EXIT_CODES)
@log_options
@geo_options
@source_options
@click.option(
    "--kind",
    "-k",
    required=True,
    type=click.Choice(["regions", "timeline", "hours", "map", "asn", "compare"]),
    help="regions: bars per place; timeline: requests per hour/day; hours: hour-of-day "
    "by weekday heatmap; map: world map; asn: top networks; compare: share of requests "
    "per place in two periods, new and gone marked.",
)
@click.option(
    "--by",
    "-b",
    type=click.Choice(["region", "country", "subregion", "city", "asn"]),
    help="What a place is (regions, timeline, map, compare). [default: region]",
)
@click.option(
    "--baseline-until",
    metavar="TIME",
    help="compare: split LOGS here; requests before TIME are the baseline (ISO 8601).",
)
@click.option(
    "--baseline",
    "baseline",
    multiple=True,
    type=click.Path(allow_dash=True, path_type=str),
    metavar="LOG",
    help="compare: a log of the baseline period (repeatable; with --current).",
)
@click.option(
    "--current",
    "current",
    multiple=True,
    type=click.Path(allow_dash=True, path_type=str),
    metavar="LOG",
    help="compare: a log of the current period (repeatable; with --baseline).",
)
@_briefing_options
@click.option(
    "--interval",
    type=click.Choice(["auto", "hour", "day"]),
    default="auto",
    show_default=True,
    help="Timeline step (auto: hours up to 14 days, else days).",
)
@click.option(
    "-o",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=str),
    metavar="FILE",
    help="The image: .png (1600x900), .svg or .pdf, written whole then renamed into place.",
)
@click.pass_context
def plot(
    ctx: click.Context,
    logs: tuple[str, ...],
    log_format: str,
    parse_options: ParseOptions,
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
    anon_sources: AnonymizerSources | None,
    kind: str,
    by: str | None,
    baseline_until: str | None,
    baseline: tuple[str, ...],
    current: tuple[str, ...],
    watch: tuple[str, ...],
    tz: str,
    top_n: int | None,
    interval: str,
    out_path: str,
) -> None:
    """Draw one chart for a slide: title, time range, sources, units.

    \b
    Examples:
        loganalyzer plot --sample --kind regions --watch CN-LN --watch ES -o regions.png
        loganalyzer plot access.log* --kind timeline --watch CN-LN -o timeline.svg
        loganalyzer plot access.log --kind hours --tz Asia/Shanghai -o hours.pdf
        loganalyzer plot access.log --kind asn --top 10 -o networks.png
        loganalyzer plot access.log --kind map -o map.png
        loganalyzer plot access.log --sources-dir ~/anon --kind regions -o split.png
        loganalyzer plot --sample --kind compare --baseline-until 2026-09-16 -o changes.png
        loganalyzer plot --kind compare --baseline last-week.log --current access.log -o c.svg
    """
    from loganalyzer.analysis.pipeline import raise_for_faults
    from loganalyzer.outputs.charts import chart, figure_format, save_figure

    quiet = bool(ctx.obj.get("quiet"))
    periods: dict[str, Any] = {}
    if kind == "compare":
        if sample and not baseline_until:
            raise UsageError("--sample needs --baseline-until, e.g. 2026-09-16")
        if sample and (baseline or current):
            raise UsageError("--sample splits the sample log: use --baseline-until with it")
        periods = {
            "baseline_until": _parse_time(baseline_until, "--baseline-until"),
            "baseline": baseline,
            "current": current,
        }
        watch = _fitting_watch(ctx, watch, [by or "region"])
    elif baseline_until or baseline or current:
        raise UsageError("--baseline-until, --baseline and --current go with --kind compare")
    if not (baseline or current):
        logs, city_db, asn_db = _resolve_sample(logs, sample, city_db, asn_db, quiet)
    figure_format(out_path)
    inputs = (*logs, *baseline, *current)
    _refuse_input_target(out_path, inputs)
    options = _analysis_options(
        logs,
        log_format,
        since,
        until,
        where,
        city_db,
        asn_db,
        geoip_dir,
        lang,
        max_bad_lines,
        parse_options,
    )
    with _open_rejects_ctx(rejects) as rej, _progress(_input_size(inputs), quiet) as progress:
        result = chart(
            kind,
            logs,
            by=by,
            watch=watch,
            tz=tz,
            interval=interval,  # type: ignore[arg-type]
            top_n=top_n,
            rejects=rej,
            on_bytes=progress,
            sources=anon_sources,
            **periods,
            **options,
        )
    if not quiet:
        _summarise_rejects(result.analysis.meta, rejects)
        _note_sources(result.analysis.meta)
    dbs = [d["path"] for d in result.analysis.meta["databases"]]
    save_figure(result.figure, out_path, inputs=[*inputs, *dbs])
    if not quiet:
        _echo_err(f"Wrote {kind} chart to {out_path}")
    for fault in result.analysis.faults:
        _echo_err(f"Warning: {fault.source}: {fault.problem} after line {fault.line_no}")
    if result.analysis.faults and not keep_going:
        raise_for_faults(result.analysis.faults)


@cli.command(epilog=EPILOG_EXIT_CODES)
@log_options
@geo_options
@source_options
@_briefing_options
@click.option(
    "-o",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=str),
    metavar="FILE",
    help="briefing.html (one self-contained file) or briefing.md (Markdown, images inline).",
)
@click.pass_context
def brief(
    ctx: click.Context,
    logs: tuple[str, ...],
    log_format: str,
    parse_options: ParseOptions,
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
    anon_sources: AnonymizerSources | None,
    watch: tuple[str, ...],
    tz: str,
    top_n: int | None,
    out_path: str,
) -> None:
    """Write a one-file briefing: findings, charts, tables, provenance, caveats.

    The file embeds its images and loads nothing from the network when opened.

    \b
    Examples:
        loganalyzer brief --sample --watch CN-LN --watch ES -o briefing.html
        loganalyzer brief access.log* --geoip-dir ~/GeoIP --tz Asia/Shanghai -o briefing.md
        loganalyzer brief access.log --sources-dir ~/anon --watch CN-LN -o briefing.html
    """
    from loganalyzer.analysis.pipeline import raise_for_faults
    from loganalyzer.outputs.briefing import briefing, briefing_format
    from loganalyzer.outputs.charts import write_atomic

    quiet = bool(ctx.obj.get("quiet"))
    logs, city_db, asn_db = _resolve_sample(logs, sample, city_db, asn_db, quiet)
    fmt = briefing_format(out_path)
    _refuse_input_target(out_path, logs)
    options = _analysis_options(
        logs,
        log_format,
        since,
        until,
        where,
        city_db,
        asn_db,
        geoip_dir,
        lang,
        max_bad_lines,
        parse_options,
    )
    with _open_rejects_ctx(rejects) as rej:
        result = briefing(
            logs,
            watch=watch,
            tz=tz,
            top_n=top_n or 15,
            fmt=fmt,
            rejects=rej,
            sources=anon_sources,
            **options,
        )
    if not quiet:
        _summarise_rejects(result.meta, rejects)
        _note_sources(result.meta)
    dbs = [d["path"] for d in result.meta["databases"]]
    write_atomic(Path(out_path), result.text.encode("utf-8"), inputs=[*logs, *dbs])
    if not quiet:
        _echo_err(f"Wrote {fmt} briefing to {out_path}")
    for fault in result.faults:
        _echo_err(f"Warning: {fault.source}: {fault.problem} after line {fault.line_no}")
    if result.faults and not keep_going:
        raise_for_faults(result.faults)


# --- end of charts and briefings ------------------------------------------------------


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
        from loganalyzer.outputs.render import safe_text

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
    # What is imported by now (Polars, NumPy, the package) lives until the exit:
    # kept out of the collector's sight, it is not walked again by the full
    # collection that parsing a source's JSON sets off (28 ms of a first run
    # with the benchmark's lists). A program importing the package is left be.
    gc.freeze()
    sys.exit(main())
