"""Compare two periods: what is new, what is gone, what grew, per region, network or column.

Periods come either from one set of logs split at a time (``baseline_until``) or
from two sets of logs. Either way the logs are read once: the period is one more
row-level key of the per-client partials (see :mod:`loganalyzer.analysis.aggregate`), so
distinct clients are exact in each period and the lookup of each client is done
once for both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import polars as pl

from loganalyzer import schema as S
from loganalyzer.analysis.aggregate import (
    Grouping,
    resolve_grouping,
    summarize,
    top,
    watch_conditions,
)
from loganalyzer.analysis.batches import _parsed_batches
from loganalyzer.analysis.counts import LineCounter, RejectWriter
from loganalyzer.analysis.empty import asked_for
from loganalyzer.analysis.filters import Filter, combine, parse_filter
from loganalyzer.analysis.meta import _iso, _meta
from loganalyzer.analysis.pipeline import Analysis, _classify_clients, geo_fields
from loganalyzer.analysis.reduce import ScanPlan, _utc, reduce_batches
from loganalyzer.errors import UsageError
from loganalyzer.geo.databases import GeoDatabases
from loganalyzer.geo.enrich import lookup
from loganalyzer.ingest.formats import LogFormat
from loganalyzer.ingest.parse import ParseOptions
from loganalyzer.ingest.presets import AUTO, get_format
from loganalyzer.ingest.read import InputFile, ReadFault, expand_inputs

if TYPE_CHECKING:
    from loganalyzer.anonymity.sources import AnonymizerSources

PERIOD = "period"
BASELINE, CURRENT = "baseline", "current"

CHANGE = "change"
"""``new`` (absent from the baseline), ``gone`` (absent now), ``up`` / ``down`` (more /
fewer requests, so the word always agrees with the sign of ``requests_change``),
``same``, or ``none`` (a watched place seen in neither period). For periods of
different lengths, ``share_change`` says whether the place's part of all traffic
grew, in percentage points."""

COMPARE_STATS = (
    "requests_baseline",
    "requests_current",
    "requests_change",
    "requests_change_pct",
    "unique_ips_baseline",
    "unique_ips_current",
    "unique_ips_change",
    "share_baseline",
    "share_current",
    "share_change",
    CHANGE,
    S.FIRST_SEEN,
    S.LAST_SEEN,
)
"""The columns after the keys, in output order (then ``watched`` with a watch list)."""


def _pivot(summary: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    def side(label: str) -> pl.DataFrame:
        part = summary.filter(pl.col(PERIOD) == label)
        total = part[S.REQUESTS].sum() if part.height else 0
        return part.select(
            *keys,
            pl.col(S.REQUESTS).alias(f"requests_{label}"),
            pl.col(S.UNIQUE_IPS).alias(f"unique_ips_{label}"),
            (pl.col(S.REQUESTS) / total if total else pl.lit(0.0)).alias(f"share_{label}"),
            pl.col(S.FIRST_SEEN).alias(f"_first_{label}"),
            pl.col(S.LAST_SEEN).alias(f"_last_{label}"),
        )

    # Null keys (no province in the database) are a bucket of their own, in both periods.
    joined = side(BASELINE).join(
        side(CURRENT), on=keys, how="full", coalesce=True, nulls_equal=True
    )
    counts = [f"{s}_{p}" for s in ("requests", "unique_ips") for p in (BASELINE, CURRENT)]
    joined = joined.with_columns(
        [pl.col(c).fill_null(0) for c in counts]
        + [pl.col(f"share_{p}").fill_null(0.0) for p in (BASELINE, CURRENT)]
    )
    base, cur = pl.col("requests_baseline"), pl.col("requests_current")
    sb, sc = pl.col("share_baseline"), pl.col("share_current")
    change = (
        pl.when((base == 0) & (cur > 0))
        .then(pl.lit("new"))
        .when((base > 0) & (cur == 0))
        .then(pl.lit("gone"))
        .when(cur > base)
        .then(pl.lit("up"))
        .when(cur < base)
        .then(pl.lit("down"))
        .otherwise(pl.lit("same"))
    )
    return joined.with_columns(
        (cur - base).alias("requests_change"),
        pl.when(base > 0).then((cur - base) / base).alias("requests_change_pct"),
        (pl.col("unique_ips_current") - pl.col("unique_ips_baseline")).alias("unique_ips_change"),
        (100 * (sc - sb)).alias("share_change"),
        change.alias(CHANGE),
        pl.min_horizontal("_first_baseline", "_first_current").alias(S.FIRST_SEEN),
        pl.max_horizontal("_last_baseline", "_last_current").alias(S.LAST_SEEN),
    ).select(*keys, *COMPARE_STATS)


def mark_watched_changes(rows: pl.DataFrame, watch: Sequence[str]) -> pl.DataFrame:
    """Add ``watched``, and a ``none`` row for each watched place seen in neither period."""
    conds, missing = watch_conditions(
        rows,
        watch,
        province_hint="compare with --by region (or subregion)",
        country_hint="compare with --by country",
    )
    marked = rows.with_columns(
        (pl.any_horizontal(conds) if conds else pl.lit(False)).alias(S.WATCHED)
    )
    if not missing:
        return marked
    zero_counts = {c: 0 for c in COMPARE_STATS if c.startswith(("requests_", "unique_ips_"))}
    zeros = pl.DataFrame(
        [
            {
                **dict.fromkeys(marked.columns),
                **zero_counts,
                "requests_change_pct": None,
                "share_baseline": 0.0,
                "share_current": 0.0,
                "share_change": 0.0,
                CHANGE: "none",
                **({S.GEO_STATUS: "ok"} if S.GEO_STATUS in marked.columns else {}),
                **z,
                S.WATCHED: True,
            }
            for z in missing
        ],
        schema=marked.schema,
    )
    return pl.concat([marked, zeros])


def rank_changes(rows: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Sort what an analyst should look at first.

    Watched places that are new or gone first; then every row by the size of its
    change in requests, either way (a place that fell silent matters as much as
    one that appeared); watched places seen in neither period last. Ties go to
    the busier row now, then the keys.
    """
    watched = pl.col(S.WATCHED) if S.WATCHED in rows.columns else pl.lit(False)
    tier = (
        pl.when(pl.col(CHANGE).is_in(["new", "gone"]) & watched)
        .then(0)
        .when(pl.col(CHANGE) == "none")
        .then(2)
        .otherwise(1)
    )
    size = (pl.col("requests_current") - pl.col("requests_baseline")).abs()
    ranked = rows.with_columns(tier.alias("_tier"), size.alias("_size"))
    return ranked.sort(
        ["_tier", "_size", "requests_current", *keys],
        descending=[False, True, True, *([False] * len(keys))],
        nulls_last=True,
    ).drop("_tier", "_size")


def compare(
    paths: Sequence[str | Path] = (),
    *,
    baseline_until: datetime | None = None,
    baseline: Sequence[str | Path] = (),
    current: Sequence[str | Path] = (),
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
    """Compare a baseline period with the current one, per region, network or column.

    Give either ``paths`` and ``baseline_until`` (requests before that time are the
    baseline, the rest current), or ``baseline`` and ``current`` log sets.

    Args:
        paths: logs split at ``baseline_until``.
        baseline_until: the end of the baseline (naive times are UTC).
        baseline: logs of the baseline period.
        current: logs of the current period.
        log_format: the logs' format (``auto``: detected per file).
        parse_options: ``--assume-tz``, ``--client-ip`` and ``--trusted-proxy``.
        by: grouping, as for :func:`loganalyzer.analyze`.
        where: filters, as for :func:`loganalyzer.analyze`.
        since: ignore requests before this time.
        until: ignore requests at or after this time.
        watch: country or province codes ranked first when new, always shown.
        top_n: keep the first N rows (watched rows always kept).
        city_db: a City or Country database.
        asn_db: an ASN database.
        geoip_dir: a folder of databases.
        dbs: already opened databases.
        lang: the language of names.
        rejects: receives rejected lines as JSON Lines.
        max_bad_lines: fail when more lines than this are rejected.
        on_bytes: progress callback.
        sources: anonymizer sources, for ``--by anonymizer`` / ``provider``: which
            anonymizer providers are new or gone.
        tz: the IANA zone of time buckets (``--by day``, ``hour``, ``weekday``).

    Returns:
        An :class:`~loganalyzer.analysis.pipeline.Analysis` whose rows are the keys and
        :data:`COMPARE_STATS`, ranked by :func:`rank_changes`; ``meta.periods``
        gives each period's requests, files and time range.

    Raises:
        UsageError: neither or both ways of giving periods; bad ``by``/``where``.
        InputError: unreadable logs.
        GeoDatabaseError: missing or wrong databases.

    Example:
        >>> from loganalyzer import sample_paths
        >>> s = sample_paths()
        >>> c = compare([s.log], baseline_until=datetime(2026, 9, 16), by=["asn"],
        ...             city_db=s.city_db, asn_db=s.asn_db)
        >>> first = c.rows.row(0, named=True)  # the biggest change, either way
        >>> first["asn"], first["change"], first["requests_change"]
        (4837, 'down', -71)
    """
    split = baseline_until is not None
    if split == bool(baseline or current) or (split and not paths):
        raise UsageError("give LOGS with --baseline-until, or --baseline LOG... --current LOG...")
    if not split and not (baseline and current):
        raise UsageError("--baseline and --current both need logs")
    if not split and paths:
        raise UsageError("with --baseline and --current, give no other logs")
    fmt = None if log_format == AUTO else get_format(log_format)
    grouping = resolve_grouping(by, tz=tz)
    filters = [f if isinstance(f, Filter) else parse_filter(f) for f in where]
    row_filters = [f for f in filters if f.on_rows]
    geo_filters = [f for f in filters if not f.on_rows]
    if dbs is None:
        dbs = GeoDatabases.open(city=city_db, asn=asn_db, geoip_dir=geoip_dir)
    needs_geo = grouping.needs_geo or any(f.column != S.CLIENT_IP for f in geo_filters)
    if needs_geo and dbs.city is None and dbs.asn is None:
        dbs.require_city()
    anon_filters = [f for f in geo_filters if f.column in S.ANON_KEY_COLUMNS]
    if (grouping.needs_anonymizers or anon_filters) and not sources:
        from loganalyzer.anonymity.builtin import needs_sources

        raise UsageError(needs_sources())
    since, until, cut = _utc(since), _utc(until), _utc(baseline_until)
    period_grouping = Grouping(
        grouping.names,
        (*grouping.keys, PERIOD),
        (*grouping.row_keys, PERIOD),
        grouping.geo_keys,
        grouping.tz,
    )
    plan = ScanPlan.make(fmt, period_grouping, row_filters, since, until, parse_options)
    sets: list[tuple[list[InputFile], pl.Expr]]
    keep_going = bool(parse_options and parse_options.skip_bad_files)
    if split:
        by_time = pl.when(pl.col(S.TS) < cut).then(pl.lit(BASELINE)).otherwise(pl.lit(CURRENT))
        sets = [(expand_inputs(paths, keep_going=keep_going), by_time)]
    else:
        sets = [
            (expand_inputs(baseline, keep_going=keep_going), pl.lit(BASELINE)),
            (expand_inputs(current, keep_going=keep_going), pl.lit(CURRENT)),
        ]
    counter = LineCounter()
    faults: list[ReadFault] = []
    writer = RejectWriter(rejects)

    def batches() -> Iterator[pl.DataFrame]:
        for inputs, period in sets:
            for rows in _parsed_batches(
                inputs,
                fmt,
                counter,
                faults,
                writer,
                on_bytes,
                max_bad_lines,
                plan.columns,
                plan.options,
            ):
                yield rows.with_columns(period.alias(PERIOD))
        # Logs with no lines still give a partial with the period column.
        yield pl.DataFrame(schema={**S.PARSED_SCHEMA, PERIOD: pl.String()})

    merged = reduce_batches(batches(), plan)
    table = lookup(merged[S.CLIENT], dbs, fields=geo_fields(plan, filters, sources), lang=lang)
    if sources:
        # A client's verdict is one for both periods: its first and last request overall.
        table = _classify_clients(table, merged, sources)
    geo_cond = combine(geo_filters)
    if geo_cond is not None:
        table = table.filter(geo_cond)
    enriched = merged.lazy().join(table.lazy(), on=S.CLIENT, how="inner")
    summary = summarize(enriched, period_grouping)
    keys = list(grouping.keys)
    rows_out = _pivot(summary, keys)
    if watch:
        rows_out = mark_watched_changes(rows_out, watch)
    rows_out = rank_changes(rows_out, keys)
    rows_total = rows_out.height
    rows_out = top(rows_out, top_n)
    periods: dict[str, Any] = {}
    for label in (BASELINE, CURRENT):
        part = summary.filter(pl.col(PERIOD) == label)
        periods[label] = {
            "requests": int(part[S.REQUESTS].sum()) if part.height else 0,
            "time_range": {
                "first": _iso(part[S.FIRST_SEEN].min()) if part.height else None,  # type: ignore[arg-type]
                "last": _iso(part[S.LAST_SEEN].max()) if part.height else None,  # type: ignore[arg-type]
            },
        }
    if split:
        periods[BASELINE]["until"] = _iso(cut)
        periods[CURRENT]["from"] = _iso(cut)
    else:
        periods[BASELINE]["files"] = [i.name for i in sets[0][0]]
        periods[CURRENT]["files"] = [i.name for i in sets[1][0]]
    first = summary[S.FIRST_SEEN].min() if summary.height else None
    last = summary[S.LAST_SEEN].max() if summary.height else None
    meta = _meta(
        counter=counter,
        dbs=dbs,
        grouping=grouping,
        filters=filters,
        since=since,
        until=until,
        matched=periods[BASELINE]["requests"] + periods[CURRENT]["requests"],
        first=first if isinstance(first, datetime) else None,
        last=last if isinstance(last, datetime) else None,
        watch=watch,
        top_n=top_n,
        rows_total=rows_total,
        sources=sources,
    )
    meta["periods"] = periods
    meta["nothing_matched"] = _empty_period(meta, periods, split)
    return Analysis(rows=rows_out, meta=meta, faults=tuple(faults))


def _empty_period(
    meta: dict[str, Any], periods: dict[str, Any], split: bool
) -> dict[str, Any] | bool:
    """What ``meta.nothing_matched`` says of a comparison: a period with no request.

    Every place would read as "gone" (or "new"), which is a finding only if the
    period really was quiet; the other period's time range shows what the logs do
    cover.
    """
    if not meta["lines"]["parsed"]:
        return False
    for label, other in ((CURRENT, BASELINE), (BASELINE, CURRENT)):
        if periods[label]["requests"] == 0:
            bound = (
                [f"--baseline-until {periods[BASELINE]['until']}"]
                if split
                else [f"--{label} {' '.join(periods[label]['files'])}"]
            )
            return {
                "asked": [*bound, *asked_for(meta)],
                "period": label,
                "log_time_range": dict(periods[other]["time_range"]),
            }
    return False


__all__ = [
    "BASELINE",
    "CHANGE",
    "COMPARE_STATS",
    "CURRENT",
    "compare",
    "mark_watched_changes",
    "rank_changes",
]
