"""Single-address lookups: every field the databases hold, for a person to read.

The bulk path (:func:`loganalyzer.geo.enrich.lookup`) decodes only what a report
needs. Here a handful of addresses are looked up in full with geoip2's typed
models, which also give the network each record covers. Addresses are
normalised and classified exactly as in reports (ports, brackets and zone ids
stripped; private, loopback, CGNAT, documentation, ... never looked up), so an
address has the same ``status`` here as its ``geo_status`` in a report.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import maxminddb
import polars as pl

from loganalyzer import schema as S
from loganalyzer.geo.addresses import normalise_clients
from loganalyzer.geo.databases import GeoDatabases

if TYPE_CHECKING:
    from loganalyzer.analysis.pipeline import Analysis
    from loganalyzer.anonymity.sources import AnonymizerSources

INPUT = "input"  # the address as the user wrote it
STATUS = "status"  # ok | not_found | not_public | invalid_ip (as geo_status)
NETWORK = "network"  # the City/Country record's network, e.g. 175.167.0.0/16
ASN_NETWORK = "asn_network"  # the ASN record's network (often another size)


LOOKUP_SCHEMA: dict[str, pl.DataType] = {
    INPUT: pl.String(),
    STATUS: pl.String(),
    S.CLIENT_IP: pl.String(),
    S.IP_VERSION: pl.Int8(),
    S.IP_CLASS: pl.String(),
    NETWORK: pl.String(),
    S.CONTINENT: pl.String(),
    S.COUNTRY_ISO: pl.String(),
    S.COUNTRY: pl.String(),
    S.REGION_ISO: pl.String(),
    S.REGION: pl.String(),
    S.SUBREGION_ISO: pl.String(),
    S.SUBREGION: pl.String(),
    S.CITY: pl.String(),
    S.LATITUDE: pl.Float64(),
    S.LONGITUDE: pl.Float64(),
    S.ACCURACY_RADIUS: pl.Int32(),
    S.TIME_ZONE: pl.String(),
    S.REGISTERED_COUNTRY_ISO: pl.String(),
    S.REGISTERED_COUNTRY: pl.String(),
    S.ASN: pl.Int64(),
    S.AS_ORG: pl.String(),
    ASN_NETWORK: pl.String(),
}
"""The columns of :func:`lookup_addresses`, in output order."""


def _iso(country: str | None, code: str | None) -> str | None:
    return f"{country}-{code}" if country and code else None


def _city_fields(reader: maxminddb.Reader, ip: str, locales: list[str]) -> dict[str, Any] | None:
    import geoip2.models

    record, prefix_len = reader.get_with_prefix_len(ip)
    if not isinstance(record, dict):
        return None
    # geoip2 5.x types each keyword (city=dict, subdivisions=list, ...), and a
    # record's values are the reader's union type; the model checks shapes itself.
    fields: dict[str, Any] = record
    # The City model reads Country and DB-IP records too (absent parts are empty);
    # building it from the reader skips geoip2's check of the database type name,
    # which DB-IP files do not pass.
    m = geoip2.models.City(locales, ip_address=ip, prefix_len=prefix_len, **fields)
    subs = list(m.subdivisions)
    cc = m.country.iso_code
    return {
        NETWORK: str(m.traits.network) if m.traits.network else None,
        S.CONTINENT: m.continent.code,
        S.COUNTRY_ISO: cc,
        S.COUNTRY: m.country.name,
        S.REGION_ISO: _iso(cc, subs[0].iso_code) if subs else None,
        S.REGION: subs[0].name if subs else None,
        S.SUBREGION_ISO: _iso(cc, subs[1].iso_code) if len(subs) > 1 else None,
        S.SUBREGION: subs[1].name if len(subs) > 1 else None,
        S.CITY: m.city.name,
        S.LATITUDE: m.location.latitude,
        S.LONGITUDE: m.location.longitude,
        S.ACCURACY_RADIUS: m.location.accuracy_radius,
        S.TIME_ZONE: m.location.time_zone,
        S.REGISTERED_COUNTRY_ISO: m.registered_country.iso_code,
        S.REGISTERED_COUNTRY: m.registered_country.name,
    }


def _asn_fields(reader: maxminddb.Reader, ip: str) -> dict[str, Any] | None:
    import geoip2.models

    record, prefix_len = reader.get_with_prefix_len(ip)
    if not isinstance(record, dict):
        return None
    fields: dict[str, Any] = record  # as in _city_fields
    # ISP is the superset model: it reads GeoLite2-ASN, GeoIP2-ISP and DB-IP ASN.
    m = geoip2.models.ISP(ip, prefix_len=prefix_len, **fields)
    return {
        S.ASN: m.autonomous_system_number,
        S.AS_ORG: m.autonomous_system_organization,
        ASN_NETWORK: str(m.network) if m.network else None,
    }


def lookup_addresses(
    addresses: Iterable[str],
    dbs: GeoDatabases,
    *,
    lang: str = "en",
    sources: AnonymizerSources | None = None,
) -> pl.DataFrame:
    """Look up addresses one by one, with every field the databases hold.

    Args:
        addresses: addresses as written (``81.2.69.160``, ``[2001:db8::1]:443``,
            ``::ffff:1.2.3.4``); duplicates and junk are fine.
        dbs: the databases (either may be absent: its columns are then null).
        lang: the language of names, falling back to English.
        sources: anonymizer sources; when given, the verdict columns of
            :data:`loganalyzer.schema.ANON_SCHEMA` follow (``anonymizer``,
            ``anonymizer_confidence``, ``anonymizer_provider``,
            ``anonymizer_evidence``). Without a time, time-windowed Tor lists
            (TorDNSEL) cannot apply; bulk lists and databases do.

    Returns:
        One row per input, in input order, with the columns of
        :data:`LOOKUP_SCHEMA` (then the verdict, with ``sources``). ``status`` is
        ``ok``, ``not_found``, ``not_public`` (see ``ip_class`` for why) or
        ``invalid_ip``; it never raises for a bad address.

    Example:
        >>> from loganalyzer import sample_paths
        >>> s = sample_paths()
        >>> dbs = GeoDatabases.open(city=s.city_db, asn=s.asn_db, search=False)
        >>> rows = lookup_addresses(["175.167.1.2", "10.0.0.1", "nope"], dbs)
        >>> rows.select("status", "region_iso", "asn").rows()
        [('ok', 'CN-LN', 4837), ('not_public', None, None), ('invalid_ip', None, None)]
    """
    inputs = pl.Series(INPUT, [a.strip() for a in addresses], pl.String)
    norm = normalise_clients(inputs.rename(S.CLIENT))
    locales = [lang, "en"] if lang != "en" else ["en"]
    fields = [
        c for c in LOOKUP_SCHEMA if c not in (INPUT, STATUS, S.CLIENT_IP, S.IP_VERSION, S.IP_CLASS)
    ]
    # Each distinct public address is looked up once; Polars joins the answers
    # back to every input (a Python row per input cost most of 100,000 inputs).
    public = norm.filter(pl.col(S.IP_CLASS) == "public")[S.CLIENT_IP].unique(maintain_order=True)
    city = maxminddb.open_database(dbs.city.path) if dbs.city else None
    asn = maxminddb.open_database(dbs.asn.path) if dbs.asn else None
    found_rows: list[dict[str, Any]] = []
    try:
        for ip in public.to_list():
            found: dict[str, Any] = {S.CLIENT_IP: ip}
            for part in (
                _city_fields(city, ip, locales) if city else None,
                _asn_fields(asn, ip) if asn else None,
            ):
                found.update(part or {})
            found["_found"] = len(found) > 1
            found_rows.append(found)
    finally:
        for reader in (city, asn):
            if reader is not None:
                reader.close()
    schema = {
        S.CLIENT_IP: pl.String(),
        **{c: LOOKUP_SCHEMA[c] for c in fields},
        "_found": pl.Boolean(),
    }
    answers = pl.DataFrame(found_rows, schema=schema)
    status = (
        pl.when(pl.col(S.CLIENT_IP).is_null())
        .then(pl.lit("invalid_ip"))
        .when(pl.col(S.IP_CLASS) != "public")
        .then(pl.lit("not_public"))
        .when(pl.col("_found"))
        .then(pl.lit("ok"))
        .otherwise(pl.lit("not_found"))
    )
    frame = (
        inputs.to_frame()
        .join(norm, left_on=INPUT, right_on=S.CLIENT, how="left", maintain_order="left")
        .join(answers, on=S.CLIENT_IP, how="left", maintain_order="left")
        .with_columns(
            status.alias(STATUS),
            pl.col(S.IP_CLASS).fill_null("invalid"),
            pl.when(pl.col(S.CLIENT_IP).is_not_null())
            .then(pl.col(S.IP_VERSION))
            .alias(S.IP_VERSION),
        )
        .select(pl.col(c).cast(LOOKUP_SCHEMA[c]) for c in LOOKUP_SCHEMA)
    )
    return add_verdicts(frame, sources) if sources else frame


def add_verdicts(rows: pl.DataFrame, sources: AnonymizerSources) -> pl.DataFrame:
    """Add the anonymizer verdict to lookup rows (non-public and invalid rows get none).

    Uses ``asn`` (for an ASN list) and, when present, ``first_seen``/``last_seen``
    (for time-windowed Tor lists), as :func:`loganalyzer.anonymity.verdict.classify` does.
    """
    from loganalyzer.anonymity.verdict import classify

    given = [c for c in (S.ASN, S.AS_ORG, S.FIRST_SEEN, S.LAST_SEEN) if c in rows.columns]
    public = rows.filter(pl.col(S.IP_CLASS) == "public").select(S.CLIENT_IP, *given)
    verdicts = classify(public, sources).select(S.CLIENT_IP, *S.ANON_SCHEMA)
    # One verdict per address: the same address given twice is one client.
    verdicts = verdicts.unique(S.CLIENT_IP, keep="first", maintain_order=True)
    return rows.join(verdicts, on=S.CLIENT_IP, how="left", maintain_order="left")


def lookup_log_clients(
    paths: Iterable[str],
    dbs: GeoDatabases,
    *,
    log_format: str = "combined",
    lang: str = "en",
    sources: AnonymizerSources | None = None,
) -> Analysis:
    """Look up every distinct client of some logs, busiest first.

    Args:
        paths: log files, globs or ``-``, as for :func:`loganalyzer.analyze`.
        dbs: the databases.
        log_format: the logs' format.
        lang: the language of names.
        sources: anonymizer sources, as for :func:`lookup_addresses`; each
            client's first and last request let time-windowed Tor lists apply.

    Returns:
        An :class:`~loganalyzer.analysis.pipeline.Analysis` whose rows are those of
        :func:`lookup_addresses` plus ``requests``, ``first_seen`` and
        ``last_seen``, sorted by requests; ``meta.invalid_clients`` counts the
        requests whose client field was not an address.
    """
    from loganalyzer.analysis.pipeline import Analysis, analyze

    a = analyze(list(paths), log_format=log_format, by=("ip",), dbs=dbs)
    valid = a.rows.filter(pl.col(S.CLIENT_IP).is_not_null())
    invalid = a.rows.filter(pl.col(S.CLIENT_IP).is_null())
    rows = lookup_addresses(valid[S.CLIENT_IP], dbs, lang=lang)
    rows = pl.concat([rows, valid.select(S.REQUESTS, S.FIRST_SEEN, S.LAST_SEEN)], how="horizontal")
    if sources:
        rows = add_verdicts(rows, sources)
    meta = {
        **({"sources": [i.as_dict() for i in sources.infos]} if sources else {}),
        **a.meta,
        "invalid_clients": {
            "requests": int(invalid[S.REQUESTS].sum()) if invalid.height else 0,
        },
    }
    return Analysis(rows=rows, meta=meta, faults=a.faults)


def flat_lists(rows: pl.DataFrame) -> pl.DataFrame:
    """List columns (``anonymizer_evidence``) as one ``; ``-separated string, for CSV."""
    lists = [n for n, t in rows.schema.items() if isinstance(t, pl.List)]
    return rows.with_columns(pl.col(c).list.join("; ") for c in lists) if lists else rows


__all__ = [
    "ASN_NETWORK",
    "INPUT",
    "LOOKUP_SCHEMA",
    "NETWORK",
    "STATUS",
    "add_verdicts",
    "flat_lists",
    "lookup_addresses",
    "lookup_log_clients",
]
