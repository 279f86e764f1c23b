"""Enrichment: the geo/ASN lookup of each distinct client, joined back onto requests.

Each distinct client string is normalised once (ports, brackets and zone ids
stripped, IPv4-mapped IPv6 unwrapped) and classified (private, loopback, CGNAT,
... are never looked up) by :mod:`~loganalyzer.geo.addresses`; the public ones
are looked up in bulk, decoding only the fields a report needs: with the native
module, each address's record is found in C and each distinct record decoded once
(:class:`Records`); without it, with maxminddb-polars. The result is a small
lookup frame that is joined back onto requests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import maxminddb
import polars as pl

from loganalyzer import schema as S
from loganalyzer.errors import GeoDatabaseError, UsageError
from loganalyzer.geo.addresses import _KEY_COLUMNS, _normalised, normalise_clients
from loganalyzer.geo.databases import DatabaseInfo, GeoDatabases
from loganalyzer.ingest import native

# --- lookups ---------------------------------------------------------------------------

# Enrichment columns and where each lives in a GeoIP2 record ("{lang}" = names).
_CITY_PATHS: dict[str, tuple[list[str | int], pl.DataType]] = {
    S.CONTINENT: (["continent", "code"], pl.String()),
    S.COUNTRY_ISO: (["country", "iso_code"], pl.String()),
    S.COUNTRY: (["country", "names", "{lang}"], pl.String()),
    S.REGISTERED_COUNTRY_ISO: (["registered_country", "iso_code"], pl.String()),
    S.REGISTERED_COUNTRY: (["registered_country", "names", "{lang}"], pl.String()),
    S.REGION_ISO: (["subdivisions", 0, "iso_code"], pl.String()),
    S.REGION: (["subdivisions", 0, "names", "{lang}"], pl.String()),
    S.SUBREGION_ISO: (["subdivisions", 1, "iso_code"], pl.String()),
    S.SUBREGION: (["subdivisions", 1, "names", "{lang}"], pl.String()),
    S.CITY: (["city", "names", "{lang}"], pl.String()),
    S.LATITUDE: (["location", "latitude"], pl.Float64()),
    S.LONGITUDE: (["location", "longitude"], pl.Float64()),
    S.ACCURACY_RADIUS: (["location", "accuracy_radius"], pl.Int32()),
    S.TIME_ZONE: (["location", "time_zone"], pl.String()),
}
_ASN_PATHS: dict[str, tuple[list[str | int], pl.DataType]] = {
    S.ASN: (["autonomous_system_number"], pl.Int64()),
    S.AS_ORG: (["autonomous_system_organization"], pl.String()),
}
# Columns that need another column of the same record to make sense.
_NEEDS = {
    S.REGION_ISO: (S.COUNTRY_ISO,),
    S.SUBREGION_ISO: (S.COUNTRY_ISO,),
}
CITY_FIELDS = tuple(_CITY_PATHS)
ASN_FIELDS = tuple(_ASN_PATHS)


def _path_expr(db: str, path: list[str | int], dtype: pl.DataType, lang: str) -> pl.Expr:
    import maxminddb_polars as mmp

    def one(language: str) -> pl.Expr:
        concrete = [language if p == "{lang}" else p for p in path]
        return mmp.lookup_path(pl.col(S.CLIENT_IP), db, concrete, strict=False).cast(dtype)

    if "{lang}" in path and lang != "en":
        # Not every name exists in every language; English always does.
        return pl.coalesce(one(lang), one("en"))
    return one(lang)


def _dig(record: Any, path: list[str | int], lang: str) -> Any:
    value = record
    for step in path:
        key: str | int = lang if step == "{lang}" else step
        if isinstance(value, dict) and isinstance(key, str):
            value = value.get(key)
            if value is None and step == "{lang}":
                return None
        elif isinstance(value, list) and isinstance(key, int):
            value = value[key] if key < len(value) else None
        else:
            return None
    return value


def _lookup_with_reader(
    base: pl.DataFrame, dbs: GeoDatabases, wanted: set[str], lang: str
) -> pl.DataFrame:
    columns: dict[str, list[Any]] = {}
    public = (
        base.select(pl.when(pl.col(S.IP_CLASS) == "public").then(pl.col(S.CLIENT_IP)))
        .to_series()
        .to_list()
    )
    for paths, info in ((_CITY_PATHS, dbs.city), (_ASN_PATHS, dbs.asn)):
        if info is None:
            continue
        cols = [c for c in paths if c in wanted]
        if not cols:
            continue
        try:
            with maxminddb.open_database(info.path) as reader:
                records = [reader.get(ip) if ip is not None else None for ip in public]
        except maxminddb.InvalidDatabaseError as exc:
            raise GeoDatabaseError(Path(info.path), f"is damaged ({exc})") from None
        for col in cols:
            path, _ = paths[col]
            values = []
            for rec in records:
                v = _dig(rec, path, lang)
                if v is None and "{lang}" in path:
                    v = _dig(rec, path, "en")
                values.append(v)
            columns[col] = values
    extra = [
        pl.Series(col, values, dtype=S.GEO_SCHEMA[col], strict=False)
        for col, values in columns.items()
    ]
    return base.with_columns(extra)


class Records:
    """What a run's lookups have decoded, per database record, to decode each once.

    Many clients share a record (a network's, or a city's in several networks):
    the benchmark log's 122,000 public clients have 34,000 City records and
    25,000 ASN records. With the native scanner built, :func:`lookup` walks
    each address's path in the search tree in C (:class:`native.SearchTree`),
    decodes there the fields of the records it has not seen, and keeps them
    here for the run's later lookups. For the benchmark report that took the
    lookups from 0.44 s to 0.33 s (0.26 s with the faster normalising):
    maxminddb-polars walks the tree once per field and address, and its
    first call costs tens of milliseconds.

    Use it as a context manager, or :meth:`close` it.
    """

    def __init__(self) -> None:
        self._trees: dict[str, native.SearchTree] = {}
        self._decoded: dict[tuple[str, tuple[str, ...], str], pl.DataFrame] = {}

    def tree(self, path: str) -> native.SearchTree:
        """The database's search tree, mapped once."""
        if path not in self._trees:
            self._trees[path] = native.SearchTree(path)
        return self._trees[path]

    def decoded(self, path: str, columns: tuple[str, ...], lang: str) -> pl.DataFrame | None:
        """The records decoded so far for these columns (``_record`` and the columns)."""
        return self._decoded.get((path, columns, lang))

    def keep(self, path: str, columns: tuple[str, ...], lang: str, frame: pl.DataFrame) -> None:
        """Remember the records decoded so far."""
        self._decoded[(path, columns, lang)] = frame

    def close(self) -> None:
        """Unmap the trees."""
        for tree in self._trees.values():
            tree.close()
        self._trees.clear()

    def __enter__(self) -> Records:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_RECORD = "_record"
# A database's columns wanted: each one's path in a record and its type.
_Wanted = dict[str, tuple[list[str | int], pl.DataType]]


def _path_exprs(info: DatabaseInfo, cols: _Wanted, lang: str) -> list[pl.Expr]:
    """The columns as maxminddb-polars lookups of each public address."""
    public = pl.col(S.IP_CLASS) == "public"
    return [
        pl.when(public).then(_path_expr(info.path, path, dtype, lang)).alias(col)
        for col, (path, dtype) in cols.items()
    ]


def _decoded(tree: native.SearchTree, records: pl.Series, cols: _Wanted, lang: str) -> pl.DataFrame:
    """The columns of each record, decoded in C."""
    paths: list[tuple[str | int, ...]] = []
    for path, _ in cols.values():
        # Not every name exists in every language; English always does.
        for language in [lang, "en"] if "{lang}" in path and lang != "en" else [lang]:
            paths.append(tuple(language if p == "{lang}" else p for p in path))
    values = iter(tree.decode(records, paths))
    columns = [records.alias(_RECORD)]
    for col, (path, dtype) in cols.items():
        found = pl.Series(col, next(values), dtype=dtype, strict=False)
        if "{lang}" in path and lang != "en":
            found = found.fill_null(pl.Series(next(values), dtype=dtype, strict=False))
        columns.append(found)
    return pl.DataFrame(columns)


def _client_ip_keys(rows: pl.DataFrame) -> native.AddressKeys:
    """The keys of ``client_ip``: those :func:`_normalised` read, the rest read here."""
    if _KEY_COLUMNS[0] not in rows.columns:
        return native.address_keys(rows[S.CLIENT_IP])
    versions, hi, lo = (rows[c].to_numpy().copy() for c in _KEY_COLUMNS)
    unread = versions == 0
    if unread.any():
        rest = native.address_keys(rows.filter(pl.Series(unread))[S.CLIENT_IP])
        versions[unread], hi[unread], lo[unread] = rest.versions, rest.hi, rest.lo
    return native.AddressKeys(versions, hi, lo)


def _lookup_by_record(
    base: pl.DataFrame, per_db: Sequence[tuple[DatabaseInfo, _Wanted]], records: Records, lang: str
) -> pl.DataFrame:
    """The lookups' columns on ``base``, each record decoded once for the run."""
    public = base[S.IP_CLASS] == "public"
    # Canonical addresses always read in C; what inet_pton refuses (leading zeros),
    # maxminddb-polars refuses too, so it has no record either way.
    keys = _client_ip_keys(base.filter(public))
    at = public.arg_true()
    out = base
    for info, cols in per_db:
        names = tuple(cols)
        tree = records.tree(info.path)
        found = tree.records(keys)
        known = records.decoded(info.path, names, lang)
        fresh = found.drop_nulls().unique()
        if known is not None:
            fresh = fresh.filter(~fresh.is_in(known[_RECORD].implode()))
        decoded = _decoded(tree, fresh, cols, lang)
        known = decoded if known is None else pl.concat([known, decoded])
        records.keep(info.path, names, lang, known)
        # Each row's record by its position (none for the rest): joined on it
        # alone, not on the client's text (two string joins were a tenth of a lookup).
        tagged = found
        if at.len() < base.height:
            empty = pl.repeat(None, base.height, dtype=pl.Int64, eager=True).alias(_RECORD)
            tagged = empty.scatter(at, found)
        values = tagged.to_frame().join(known, on=_RECORD, how="left", maintain_order="left")
        out = out.with_columns(values.select(names))
    return out


def lookup(
    clients: pl.Series | Iterable[str],
    dbs: GeoDatabases,
    *,
    fields: Iterable[str] | None = None,
    lang: str = "en",
    records: Records | None = None,
    distinct: bool = False,
) -> pl.DataFrame:
    """Look up each distinct client once and return the lookup table.

    Args:
        clients: client strings as written in the log (duplicates are fine).
        dbs: the databases.
        fields: the enrichment columns wanted (default: all the databases give).
            Columns not asked for are null, which keeps a report that needs only
            countries from decoding cities.
        lang: the language of names (``en``, ``zh-CN``, ``es``, ...), falling back
            to English where a name is missing.
        records: the records decoded by the run's earlier lookups, for a run
            that looks clients up a chunk at a time; without it each call
            decodes afresh.
        distinct: ``clients`` is a Series that holds each client once and no
            null (a report's new clients): the rows are in its order.

    Returns:
        One row per distinct client with the columns of :data:`schema.GEO_SCHEMA`.
        ``geo_status`` is ``ok`` (found), ``not_found`` (public, but absent from
        the database), ``not_public`` (private, loopback, CGNAT, documentation,
        ... never looked up) or ``invalid_ip``.
    """
    series = (
        clients if isinstance(clients, pl.Series) else pl.Series(S.CLIENT, list(clients), pl.String)
    )
    wanted = set(CITY_FIELDS + ASN_FIELDS if fields is None else fields)
    unknown = wanted - set(S.GEO_COLUMNS)
    if unknown:
        raise UsageError(f"unknown enrichment column(s): {', '.join(sorted(unknown))}")
    if dbs.city is not None:
        # Tell found from not found: some records hold only a registered
        # country (or only a continent), and they are still found.
        wanted.update((S.COUNTRY_ISO, S.REGISTERED_COUNTRY_ISO, S.CONTINENT))
    for col, needs in _NEEDS.items():
        if col in wanted:
            wanted.update(needs)
    base = _normalised(series) if distinct else normalise_clients(series)
    public = pl.col(S.IP_CLASS) == "public"
    per_db: list[tuple[DatabaseInfo, _Wanted]] = []
    found: list[pl.Expr] = []
    for paths, info in ((_CITY_PATHS, dbs.city), (_ASN_PATHS, dbs.asn)):
        if info is None:
            continue
        cols = {col: spec for col, spec in paths.items() if col in wanted}
        if cols:
            per_db.append((info, cols))
        found += [
            pl.col(c).is_not_null()
            for c in (S.COUNTRY_ISO, S.REGISTERED_COUNTRY_ISO, S.CONTINENT, S.ASN)
            if c in cols
        ]
    try:
        if not per_db:
            table = base
        elif native.enabled():
            with contextlib.ExitStack() as stack:
                run = records or stack.enter_context(Records())
                table = _lookup_by_record(base, per_db, run, lang)
        else:
            exprs = [e for info, cols in per_db for e in _path_exprs(info, cols, lang)]
            table = base.with_columns(exprs)
    except (pl.exceptions.ComputeError, ValueError):
        # A database whose field types differ from MaxMind's schema (a home-made
        # or older file), or whose data is damaged: the reference reader
        # decodes what it can, slower but tolerant, and says what is wrong.
        table = _lookup_with_reader(base, dbs, wanted, lang)
    status = (
        pl.when(pl.col(S.IP_CLASS) == "invalid")
        .then(pl.lit("invalid_ip"))
        .when(~public)
        .then(pl.lit("not_public"))
        .when(pl.any_horizontal(found) if found else pl.lit(False))
        .then(pl.lit("ok"))
        .otherwise(pl.lit("not_found"))
    )
    table = table.with_columns(status.alias(S.GEO_STATUS))
    # ISO 3166-2 codes carry the country: Liaoning is CN-LN, Barcelona ES-B.
    for col in (S.REGION_ISO, S.SUBREGION_ISO):
        if col in table.columns:
            table = table.with_columns(
                pl.when(pl.col(col).is_not_null())
                .then(pl.concat_str(pl.col(S.COUNTRY_ISO), pl.lit("-"), pl.col(col)))
                .alias(col)
            )
    return table.select(
        [
            (pl.col(c) if c in table.columns else pl.lit(None)).cast(t).alias(c)
            for c, t in S.GEO_SCHEMA.items()
        ]
    )


def enrich(
    rows: pl.LazyFrame,
    dbs: GeoDatabases,
    *,
    fields: Iterable[str] | None = None,
    lang: str = "en",
) -> pl.LazyFrame:
    """Add the enrichment columns to parsed requests.

    The distinct clients are collected and looked up once; the lookup table is
    joined back keeping the requests' order.

    Args:
        rows: parsed requests (needs ``client``).
        dbs: the databases.
        fields: the enrichment columns wanted (default all).
        lang: the language of names.

    Returns:
        ``rows`` with the columns of :data:`schema.GEO_SCHEMA` added.
    """
    clients = rows.select(pl.col(S.CLIENT).unique()).collect().to_series()
    table = lookup(clients, dbs, fields=fields, lang=lang)
    return rows.join(
        table.lazy(), on=S.CLIENT, how="left", maintain_order="left", nulls_equal=False
    )
