"""The anonymizer sources a run uses: :class:`AnonymizerSources`, loaded from the user's files.

:meth:`AnonymizerSources.load` reads every source given, two at a time and
through the cache of parsed lists, with the loader of its kind (one module
each: :mod:`~loganalyzer.anonymity.maxmind`, :mod:`~loganalyzer.anonymity.tor`,
:mod:`~loganalyzer.anonymity.ip_lists`, :mod:`~loganalyzer.anonymity.cloud`,
:mod:`~loganalyzer.anonymity.asn_list`, :mod:`~loganalyzer.anonymity.folder`).
When only address lists and undated Tor exits are loaded, the verdict of every
piece of address space is made once per run (:func:`_merged`), on another
thread while the log is read; :func:`loganalyzer.anonymity.verdict.classify`
then judges a chunk of clients with one join. Also here: the warning for
sources whose data is far from the log's time range (:func:`stale_sources`)
and the line ``loganalyzer sources info`` prints per source (:func:`describe`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from loganalyzer.anonymity.asn_list import load_asn_list
from loganalyzer.anonymity.cache import _CACHE_FORMAT, _MERGED_DIR, ENV_CACHE_DIR, _cached
from loganalyzer.anonymity.categories import _HIT_SCHEMA, _RID, _verdicts
from loganalyzer.anonymity.cloud import load_cloud
from loganalyzer.anonymity.files import SourceInfo, _Loaded
from loganalyzer.anonymity.folder import _scan_dir
from loganalyzer.anonymity.ip2proxy import load_ip2proxy
from loganalyzer.anonymity.ip_lists import load_ip_list
from loganalyzer.anonymity.maxmind import load_mmdb
from loganalyzer.anonymity.networks import _KEY
from loganalyzer.anonymity.tor import DEFAULT_TOR_SLACK, load_tor

# A source whose data is further than this from the log's time range is flagged.
DEFAULT_STALE_DAYS = 30


@dataclass
class AnonymizerSources:
    """The anonymizer sources a run uses; build it with :meth:`load`.

    Example:
        >>> AnonymizerSources.load().infos
        []
    """

    loaded: list[_Loaded] = field(default_factory=list)
    tor_slack: timedelta = DEFAULT_TOR_SLACK
    stale_days: int = DEFAULT_STALE_DAYS
    # Files of a --sources-dir that were not loaded, and why (sources info, meta).
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # Every verdict of address lists and undated exits, made once (see _merged),
    # with the sources it was made from.
    _merged: tuple[tuple[int, ...], pl.DataFrame] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _cache: Path | None = field(default=None, init=False, repr=False, compare=False)
    # The merged verdicts being made on another thread (see load).
    _ahead: Future[pl.DataFrame | None] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @classmethod
    def load(
        cls,
        *,
        anon_db: Iterable[str | Path] = (),
        ip2proxy: Iterable[str | Path] = (),
        tor_exits: Iterable[str | Path] = (),
        ip_lists: Iterable[str | tuple[str | None, str | Path]] = (),
        cloud_ranges: Iterable[str | Path] = (),
        asn_list: str | Path | None = None,
        sources_dir: str | Path | None = None,
        tor_slack: timedelta = DEFAULT_TOR_SLACK,
        stale_days: int = DEFAULT_STALE_DAYS,
        cache_dir: str | Path | None = None,
        builtin: bool = False,
    ) -> AnonymizerSources:
        """Read and check every source given (none is fine).

        Args:
            anon_db: MaxMind Anonymous IP, Anonymous Plus or Residential Proxy MMDBs.
            ip2proxy: IP2Proxy BIN files (LITE or commercial, PX1-PX12); reading
                them needs the ``ip2proxy`` package (``loganalyzer[sources]``).
            tor_exits: Tor bulk exit lists, TorDNSEL ``exit-addresses`` files or
                Onionoo details JSON (told apart by content).
            ip_lists: ``CATEGORY=FILE`` strings or ``(category, path)`` pairs;
                plain address/CIDR lists, MISP warninglists or RFC 8805 geofeeds.
                The category may be omitted for a MISP list whose name says it.
            cloud_ranges: AWS ``ip-ranges.json``, Google ``cloud.json``, Azure
                Service Tags or Oracle ``public_ip_ranges.json``.
            asn_list: a CSV of ``ASN,category,note``.
            sources_dir: a folder laid out as the README describes; files given
                explicitly are added to what it holds. (The CLI also takes it from
                ``$LOGANALYZER_SOURCES_DIR``; the library reads no such setting, so
                a notebook's result does not depend on the shell it started in.)
            tor_slack: how far from a measured exit time a request still counts.
            stale_days: how far a source's data may be from the log's time range
                before the report warns that its verdicts may not hold.
            cache_dir: where parsed lists are kept as Parquet, keyed by the file's
                sha256, so the next run skips parsing (default
                ``$LOGANALYZER_CACHE_DIR``; no cache when neither is set). Entries
                not read for 30 days are removed when a new one is written. The
                command uses the user's cache folder by default
                (:func:`default_cache_dir`).
            builtin: also use the lists ``loganalyzer[sources]`` installs
                (:mod:`~loganalyzer.anonymity.builtin`: VPN/datacenter, cloud
                ranges, scanners, crawlers); nothing when it is not installed.
                The command turns them on by default; the library does not, so
                a notebook's result does not depend on what else is installed.

        Raises:
            SourceError: for a missing, unreadable or wrong-format file.
        """
        anon_db, tor_exits, cloud_ranges = list(anon_db), list(tor_exits), list(cloud_ranges)
        ip2proxy = list(ip2proxy)
        pairs = [_split_list_spec(spec) for spec in ip_lists]
        if sources_dir is not None:
            found = _scan_dir(Path(sources_dir))
            anon_db = [*found["anon_db"], *anon_db]
            ip2proxy = [*found["ip2proxy"], *ip2proxy]
            tor_exits = [*found["tor_exits"], *tor_exits]
            cloud_ranges = [*found["cloud_ranges"], *cloud_ranges]
            pairs = [*found["ip_lists"], *pairs]
            if asn_list is None and found["asn_list"]:
                asn_list = found["asn_list"][0][1]
            skipped = [(str(f), why) for f, why in found.skipped]
        else:
            skipped = []
        if cache_dir is None and os.environ.get(ENV_CACHE_DIR):
            cache_dir = os.environ[ENV_CACHE_DIR]
        cache = Path(cache_dir) if cache_dir else None  # "": none
        slack = int(tor_slack.total_seconds())
        jobs: list[Callable[[], _Loaded | list[_Loaded]]] = [
            functools.partial(load_mmdb, p) for p in anon_db
        ]
        jobs += [functools.partial(load_ip2proxy, p) for p in ip2proxy]
        jobs += [
            functools.partial(
                _cached, cache, p, f"tor-{slack}", functools.partial(load_tor, slack=tor_slack)
            )
            for p in tor_exits
        ]
        jobs += [
            functools.partial(
                _cached, cache, p, f"list-{c}", functools.partial(load_ip_list, category=c)
            )
            for c, p in pairs
        ]
        jobs += [functools.partial(_cached, cache, p, "cloud", load_cloud) for p in cloud_ranges]
        if asn_list is not None:
            jobs.append(functools.partial(_cached, cache, asn_list, "asn", load_asn_list))
        if builtin:
            from loganalyzer.anonymity.builtin import load_builtin

            jobs.append(functools.partial(load_builtin, cache))
        loaded: list[_Loaded] = []
        for got in _run_in_order(jobs):
            loaded += got if isinstance(got, list) else [got]
        sources = cls(loaded, tor_slack=tor_slack, stale_days=stale_days, skipped=skipped)
        sources._cache = cache
        if sources.loaded:
            # The merged verdicts are needed once the first clients are looked up:
            # made meanwhile on another thread, largely while the lookups leave a
            # core idle (35 ms of a first run, made after those lookups before).
            pool = ThreadPoolExecutor(max_workers=1)
            sources._ahead = pool.submit(_make_merged, sources)
            pool.shutdown(wait=False)  # the thread ends with its one task
        return sources

    @property
    def infos(self) -> list[SourceInfo]:
        """What was loaded, for ``meta.sources``."""
        return [s.info for s in self.loaded]

    @property
    def needs_asn(self) -> bool:
        """Whether a source (the ASN list) needs each client's ASN."""
        return any(s.asns is not None for s in self.loaded)

    @property
    def dated(self) -> bool:
        """Whether a verdict can depend on when a client came (Tor exits with measured times)."""
        return any(
            s.exact is not None and s.exact["valid_from"].is_not_null().any() for s in self.loaded
        )

    def __bool__(self) -> bool:
        return bool(self.loaded)


def _run_in_order(
    jobs: Sequence[Callable[[], _Loaded | list[_Loaded]]],
) -> list[_Loaded | list[_Loaded]]:
    """Every job's result in order, two at a time; the first failing job's error is raised.

    Sources are read before the log, while the second core waits: parsing the
    benchmark's lists (Polars, hashing and file reads release the GIL) took
    0.1 s on one thread, most of what a first run with sources costs more.
    """
    if len(jobs) < 2:
        return [job() for job in jobs]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(job) for job in jobs]
        try:
            return [future.result() for future in futures]
        finally:
            for future in futures:
                future.cancel()  # after an error, what has not started does not


def _split_list_spec(spec: str | tuple[str | None, str | Path]) -> tuple[str | None, str | Path]:
    if isinstance(spec, tuple):
        return spec
    category, sep, path = spec.partition("=")
    if sep and category.strip().replace("_", "").replace("-", "").isalpha():
        return category, path
    return None, spec


def _merged(sources: AnonymizerSources) -> pl.DataFrame | None:
    """The verdict of every piece of address space, when only lists and undated exits judge.

    Every boundary of every list cuts the address space into pieces in which
    each address has the same hits, so the same verdict: made once per run
    (``start``, ``end`` and the verdict columns, pieces without hits left
    out), a chunk of clients then needs one join instead of one per source
    and the ranking (tally.py judges 25,000 clients at a time). None when
    another kind of source (an MMDB, an ASN list, measured exit times) is
    loaded: those judge each client with more than its address.
    """
    ahead, sources._ahead = sources._ahead, None
    if ahead is not None:
        ahead.result()  # made on another thread since the sources were loaded
    return _make_merged(sources)


def _make_merged(sources: AnonymizerSources) -> pl.DataFrame | None:
    """:func:`_merged` itself, without waiting for one made ahead."""
    made_of = tuple(id(s) for s in sources.loaded)
    if sources._merged is not None and sources._merged[0] == made_of:
        return sources._merged[1]
    ranges = [s.ranges for s in sources.loaded if s.ranges is not None]
    exact = [s.exact for s in sources.loaded if s.exact is not None]
    if not sources.loaded or len(ranges) + len(exact) < len(sources.loaded) or sources.dated:
        return None
    kept = _merged_entry(sources)
    if kept is not None and kept.is_file():
        try:
            os.utime(kept)  # in use: not pruned
            sources._merged = (made_of, pl.read_parquet(kept))
            return sources._merged[1]
        except (OSError, pl.exceptions.PolarsError):
            pass  # a damaged entry is made again below
    spans = [r.select("start", "end") for r in ranges]
    spans += [e.select(pl.col(_KEY).alias("start"), pl.col(_KEY).alias("end")) for e in exact]
    top = pl.lit((1 << 128) - 1, pl.UInt128)
    cuts = pl.concat([s.select(pl.col("start").alias("p")) for s in spans] + [
        s.filter(pl.col("end") < top).select((pl.col("end") + 1).alias("p")) for s in spans
    ]).unique().sort("p")  # fmt: skip
    end = (pl.col("p").shift(-1) - 1).fill_null(top)
    pieces = cuts.select(pl.col("p").alias("start"), end.alias("end")).with_row_index(_RID)
    hits = [
        pieces.select(_RID, "start")
        .join_asof(r, on="start", strategy="backward")
        .filter(pl.col("start") <= pl.col("end"))
        .select(list(_HIT_SCHEMA))
        for r in ranges
    ]
    hits += [
        pieces.join(e, left_on="start", right_on=_KEY).select(list(_HIT_SCHEMA)) for e in exact
    ]
    verdicts = _verdicts(pl.concat(hits))
    merged = pieces.join(verdicts, on=_RID).drop(_RID).sort("start")
    sources._merged = (made_of, merged)
    if kept is not None:
        try:
            kept.parent.mkdir(parents=True, exist_ok=True)
            tmp = kept.with_suffix(f".{os.getpid()}.tmp")
            merged.write_parquet(tmp)
            os.replace(tmp, kept)
        except OSError:
            pass  # the cache only saves time
    return merged


def _merged_entry(sources: AnonymizerSources) -> Path | None:
    """Where the merged verdicts of these sources are kept, when every one came from the cache.

    Made from the lists, the verdicts of the benchmark's took 25-45 ms a run; read
    back, some 5. Only sources read from the cache have a key (their entries'
    names, in order): a first run, which parses its lists, writes none.
    """
    entries = [s.cached for s in sources.loaded]
    if sources._cache is None or None in entries:
        return None
    names = "\n".join(entry.name for entry in entries if entry is not None)
    key = hashlib.sha256(names.encode()).hexdigest()
    return sources._cache / _MERGED_DIR / f"{key}-v{_CACHE_FORMAT}.parquet"


def stale_sources(
    sources: AnonymizerSources,
    first: datetime | None,
    last: datetime | None,
    *,
    days: int | None = None,
) -> list[str]:
    """Warnings for sources whose data is far from the log's time range.

    A Tor list from today says little about a log from last year, and one from
    last year little about today's log.

    Args:
        sources: the loaded sources.
        first: the log's first request in the report.
        last: the log's last request.
        days: how far the data may be from the log's time range (default: what
            the sources were loaded with).

    Returns:
        One warning per source too far away.
    """
    if first is None or last is None:
        return []
    days = sources.stale_days if days is None else days
    out = []
    for info in sources.infos:
        if info.package:
            continue  # said once for all of them, below
        if (warning := _stale(info.data_time, first, last, days)) is not None:
            out.append(f"{info.path}: {warning}")
    # The built-in lists come with a package, dated by their own versions (some
    # are serial numbers): one warning for all, from the newest dated one.
    packaged = [i for i in sources.infos if i.package]
    dated = [
        datetime.strptime(i.date, "%Y%m%d").replace(tzinfo=UTC)
        for i in packaged
        if i.date and re.fullmatch(r"20\d{6}", i.date)
    ]
    if dated and (warning := _stale(max(dated), first, last, days)) is not None:
        out.append(
            f"built-in lists ({packaged[0].package}): {warning}; "
            "upgrade the package or use sources update"
        )
    return out


def _stale(t: datetime, first: datetime, last: datetime, days: int) -> str | None:
    gap = first - t if t < first else t - last if t > last else timedelta(0)
    if gap <= timedelta(days=days):
        return None
    when = "before" if t < first else "after"
    return (
        f"its data ({t:%Y-%m-%d}) is {gap.days} days {when} the log's time range; "
        "its verdicts may not hold for these requests"
    )


def describe(mapping: Mapping[str, Any]) -> str:
    """One line about a source for ``loganalyzer sources info``."""
    cat = f" {mapping['category']}" if mapping.get("category") else ""
    if mapping.get("package"):
        return (
            f"{mapping['name']:13} {mapping['kind']}{cat}: {mapping['entries']:,} entries, "
            f"version {mapping['date']}, built in ({mapping['package']})"
        )
    date = f", data of {mapping['date']}" if mapping.get("date") else ""
    return (
        f"{mapping['name']:13} {mapping['kind']}{cat}: {mapping['entries']:,} entries{date}, "
        f"file {mapping['modified'][:10]}, sha256 {mapping['sha256'][:12]}  {mapping['path']}"
    )


__all__ = [
    "DEFAULT_STALE_DAYS",
    "AnonymizerSources",
    "stale_sources",
]
