"""Option groups that several commands share, each handed over as ONE typed object.

As sqlite-utils' shared decorators, one step further: ``@read_options`` adds
``LOG...``, ``--log-format``, ``--client-ip`` and the rest to a command, and a
small wrapper pops their values out of the keyword arguments and passes a
frozen :class:`ReadOptions` as ``read``. A new read option then reaches every
command that reads logs, because no command lists it by hand.

The options keep the names, order and help they have always had: the
decorators' order on a command is its ``--help``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from loganalyzer.cli.context import option_time, setting

if TYPE_CHECKING:
    from loganalyzer.anonymity.sources import AnonymizerSources
    from loganalyzer.geo.databases import GeoDatabases
    from loganalyzer.ingest.parse import ParseOptions

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _apply(f: F, decorators: Sequence[Decorator]) -> F:
    for d in reversed(decorators):
        f = cast(F, d(f))
    return f


def option_group(
    into: str, build: Callable[..., Any], options: Sequence[Decorator]
) -> Callable[[F], F]:
    """A decorator: add ``options``, pass ``build(**their values)`` as the argument ``into``."""
    names = tuple(inspect.signature(build).parameters)

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            # A member some commands leave out (lookup has no --width) keeps its default.
            kwargs[into] = build(**{n: kwargs.pop(n) for n in names if n in kwargs})
            return f(*args, **kwargs)

        return _apply(cast(F, wrapper), options)

    return decorate


# --- filters: --since, --until, --where -------------------------------------------------


@dataclass(frozen=True)
class FilterOptions:
    """Which requests count.

    The times stay text until :meth:`args` reads them, so that a bad one is
    reported after the problems found before it (inputs, rejects file), as always.
    """

    where: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    exclude: tuple[str, ...] = ()

    def args(self) -> dict[str, Any]:
        """``where`` (``--exclude`` added), ``since`` and ``until`` as the library takes them."""
        return {
            "where": (*self.where, *exclusions(self.exclude)),
            "since": option_time(self.since, "--since"),
            "until": option_time(self.until, "--until"),
        }


filter_options = option_group(
    "filters",
    FilterOptions,
    [
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
            "--exclude",
            multiple=True,
            metavar="KIND,...",
            help="Leave out clients a source lists as these actor types or categories: "
            "scanner,crawler gives people-only reports (also tor, vpn, hosting, ...).",
        ),
    ],
)


def exclusions(values: Sequence[str]) -> list[str]:
    """``--exclude`` values as ``--where`` conditions on ``actor_type`` and ``anonymizer``.

    Example:
        >>> exclusions(["scanner,crawler", "tor"])
        ['actor_type!=scanner,crawler', 'anonymizer!=tor_exit']
    """
    from loganalyzer import schema as S
    from loganalyzer.errors import UsageError

    actors: list[str] = []
    categories: list[str] = []
    for raw in (v.strip().lower() for value in values for v in value.split(",")):
        name = S.ANON_CATEGORY_ALIASES.get(raw, raw)
        if name in S.ACTOR_TYPES:
            actors.append(name)
        elif name in S.ANON_CATEGORIES:
            categories.append(name)
        elif raw:
            known = ", ".join((*S.ACTOR_TYPES, *S.ANON_CATEGORIES))
            raise UsageError(f"--exclude: unknown kind {raw!r}; use one of {known}")
    out = []
    if actors:
        out.append(f"{S.ACTOR_TYPE}!={','.join(dict.fromkeys(actors))}")
    if categories:
        out.append(f"{S.ANONYMIZER}!={','.join(dict.fromkeys(categories))}")
    return out


# --- reading: LOG..., the format and parse options, bad lines ---------------------------


@dataclass(frozen=True)
class ReadOptions:
    """The logs and how to read them.

    Attributes:
        logs: files, globs or ``-`` as given.
        log_format: ``auto``, a preset, ``apache:FMT``, ``nginx:FMT`` or, from
            ``--json-field``, ``json:COL=PATH,...``.
        parse: ``--assume-tz``, ``--client-ip`` and ``--trusted-proxy``, checked.
        rejects: the file for rejected lines (JSON Lines).
        max_bad_lines: fail (exit 3) when more lines than this are rejected.
        keep_going: analyse every readable input: skip those that cannot be
            read or recognised, go on past a truncated one, exit 7 (partial).
        sample: the bundled sample log and its sample databases.
    """

    logs: tuple[str, ...]
    log_format: str
    parse: ParseOptions
    rejects: str | None = None
    max_bad_lines: int | None = None
    keep_going: bool = False
    sample: bool = False

    def args(self) -> dict[str, Any]:
        """The library's arguments for reading: format, parse options, bad lines."""
        return {
            "log_format": self.log_format,
            "parse_options": self.parse,
            "max_bad_lines": self.max_bad_lines,
        }


def _read(
    logs: tuple[str, ...],
    log_format: str,
    json_field: tuple[str, ...],
    client_ip: str,
    trusted_proxy: tuple[str, ...],
    assume_tz: str,
    rejects: str | None,
    max_bad_lines: int | None,
    keep_going: bool,
    sample: bool,
) -> ReadOptions:
    from loganalyzer.analysis.run import json_log_format
    from loganalyzer.ingest.parse import ParseOptions

    return ReadOptions(
        logs=logs,
        log_format=json_log_format(log_format, json_field),
        parse=ParseOptions(
            assume_tz=assume_tz,
            client_ip=client_ip,  # type: ignore[arg-type]  # click.Choice checked it
            trusted_proxies=tuple(trusted_proxy),
            skip_bad_files=keep_going,
        ),
        rejects=rejects,
        max_bad_lines=max_bad_lines,
        keep_going=keep_going,
        sample=sample,
    )


_READ_FIRST = [
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
]
_READ_LAST = [
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
        help="Analyse every readable file: skip missing, unrecognised or unparseable "
        "ones and go on past a truncated one; list them; exit 7 (partial).",
    ),
    click.option(
        "--sample",
        is_flag=True,
        help="Analyse the bundled sample log with its invented sample databases.",
    ),
]


def read_options(f: F) -> F:
    """``LOG...`` and how to read them as ``read``; the filters among them as ``filters``.

    ``--since``, ``--until`` and ``--where`` have always stood between the
    format options and ``--rejects`` in ``--help``; they still do, but reach the
    command as their own :class:`FilterOptions`.
    """
    wrapped = option_group("read", _read, _READ_LAST)(f)
    return _apply(filter_options(wrapped), _READ_FIRST)


# --- databases ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GeoOptions:
    """Which GeoIP databases, and the language of place names."""

    city_db: str | None = None
    asn_db: str | None = None
    geoip_dir: str | None = None
    lang: str = "en"

    def args(self) -> dict[str, Any]:
        """The library's database arguments: the paths, the folder and the language."""
        return {
            "city_db": self.city_db,
            "asn_db": self.asn_db,
            "geoip_dir": self.geoip_dir,
            "lang": self.lang,
        }

    def open(self) -> GeoDatabases:
        """The databases, opened and checked (a missing one is None)."""
        from loganalyzer.geo.databases import GeoDatabases

        return GeoDatabases.open(city=self.city_db, asn=self.asn_db, geoip_dir=self.geoip_dir)


geo_options = option_group(
    "geo",
    GeoOptions,
    [
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
    ],
)


def analysis_args(read: ReadOptions, filters: FilterOptions, geo: GeoOptions) -> dict[str, Any]:
    """Every argument ``analyze``, ``compare``, ``chart`` and ``briefing`` share."""
    return {**read.args(), **filters.args(), **geo.args()}


# --- anonymizer sources ------------------------------------------------------------------


@dataclass(frozen=True)
class SourceOptions:
    """The anonymizer sources given: files, a folder, and how to judge with them."""

    anon_db: tuple[str, ...] = ()
    ip2proxy: tuple[str, ...] = ()
    tor_exits: tuple[str, ...] = ()
    ip_list: tuple[str, ...] = ()
    cloud_ranges: tuple[str, ...] = ()
    asn_list: str | None = None
    sources_dir: str | None = None
    tor_window: float = 24.0
    stale_after: int = 30
    builtin_sources: bool | None = None

    @property
    def builtin(self) -> bool:
        """Whether the built-in lists are wanted: the option, else the setting (default yes)."""
        if self.builtin_sources is not None:
            return self.builtin_sources
        return setting("builtin_sources") is not False

    def load(self) -> AnonymizerSources | None:
        """The sources loaded and checked, or None when none was given or built in."""
        from loganalyzer.anonymity import builtin

        use_builtin = self.builtin and builtin.available()
        if not (
            self.anon_db
            or self.ip2proxy
            or self.tor_exits
            or self.ip_list
            or self.cloud_ranges
            or self.asn_list
            or self.sources_dir
            or use_builtin
        ):
            return None
        from datetime import timedelta

        from loganalyzer.anonymity.cache import default_cache_dir
        from loganalyzer.anonymity.sources import AnonymizerSources

        return AnonymizerSources.load(
            anon_db=self.anon_db,
            ip2proxy=self.ip2proxy,
            tor_exits=self.tor_exits,
            ip_lists=self.ip_list,
            cloud_ranges=self.cloud_ranges,
            asn_list=self.asn_list,
            sources_dir=self.sources_dir,
            tor_slack=timedelta(hours=self.tor_window),
            stale_days=self.stale_after,
            cache_dir=default_cache_dir() or "",
            builtin=use_builtin,
        )


source_options = option_group(
    "sources",
    SourceOptions,
    [
        click.option(
            "--anon-db",
            multiple=True,
            type=click.Path(path_type=str),
            help="MaxMind Anonymous IP / Anonymous Plus / Residential Proxy MMDB. Repeatable.",
        ),
        click.option(
            "--ip2proxy",
            multiple=True,
            type=click.Path(path_type=str),
            help="IP2Proxy BIN file, LITE or commercial, PX1-PX12 (needs "
            "loganalyzer[sources]). Repeatable.",
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
        click.option(
            "--builtin-sources/--no-builtin-sources",
            default=None,
            help="Use the VPN, cloud, scanner and crawler lists of loganalyzer[sources] "
            "when installed [default: yes; setting builtin_sources, "
            "env: LOGANALYZER_BUILTIN_SOURCES].",
        ),
    ],
)
