"""Aggregation: requests, distinct clients and bytes per region, network or column.

Work is split so that it can stream and merge exactly: each batch of requests is
reduced to *partials* keyed by (client, row-level keys); partials from any split
of the input merge by sum/min/max; only then are clients joined to their geo
lookup and grouped by the report's keys, where distinct clients are counted
exactly (a client is one row per key after the merge).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from loganalyzer import schema as S
from loganalyzer.errors import UsageError
from loganalyzer.geo.places import check_place, place_name

DAY = "day"
HOUR = "hour"
MINUTE = "minute"
WEEKDAY = "weekday"
TIME_KEYS = (DAY, HOUR, MINUTE, WEEKDAY)
"""Keys that are time buckets, in the report's zone: rows sort by time, not by requests."""

GROUPINGS: dict[str, tuple[str, ...]] = {
    "country": (S.COUNTRY_ISO, S.COUNTRY),
    "region": (S.COUNTRY_ISO, S.COUNTRY, S.REGION_ISO, S.REGION),
    "subregion": (S.COUNTRY_ISO, S.COUNTRY, S.REGION_ISO, S.REGION, S.SUBREGION_ISO, S.SUBREGION),
    "city": (S.COUNTRY_ISO, S.COUNTRY, S.REGION_ISO, S.REGION, S.CITY),
    "asn": (S.ASN, S.AS_ORG),
    "ip": (S.CLIENT_IP,),
    "anonymizer": (S.ANONYMIZER, S.ANONYMIZER_CONFIDENCE),
    "provider": (S.ANONYMIZER, S.ANONYMIZER_PROVIDER),
    "actor_type": (S.ACTOR_TYPE,),
}
"""Named groupings for ``--by``; any parsed or enriched column works as well."""

_ALIASES = {"province": "region", "network": "asn", "client_ip": "ip", "agent": S.USER_AGENT}
_DERIVED: dict[str, str] = {DAY: "1d", HOUR: "1h", MINUTE: "1m", WEEKDAY: ""}
"""Time buckets: the truncation of each (a weekday is ISO's number, Monday 1)."""


def _derived(name: str, tz: str) -> pl.Expr:
    """A time bucket of each request's time, in ``tz`` (a day starts at its midnight)."""
    ts = pl.col(S.TS) if tz == "UTC" else pl.col(S.TS).dt.convert_time_zone(tz)
    if name == WEEKDAY:
        return ts.dt.weekday().alias(WEEKDAY)
    return ts.dt.truncate(_DERIVED[name]).alias(name)


ROW_COLUMNS = frozenset(S.PARSED_SCHEMA) | frozenset(_DERIVED)
ANON_COLUMNS = frozenset(S.ANON_KEY_COLUMNS)
GEO_COLUMNS = frozenset(S.GEO_COLUMNS) | ANON_COLUMNS
# Keys that need no geo database: the address itself and the anonymizer verdict.
_NO_GEO = frozenset((S.CLIENT_IP, S.IP_VERSION, S.IP_CLASS)) | ANON_COLUMNS


@dataclass(frozen=True)
class Grouping:
    """The resolved keys of a report.

    Attributes:
        names: the ``--by`` values as given.
        keys: every key column, in output order.
        row_keys: keys computed from the request itself (path, status, day, ...).
        geo_keys: keys that come from the client's enrichment.
        tz: the IANA zone of the time buckets (``day``, ``hour``, ``weekday``).
    """

    names: tuple[str, ...]
    keys: tuple[str, ...]
    row_keys: tuple[str, ...]
    geo_keys: tuple[str, ...]
    tz: str = "UTC"

    @property
    def needs_geo(self) -> bool:
        """Whether any key comes from a database lookup."""
        return any(k not in _NO_GEO for k in self.geo_keys)

    @property
    def needs_anonymizers(self) -> bool:
        """Whether any key is an anonymizer verdict column."""
        return any(k in ANON_COLUMNS for k in self.geo_keys)


def resolve_grouping(by: Sequence[str], *, tz: str = "UTC") -> Grouping:
    """Turn ``--by`` values into key columns.

    Args:
        by: names from :data:`GROUPINGS` or column names (``path``, ``status``,
            ``day``, ``hour``, ``asn``, ``region_iso``, ...). Several are combined.
        tz: the IANA zone the time buckets are counted in.

    Raises:
        UsageError: for an unknown name or zone.

    Example:
        >>> resolve_grouping(["region", "asn"]).keys
        ('geo_status', 'country_iso', 'country', 'region_iso', 'region', 'asn', 'as_org')
    """
    keys: list[str] = []
    for raw in by or ("region",):
        name = _ALIASES.get(raw, raw)
        if name in GROUPINGS:
            cols: Iterable[str] = GROUPINGS[name]
        elif name in ROW_COLUMNS or name in GEO_COLUMNS:
            cols = (name,)
        else:
            choices = ", ".join([*GROUPINGS, "or a column such as path, status, day, hour"])
            raise UsageError(f"cannot group by {raw!r}; use {choices}")
        keys.extend(c for c in cols if c not in keys)
    geo = [k for k in keys if k in GEO_COLUMNS]
    if any(k not in _NO_GEO for k in geo) and S.GEO_STATUS not in keys:
        # Private, unknown and invalid addresses stay visible as their own rows.
        keys.insert(0, S.GEO_STATUS)
        geo.insert(0, S.GEO_STATUS)
    row = [k for k in keys if k in ROW_COLUMNS]
    return Grouping(tuple(by or ("region",)), tuple(keys), tuple(row), tuple(geo), check_zone(tz))


def check_zone(tz: str) -> str:
    """``tz`` if it names an IANA zone, else a usage error.

    Example:
        >>> check_zone("Asia/Shanghai")
        'Asia/Shanghai'
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"--tz {tz!r} is not a known time zone (e.g. UTC, Asia/Shanghai, Europe/Madrid)"
        ) from None
    return tz


def _status_counts() -> list[pl.Expr]:
    klass = pl.col(S.STATUS) // 100
    names = S.STATUS_CLASSES
    exprs = [(klass == i).sum().cast(pl.Int64).alias(names[i - 2]) for i in (2, 3, 4, 5)]
    other = (~klass.is_between(2, 5) | klass.is_null()).sum().cast(pl.Int64)
    return [*exprs, other.alias(names[4])]


def partials(rows: pl.LazyFrame, grouping: Grouping) -> pl.LazyFrame:
    """Reduce requests to mergeable partials keyed by client and row-level keys.

    Args:
        rows: parsed requests.
        grouping: the report's keys.

    Returns:
        ``client``, the row keys, ``requests``, ``bytes_sent``, ``first_seen``,
        ``last_seen`` and the status-class counts.
    """
    derived = [_derived(k, grouping.tz) for k in grouping.row_keys if k in _DERIVED]
    keyed = rows.with_columns(derived) if derived else rows
    return keyed.group_by([S.CLIENT, *grouping.row_keys]).agg(
        pl.len().cast(pl.Int64).alias(S.REQUESTS),
        bytes_total().alias(S.BYTES),
        pl.col(S.TS).min().alias(S.FIRST_SEEN),
        pl.col(S.TS).max().alias(S.LAST_SEEN),
        *_status_counts(),
    )


_SUMS = (S.REQUESTS, S.BYTES, *S.STATUS_CLASSES)
_INT64_MAX = 2**63 - 1


def bytes_total(column: str = S.BYTES) -> pl.Expr:
    """The sum of a byte column, stopping at the largest Int64 instead of wrapping.

    Byte counts are attacker-controlled digits: a few lines of 2^48 bytes (the
    most a count may say) would otherwise add up to a negative total. Summed as
    Int128, as the native reducer saturates.
    """
    return pl.col(column).cast(pl.Int128).sum().clip(upper_bound=_INT64_MAX).cast(pl.Int64)


def merge_partials(
    parts: Sequence[pl.DataFrame] | pl.LazyFrame, keys: Sequence[str]
) -> pl.LazyFrame:
    """Merge partials from any split of the input into one partial.

    Args:
        parts: partial frames (or one lazy frame of them stacked).
        keys: the columns that identify a partial (``client`` and row keys).
    """
    stacked = parts if isinstance(parts, pl.LazyFrame) else pl.concat(parts, how="vertical").lazy()
    merged = stacked.group_by(list(keys)).agg(
        *[bytes_total(c) if c == S.BYTES else pl.col(c).sum() for c in _SUMS],
        pl.col(S.FIRST_SEEN).min(),
        pl.col(S.LAST_SEEN).max(),
    )
    # The same column order as the partials, so a merged frame can be stacked with
    # newer partials and merged again (streaming compaction, follow mode).
    return merged.select(stacked.collect_schema().names())


def summarize(enriched_partials: pl.LazyFrame, grouping: Grouping) -> pl.DataFrame:
    """Group enriched partials by the report's keys.

    Args:
        enriched_partials: partials joined with the client lookup table.
        grouping: the report's keys.

    Returns:
        One row per key: the keys, ``requests``, ``unique_ips``, ``bytes_sent``,
        ``share``, ``first_seen``, ``last_seen``, status-class counts; sorted by
        time for time keys (``day``, ``hour``, ``minute``), then by requests
        (descending), then the other keys. When the partials carry the
        anonymizer verdict, also ``requests_direct`` (not listed by any source,
        which is not proof of a direct user), ``requests_anonymized`` and
        ``unique_ips_anonymized`` (requests and clients some source lists) and
        ``requests_<category>`` for each category.
    """
    # A client that is not an address still counts once, by what was written.
    who = pl.coalesce(pl.col(S.CLIENT_IP), pl.col(S.CLIENT))
    keys = list(grouping.keys)
    anon: list[pl.Expr] = []
    verdict: list[str] = []
    schema = enriched_partials.collect_schema()
    if S.ANONYMIZER in schema:
        anon = [
            *_verdict_requests(),
            who.filter(_LISTED).n_unique().cast(pl.Int64).alias(S.UNIQUE_IPS_ANONYMIZED),
        ]
        if S.CLIENT_IP in keys:
            # One address per row: its verdict and evidence, so --by ip is the
            # per-address evidence table (the evidence a list; CSV joins it).
            verdict = [c for c in S.ANON_SCHEMA if c in schema and c not in keys]
            anon += [pl.col(c).first().alias(c) for c in verdict]
    grouped = enriched_partials.group_by(keys).agg(
        pl.col(S.REQUESTS).sum(),
        who.n_unique().cast(pl.Int64).alias(S.UNIQUE_IPS),
        bytes_total(),
        pl.col(S.FIRST_SEEN).min(),
        pl.col(S.LAST_SEEN).max(),
        *[pl.col(c).sum() for c in S.STATUS_CLASSES],
        *anon,
    )
    return _report_rows(grouped, keys, [*verdict, *(S.ANON_COUNT_COLUMNS if anon else ())])


# A client some source lists (none_known is no listing; null, no address).
_LISTED = pl.col(S.ANONYMIZER).is_not_null() & (pl.col(S.ANONYMIZER) != S.NONE_KNOWN)


def _verdict_requests() -> list[pl.Expr]:
    """Requests direct, anonymized, per category and per actor type, from rows with a verdict."""
    requests, verdict = pl.col(S.REQUESTS), pl.col(S.ANONYMIZER)
    actor = pl.col(S.ACTOR_TYPE)
    return [
        requests.filter(~_LISTED.fill_null(False)).sum().cast(pl.Int64).alias(S.REQUESTS_DIRECT),
        requests.filter(_LISTED).sum().cast(pl.Int64).alias(S.REQUESTS_ANONYMIZED),
        *[
            requests.filter(verdict == cat).sum().cast(pl.Int64).alias(name)
            for cat, name in S.CATEGORY_REQUESTS.items()
        ],
        *[
            requests.filter(actor == kind).sum().cast(pl.Int64).alias(name)
            for kind, name in S.ACTOR_REQUESTS.items()
        ],
    ]


def summarize_groups(groups: pl.DataFrame, grouping: Grouping) -> pl.DataFrame:
    """Report rows from sums made per group already (see :mod:`loganalyzer.analysis.tally`).

    Args:
        groups: one row per key: the keys, ``requests``, ``unique_ips``,
            ``bytes_sent``, ``first_seen``, ``last_seen`` and the status classes;
            with anonymizer sources, one row per key and ``anonymizer`` verdict
            (each client has one verdict, so distinct clients add up).
        grouping: the report's keys.

    Returns:
        What :func:`summarize` returns for the same requests.
    """
    keys = list(grouping.keys)
    if S.ANONYMIZER not in groups.columns:
        return _report_rows(groups.lazy(), keys, [])
    grouped = (
        groups.lazy()
        .group_by(keys)
        .agg(
            pl.col(S.REQUESTS, S.UNIQUE_IPS, *S.STATUS_CLASSES).sum(),
            bytes_total(),
            pl.col(S.FIRST_SEEN).min(),
            pl.col(S.LAST_SEEN).max(),
            *_verdict_requests(),
            pl.col(S.UNIQUE_IPS)
            .filter(_LISTED)
            .sum()
            .cast(pl.Int64)
            .alias(S.UNIQUE_IPS_ANONYMIZED),
        )
    )
    return _report_rows(grouped, keys, list(S.ANON_COUNT_COLUMNS))


def _report_rows(grouped: pl.LazyFrame, keys: list[str], extra: list[str]) -> pl.DataFrame:
    """Add each row's share of requests; order the columns and the rows."""
    total = pl.col(S.REQUESTS).sum()
    out = grouped.with_columns(
        pl.when(total > 0).then(pl.col(S.REQUESTS) / total).otherwise(0.0).alias(S.SHARE)
    ).select(
        *keys,
        S.REQUESTS,
        S.UNIQUE_IPS,
        S.BYTES,
        S.SHARE,
        S.FIRST_SEEN,
        S.LAST_SEEN,
        *S.STATUS_CLASSES,
        *extra,
    )
    # A time series reads in time order; any other table busiest first.
    times = [k for k in keys if k in TIME_KEYS]
    others = [k for k in keys if k not in TIME_KEYS]
    return out.collect().sort(
        [*times, S.REQUESTS, *others],
        descending=[*([False] * len(times)), True, *([False] * len(others))],
        nulls_last=True,
    )


def aggregate(
    enriched: pl.LazyFrame | pl.DataFrame, *, by: Sequence[str] = ("region",), tz: str = "UTC"
) -> pl.DataFrame:
    """Aggregate per-request enriched rows (the notebook form of ``report``).

    Args:
        enriched: requests with enrichment columns, as from :func:`enrich`.
        by: grouping names or columns, as for ``--by``.
        tz: the IANA zone of time buckets (``day``, ``hour``, ``weekday``).

    Returns:
        The report rows (see :func:`summarize`).

    Example:
        >>> from loganalyzer import sample_paths, analyze
        >>> s = sample_paths()
        >>> analysis = analyze([s.log], city_db=s.city_db, asn_db=s.asn_db)
        >>> int(analysis.rows["requests"].sum()) == analysis.meta["lines"]["matched"]
        True
    """
    grouping = resolve_grouping(by, tz=tz)
    lf = enriched.lazy()
    schema = lf.collect_schema()
    geo_cols = [c for c in (*S.GEO_COLUMNS, *S.ANON_KEY_COLUMNS) if c in schema]
    row_grouping = Grouping(
        grouping.names, grouping.keys, (*grouping.row_keys, *geo_cols), (), grouping.tz
    )
    parts = partials(lf, row_grouping)
    return summarize(parts, grouping)


def by_country(enriched: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """Requests, distinct clients and bytes per country."""
    return aggregate(enriched, by=("country",))


def by_region(enriched: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """Requests, distinct clients and bytes per first-level subdivision (province)."""
    return aggregate(enriched, by=("region",))


def top_networks(enriched: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """Requests, distinct clients and bytes per autonomous system."""
    return aggregate(enriched, by=("asn",))


def watch_conditions(
    rows: pl.DataFrame, watch: Sequence[str], *, province_hint: str, country_hint: str
) -> tuple[list[pl.Expr], list[dict[str, Any]]]:
    """For each watched code, the condition matching its rows, and the absent ones.

    Args:
        rows: report or comparison rows.
        watch: ISO codes: a country (``ES``) or a subdivision (``CN-LN``).
        province_hint: how to get a subdivision column, for the error.
        country_hint: how to get a country column, for the error.

    Returns:
        One condition per code, and the key columns of a zero row for each code
        no row matches.
    """
    conds: list[pl.Expr] = []
    missing: list[dict[str, Any]] = []
    cols = set(rows.columns)
    for code in (check_place(w, option="--watch") for w in watch if w.strip()):
        if "-" in code:
            places = [c for c in (S.REGION_ISO, S.SUBREGION_ISO) if c in cols]
            if not places:
                raise UsageError(f"--watch {code} names a province; {province_hint}")
            cond = pl.any_horizontal([pl.col(c) == code for c in places])
            zero: dict[str, Any] = {S.COUNTRY_ISO: code.split("-", 1)[0], places[0]: code}
        else:
            if S.COUNTRY_ISO not in cols:
                raise UsageError(f"--watch {code} names a country; {country_hint}")
            cond = pl.col(S.COUNTRY_ISO) == code
            zero = {S.COUNTRY_ISO: code}
        conds.append(cond.fill_null(False))
        if rows.filter(cond).is_empty():
            missing.append(zero)
    return conds, missing


def mark_watched(rows: pl.DataFrame, watch: Sequence[str]) -> pl.DataFrame:
    """Add ``watched`` and a zero row for every watched code that is absent.

    Args:
        rows: report rows.
        watch: ISO codes: a country (``ES``) or a subdivision (``CN-LN``, ``ES-B``).

    Returns:
        The rows with a boolean ``watched`` column; absent watched places appear
        with zero counts, so "no access from Liaoning" is said, not implied.

    Raises:
        UsageError: when a subdivision is watched but the report has no
            subdivision column to show it in.
    """
    codes = [w.strip() for w in watch if w.strip()]
    if not codes:
        return rows.with_columns(pl.lit(False).alias(S.WATCHED))
    conds, missing = watch_conditions(
        rows,
        codes,
        province_hint="group with --by region (or subregion, city)",
        country_hint="group with --by country or region",
    )
    cols = set(rows.columns)
    marked = rows.with_columns(pl.any_horizontal(conds).alias(S.WATCHED))
    if missing and S.COUNTRY in cols:
        # A watched province with no access still belongs to a country the report
        # may name elsewhere (CN-LN absent, other Chinese provinces present).
        named = rows.filter(pl.col(S.COUNTRY).is_not_null()).select(S.COUNTRY_ISO, S.COUNTRY)
        names = dict(named.unique(S.COUNTRY_ISO, keep="first").iter_rows())
        for zero in missing:
            zero[S.COUNTRY] = names.get(zero[S.COUNTRY_ISO]) or place_name(zero[S.COUNTRY_ISO])
    for zero in missing:
        # Name the place nobody reached from, so the row reads on its own.
        for iso, name in ((S.REGION_ISO, S.REGION), (S.SUBREGION_ISO, S.SUBREGION)):
            if zero.get(iso) and name in cols:
                zero[name] = place_name(zero[iso])
    if missing:
        zeros = pl.DataFrame(
            [
                {
                    **dict.fromkeys(rows.columns),
                    **{
                        c: 0
                        for c in (
                            S.REQUESTS,
                            S.UNIQUE_IPS,
                            S.BYTES,
                            *S.STATUS_CLASSES,
                            *S.ANON_COUNT_COLUMNS,
                        )
                        if c in cols
                    },
                    S.SHARE: 0.0,
                    **({S.GEO_STATUS: "ok"} if S.GEO_STATUS in cols else {}),
                    **z,
                    S.WATCHED: True,
                }
                for z in missing
            ],
            schema=marked.schema,
        )
        marked = pl.concat([marked, zeros])
    return marked


def top(rows: pl.DataFrame, n: int | None) -> pl.DataFrame:
    """Keep the first ``n`` rows, and every watched row wherever it ranks."""
    if n is None or rows.height <= n:
        return rows
    index = pl.int_range(pl.len())
    keep = index < n
    if S.WATCHED in rows.columns:
        keep = keep | pl.col(S.WATCHED)
    return rows.filter(keep)
