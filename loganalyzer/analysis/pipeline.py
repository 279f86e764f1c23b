"""The whole analysis in one call: read -> parse -> reduce -> enrich -> aggregate.

Batches stream through parsing and are reduced to per-client partials at once,
so memory follows the number of distinct clients, not the size of the logs.
Enrichment then looks up each distinct client once.

Here are the calls (:func:`analyze`, :func:`analyze_views`) and the reduce side
of a report (:func:`finish_analysis`). The stages they run live beside it:
reading the inputs (:mod:`~loganalyzer.analysis.reading`), parsing and counting
them (:mod:`~loganalyzer.analysis.batches`, :mod:`~loganalyzer.analysis.counts`),
reducing to partials (:mod:`~loganalyzer.analysis.reduce`) and the ``meta``
block (:mod:`~loganalyzer.analysis.meta`); ``enrich`` is in
:mod:`~loganalyzer.analysis.enrich_logs`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import IO, Any

import polars as pl

from loganalyzer import schema as S
from loganalyzer.analysis.aggregate import (
    Grouping,
    mark_watched,
    resolve_grouping,
    summarize,
    summarize_groups,
    top,
)
from loganalyzer.analysis.batches import _parsed_batches
from loganalyzer.analysis.counts import LineCounter, RejectWriter
from loganalyzer.analysis.empty import note_nothing_matched
from loganalyzer.analysis.filters import Filter, combine, parse_filter
from loganalyzer.analysis.meta import _meta
from loganalyzer.analysis.reduce import ScanPlan, _utc, reduce_batches_by
from loganalyzer.analysis.tally import Tally, can_tally
from loganalyzer.anonymity.builtin import needs_sources
from loganalyzer.anonymity.sources import AnonymizerSources, stale_sources
from loganalyzer.anonymity.verdict import classify
from loganalyzer.errors import InputError, SourceError, TruncatedInputError, UsageError
from loganalyzer.geo.databases import GeoDatabases
from loganalyzer.geo.enrich import lookup
from loganalyzer.ingest.formats import LogFormat
from loganalyzer.ingest.parse import ParseOptions
from loganalyzer.ingest.prefetch import prefetch
from loganalyzer.ingest.presets import AUTO, get_format
from loganalyzer.ingest.read import InputFile, ReadFault, expand_inputs


@dataclass(frozen=True)
class SamplePaths:
    """The bundled sample log and its invented sample databases."""

    log: Path
    city_db: Path
    asn_db: Path


def sample_paths() -> SamplePaths:
    """Where the bundled sample lives (used by ``report --sample`` and the docs)."""
    base = Path(str(resources.files("loganalyzer") / "sample"))
    return SamplePaths(base / "access.log", base / "sample-City.mmdb", base / "sample-ASN.mmdb")


@dataclass(frozen=True)
class Analysis:
    """A finished report: its rows and everything needed to reproduce it.

    Attributes:
        rows: the report rows (see :func:`loganalyzer.analysis.aggregate.summarize`).
        meta: provenance and counts, the ``meta`` object of the JSON output.
        faults: inputs that broke part-way (already counted up to the break).
    """

    rows: pl.DataFrame
    meta: dict[str, Any]
    faults: tuple[ReadFault, ...] = ()


def geo_fields(
    plan: ScanPlan, filters: Sequence[Filter], sources: AnonymizerSources | None = None
) -> set[str]:
    """The enrichment columns a report needs (keys, filters, and the ASN list's ASN)."""
    wanted = {k for k in plan.grouping.geo_keys if k in S.GEO_SCHEMA}
    wanted |= {f.column for f in filters if not f.on_rows and f.column in S.GEO_SCHEMA}
    if sources and sources.needs_asn:
        wanted |= {S.ASN, S.AS_ORG}
    return wanted - {S.CLIENT}


def finish_analysis(
    merged: pl.DataFrame,
    *,
    counter: LineCounter,
    faults: Sequence[ReadFault],
    plan: ScanPlan,
    filters: Sequence[Filter],
    dbs: GeoDatabases | None,
    lang: str = "en",
    watch: Sequence[str] = (),
    top_n: int | None = None,
    table: pl.DataFrame | None = None,
    sources: AnonymizerSources | None = None,
) -> Analysis:
    """The reduce side: enrich the merged partials, group, watch, and describe.

    Args:
        merged: the merged partials of every input.
        counter: line counts of every input.
        faults: inputs that broke part-way.
        plan: the scan's plan (grouping, time window, row filters).
        filters: every filter (those on enrichment columns apply here).
        dbs: the databases (only their descriptions when ``table`` is given).
        lang: language of place names.
        watch: codes always shown and marked.
        top_n: keep the first N rows.
        table: the clients' lookup table when already made (a cluster's
            workers look up their own clients); looked up here otherwise.
        sources: anonymizer sources; the verdict is made here, from the merged
            partials, so each client's first and last request are global.
    """
    if table is None:
        assert dbs is not None
        fields = geo_fields(plan, filters, sources)
        table = lookup(merged[S.CLIENT], dbs, fields=fields, lang=lang)
    table = _judged_table(table, merged, filters, sources)
    return _described(
        _summarized(merged, table, plan.grouping),
        counter=counter,
        faults=faults,
        plan=plan,
        filters=filters,
        dbs=dbs,
        watch=watch,
        top_n=top_n,
        sources=sources,
    )


def _judged_table(
    table: pl.DataFrame,
    merged: pl.DataFrame,
    filters: Sequence[Filter],
    sources: AnonymizerSources | None,
) -> pl.DataFrame:
    """The lookup table with the anonymizer verdicts, filtered on enrichment columns."""
    if sources:
        table = _classify_clients(table, merged, sources)
    geo_cond = combine([f for f in filters if not f.on_rows])
    if geo_cond is not None:
        table = table.filter(geo_cond)
    return table


def _summarized(merged: pl.DataFrame, table: pl.DataFrame, grouping: Grouping) -> pl.DataFrame:
    """Group enriched partials by the report's keys.

    ``merged`` may carry more row keys than the grouping (per hour when the
    view is per region): the grouping sums over them, and distinct clients stay
    exact because each partial row belongs to one client.
    """
    enriched = merged.lazy().join(table.lazy(), on=S.CLIENT, how="inner")
    return summarize(enriched, grouping)


def _described(
    rows_out: pl.DataFrame,
    *,
    counter: LineCounter,
    faults: Sequence[ReadFault],
    plan: ScanPlan,
    filters: Sequence[Filter],
    dbs: GeoDatabases | None,
    watch: Sequence[str],
    top_n: int | None,
    sources: AnonymizerSources | None,
) -> Analysis:
    """Mark watched rows, keep the top, and describe the report's rows."""
    grouping = plan.grouping
    matched = int(rows_out[S.REQUESTS].sum()) if rows_out.height else 0
    first = rows_out[S.FIRST_SEEN].min() if rows_out.height else None
    last = rows_out[S.LAST_SEEN].max() if rows_out.height else None
    rows_total = rows_out.height
    if watch:
        rows_out = mark_watched(rows_out, watch)
    rows_out = top(rows_out, top_n)
    meta = _meta(
        counter=counter,
        dbs=dbs,
        grouping=grouping,
        filters=filters,
        since=plan.since,
        until=plan.until,
        matched=matched,
        first=first if isinstance(first, datetime) else None,
        last=last if isinstance(last, datetime) else None,
        watch=watch,
        top_n=top_n,
        rows_total=rows_total,
        sources=sources,
    )
    if sources:
        meta["warnings"] += stale_sources(sources, _as_datetime(first), _as_datetime(last))
    return Analysis(rows=rows_out, meta=meta, faults=tuple(faults))


def prepare(
    paths: Sequence[str | Path],
    log_format: str | LogFormat,
    by: Sequence[str],
    where: Sequence[str | Filter],
    since: datetime | None,
    until: datetime | None,
    dbs: GeoDatabases | None,
    city_db: str | Path | None,
    asn_db: str | Path | None,
    geoip_dir: str | Path | None,
    sources: AnonymizerSources | None,
    parse_options: ParseOptions | None = None,
    tz: str = "UTC",
) -> tuple[list[InputFile], ScanPlan, list[Filter], GeoDatabases]:
    """Check a report's arguments and plan it, before any log is read.

    Shared by :func:`analyze` and the cluster backend so that both refuse the
    same things with the same messages.
    """
    fmt = None if log_format == AUTO else get_format(log_format)
    inputs = expand_inputs(paths, keep_going=bool(parse_options and parse_options.skip_bad_files))
    grouping = resolve_grouping(by, tz=tz)
    filters = [f if isinstance(f, Filter) else parse_filter(f) for f in where]
    row_filters = [f for f in filters if f.on_rows]
    geo_filters = [f for f in filters if not f.on_rows]
    anon_filters = [f for f in geo_filters if f.column in S.ANON_KEY_COLUMNS]
    geo_filters = [f for f in geo_filters if f.column not in S.ANON_KEY_COLUMNS]
    needs_geo = grouping.needs_geo or any(f.column != S.CLIENT_IP for f in geo_filters)
    if (grouping.needs_anonymizers or anon_filters) and not sources:
        raise UsageError(needs_sources())
    if dbs is None:
        dbs = GeoDatabases.open(city=city_db, asn=asn_db, geoip_dir=geoip_dir)
    if needs_geo and dbs.city is None and dbs.asn is None:
        dbs.require_city()
    if sources and sources.needs_asn and dbs.asn is None:
        raise SourceError(None, "--asn-list needs an ASN database: pass --asn-db FILE")
    plan = ScanPlan.make(fmt, grouping, row_filters, _utc(since), _utc(until), parse_options)
    return list(inputs), plan, filters, dbs


def analyze(
    paths: Sequence[str | Path],
    *,
    log_format: str | LogFormat = AUTO,
    parse_options: ParseOptions | None = None,
    by: Sequence[str] = ("region",),
    where: Sequence[str | Filter] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    watch: Sequence[str] = (),
    top_n: int | None = None,
    city_db: str | Path | None = None,
    asn_db: str | Path | None = None,
    geoip_dir: str | Path | None = None,
    dbs: GeoDatabases | None = None,
    lang: str = "en",
    rejects: IO[str] | None = None,
    max_bad_lines: int | None = None,
    on_bytes: Callable[[int], None] | None = None,
    sources: AnonymizerSources | None = None,
    tz: str = "UTC",
) -> Analysis:
    """Read, parse, enrich and aggregate logs into one report.

    Args:
        paths: log files, globs, or ``-`` for stdin; compressed files are fine.
        log_format: ``auto`` (detected per file), a preset (``combined``,
            ``nginx_main``, ``w3c``...), ``apache:<LogFormat>``, ``nginx:<log_format>``
            or ``json:<column=path,...>``.
        parse_options: ``--assume-tz``, ``--client-ip`` and ``--trusted-proxy``.
        by: grouping names or columns (``region``, ``asn``, ``path``, ``day``...).
        where: filters such as ``region_iso=CN-LN`` or ``client_ip=175.167.0.0/16``.
        since: keep requests at or after this time (naive times are UTC).
        until: keep requests before this time.
        watch: country or subdivision codes always shown and marked.
        top_n: keep the first N rows (watched rows are always kept).
        city_db: a City or Country database.
        asn_db: an ASN database.
        geoip_dir: a folder of databases.
        dbs: already opened databases (instead of the three above).
        lang: language of place names.
        rejects: a text stream that receives rejected lines as JSON Lines.
        max_bad_lines: fail when more lines than this are rejected.
        on_bytes: progress callback, called with raw bytes consumed.
        sources: anonymizer sources (Tor, VPN, proxy, hosting, relay lists);
            with them, each client gets a verdict and the rows
            ``requests_direct``, ``requests_anonymized``,
            ``unique_ips_anonymized`` and ``requests_<category>``.
        tz: the IANA zone of the time buckets ``day``, ``hour``, ``minute`` and
            ``weekday`` (a day starts at that zone's midnight).

    Returns:
        The :class:`Analysis`.

    Raises:
        InputError: unreadable inputs, or a file none of whose lines parse.
        GeoDatabaseError: missing or wrong databases when the report needs them.
        SourceError: an ASN list without an ASN database.
        UsageError: bad ``by`` or ``where``, or grouping by anonymizer without sources.

    Example:
        >>> s = sample_paths()
        >>> a = analyze([s.log], city_db=s.city_db, asn_db=s.asn_db, watch=["CN-LN"])
        >>> a.rows.filter(a.rows["watched"])["region_iso"].to_list()
        ['CN-LN']
    """
    inputs, plan, filters, dbs = prepare(
        paths,
        log_format,
        by,
        where,
        since,
        until,
        dbs,
        city_db,
        asn_db,
        geoip_dir,
        sources,
        parse_options,
        tz,
    )
    counter = LineCounter()
    faults: list[ReadFault] = []
    # A report keyed by client alone, unfiltered, is summed per client as the
    # lines are read (the native scanner's reduce): no frame of every request.
    by_client = not plan.grouping.row_keys and not plan.row_filters
    by_client = by_client and plan.since is None and plan.until is None
    totals: Tally | None = None
    if by_client and can_tally(plan.grouping, sources):
        # Summed per row as they are read, each client looked up (and judged) once.
        geo_cond = combine([f for f in filters if not f.on_rows])
        fields = geo_fields(plan, filters, sources)
        totals = Tally(plan.grouping, dbs, fields, lang, geo_cond, sources)
    batches = _parsed_batches(
        inputs,
        plan.fmt,
        counter,
        faults,
        RejectWriter(rejects),
        on_bytes,
        max_bad_lines,
        plan.columns,
        plan.options,
        reduce_by=plan.grouping if by_client else None,
        tally=totals,
    )
    if totals is not None:
        for _ in batches:
            pass  # nothing is yielded: everything is summed into totals
        result = _described(
            summarize_groups(totals.rows(), plan.grouping),
            counter=counter,
            faults=faults,
            plan=plan,
            filters=filters,
            dbs=dbs,
            watch=watch,
            top_n=top_n,
            sources=sources,
        )
    else:
        # Parsing runs a batch ahead on its own thread while this one reduces the
        # last: Polars releases the GIL, and each stage's Python leaves a core idle.
        merged = reduce_batches_by(prefetch(batches), [plan], reduced=by_client)[0]
        result = finish_analysis(
            merged,
            counter=counter,
            faults=faults,
            plan=plan,
            filters=filters,
            dbs=dbs,
            lang=lang,
            watch=watch,
            top_n=top_n,
            sources=sources,
        )

    same_reading = functools.partial(
        analyze, log_format=log_format, parse_options=parse_options, dbs=dbs, sources=sources
    )
    note_nothing_matched(result.meta, paths, same_reading)
    return result


@dataclass(frozen=True)
class View:
    """One report of :func:`analyze_views`: what :func:`analyze` would be given.

    Attributes:
        by: grouping names or columns (``region``, ``asn``, ``path``, ``hour``...).
        watch: country or subdivision codes always shown and marked.
        top_n: keep the first N rows (watched rows are always kept).
    """

    by: tuple[str, ...]
    watch: tuple[str, ...] = ()
    top_n: int | None = None


def analyze_views(
    paths: Sequence[str | Path],
    views: Mapping[str, View],
    *,
    log_format: str | LogFormat = AUTO,
    parse_options: ParseOptions | None = None,
    where: Sequence[str | Filter] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    city_db: str | Path | None = None,
    asn_db: str | Path | None = None,
    geoip_dir: str | Path | None = None,
    dbs: GeoDatabases | None = None,
    lang: str = "en",
    rejects: IO[str] | None = None,
    max_bad_lines: int | None = None,
    on_bytes: Callable[[int], None] | None = None,
    sources: AnonymizerSources | None = None,
) -> dict[str, Analysis]:
    """Several reports from one read of the logs, each equal to its own :func:`analyze`.

    Views whose row keys (``hour``, ``path``, ``user_agent``...) one partial
    already holds are summarised from it: per-region rows come from the
    per-(client, hour) partials, and distinct clients stay exact because every
    partial row belongs to one client. Each other set of row keys gets its own
    partials, reduced from the same parsed batches (see :func:`reduce_batches_by`).
    Clients are looked up once per set of enrichment fields a view asks for, as
    :func:`analyze` would look them up, so even ``geo_status`` is the same.

    Args:
        paths: log files, globs, or ``-`` for stdin (read once).
        views: a name for each report and its :class:`View`.
        log_format: as for :func:`analyze`.
        parse_options: as for :func:`analyze`.
        where: as for :func:`analyze`, applied to every view.
        since: as for :func:`analyze`.
        until: as for :func:`analyze`.
        city_db: as for :func:`analyze`.
        asn_db: as for :func:`analyze`.
        geoip_dir: as for :func:`analyze`.
        dbs: as for :func:`analyze`.
        lang: as for :func:`analyze`.
        rejects: receives each rejected line once.
        max_bad_lines: as for :func:`analyze`.
        on_bytes: as for :func:`analyze`.
        sources: as for :func:`analyze`.

    Returns:
        ``{name: Analysis}`` in the order of ``views``.

    Raises:
        UsageError: no views, or a bad ``by`` or ``where``.
        InputError: as for :func:`analyze`.
        GeoDatabaseError: as for :func:`analyze`.

    Example:
        >>> s = sample_paths()
        >>> got = analyze_views([s.log], {"regions": View(("region",)), "hours": View(("hour",))},
        ...                     city_db=s.city_db, asn_db=s.asn_db)
        >>> got["regions"].rows.equals(analyze([s.log], city_db=s.city_db, asn_db=s.asn_db).rows)
        True
    """
    if not views:
        raise UsageError("analyze_views needs at least one view")
    names = [n for v in views.values() for n in v.by or ("region",)]
    inputs, base, filters, dbs = prepare(
        paths,
        log_format,
        names,
        where,
        since,
        until,
        dbs,
        city_db,
        asn_db,
        geoip_dir,
        sources,
        parse_options,
    )
    row_filters = [f for f in filters if f.on_rows]
    plans = {
        name: ScanPlan.make(
            base.fmt,
            resolve_grouping(v.by or ("region",)),
            row_filters,
            base.since,
            base.until,
            base.options,
        )
        for name, v in views.items()
    }
    # One partial per set of row keys that no other set contains.
    scans: list[ScanPlan] = []
    for plan in sorted(plans.values(), key=lambda p: -len(p.grouping.row_keys)):
        keys = set(plan.grouping.row_keys)
        if not any(keys <= set(s.grouping.row_keys) for s in scans):
            scans.append(plan)
    counter = LineCounter()
    faults: list[ReadFault] = []
    batches = _parsed_batches(
        inputs,
        base.fmt,
        counter,
        faults,
        RejectWriter(rejects),
        on_bytes,
        max_bad_lines,
        frozenset().union(*(s.columns for s in scans)),
        base.options,
    )
    merged_by_scan = reduce_batches_by(prefetch(batches), scans)  # as in analyze
    tables: dict[frozenset[str], pl.DataFrame] = {}
    out: dict[str, Analysis] = {}
    for name, view in views.items():
        plan = plans[name]
        keys = set(plan.grouping.row_keys)
        merged = min(
            (
                m
                for m, s in zip(merged_by_scan, scans, strict=True)
                if keys <= set(s.grouping.row_keys)
            ),
            key=lambda m: m.height,
        )
        fields = frozenset(geo_fields(plan, filters, sources))
        if fields not in tables:
            # Looked up with this view's fields only: a client found in the ASN
            # database alone is "ok" for a network view and "not_found" for a
            # province view, exactly as two analyze() calls would say.
            table = lookup(merged[S.CLIENT], dbs, fields=fields, lang=lang)
            tables[fields] = _judged_table(table, merged, filters, sources)
        out[name] = _described(
            _summarized(merged, tables[fields], plan.grouping),
            counter=counter,
            faults=faults,
            plan=plan,
            filters=filters,
            dbs=dbs,
            watch=view.watch,
            top_n=view.top_n,
            sources=sources,
        )

    # Read again at most once for every view: each asks the same question.
    same_reading = functools.cache(
        functools.partial(
            analyze, log_format=log_format, parse_options=parse_options, dbs=dbs, sources=sources
        )
    )
    for analysis in out.values():
        note_nothing_matched(analysis.meta, paths, same_reading)
    return out


def _as_datetime(value: object) -> datetime | None:
    """A datetime from a report column's min/max (None for an empty report)."""
    return value if isinstance(value, datetime) else None


def _classify_clients(
    table: pl.DataFrame, merged: pl.DataFrame, sources: AnonymizerSources
) -> pl.DataFrame:
    """Add the anonymizer verdict to the lookup table, one row per client.

    Each client's first and last request decide whether a time-windowed source
    (TorDNSEL) applies: an exit measured outside that span is not this client's.
    """
    seen = merged.group_by(S.CLIENT).agg(pl.col(S.FIRST_SEEN).min(), pl.col(S.LAST_SEEN).max())
    with_times = table.join(seen, on=S.CLIENT, how="left", maintain_order="left")
    return classify(with_times, sources).drop(S.FIRST_SEEN, S.LAST_SEEN)


def raise_for_faults(faults: Sequence[ReadFault]) -> None:
    """Raise the first read fault as an error (the CLI's default without --keep-going)."""
    if faults:
        f = faults[0]
        raise TruncatedInputError(f.source, f.line_no, f.problem)


__all__ = [
    "Analysis",
    "InputError",
    "SamplePaths",
    "View",
    "analyze",
    "analyze_views",
    "raise_for_faults",
    "sample_paths",
]
