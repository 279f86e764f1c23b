"""MaxMind anonymizer databases: Anonymous IP, Anonymous Plus and Residential Proxy MMDBs.

:func:`load_mmdb` only checks the file; its records are read per distinct client
when clients are judged (:func:`_mmdb_hits`): by the native tree walk when the C
module is built (each record decoded once, the networks' text written all at
once), else by ``maxminddb`` one address at a time (:func:`_mmdb_hits_reader`).
Each flag a record sets is one confirmed hit.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import maxminddb
import numpy as np
import polars as pl

from loganalyzer import schema as S
from loganalyzer.anonymity.categories import _HIT_SCHEMA, _RID
from loganalyzer.anonymity.files import _info, _Loaded, _read_bytes
from loganalyzer.anonymity.networks import _host_bits, _v4_text, _v6_shown
from loganalyzer.errors import SourceError
from loganalyzer.ingest import native

_MMDB_FLAGS = (
    ("is_tor_exit_node", "tor_exit"),
    ("is_anonymous_vpn", "vpn"),
    ("is_public_proxy", "public_proxy"),
    ("is_residential_proxy", "residential_proxy"),
    ("is_hosting_provider", "hosting"),
)


def load_mmdb(path: str | Path) -> _Loaded:
    """Open a MaxMind Anonymous IP, Anonymous Plus or Residential Proxy database.

    Its records are read per distinct client at classification time.

    Args:
        path: the MMDB file.

    Returns:
        The loaded source.

    Raises:
        SourceError: for a missing or unreadable file, or an MMDB of another kind.
    """
    p, data = _read_bytes(path)
    try:
        with maxminddb.open_database(str(p)) as reader:
            meta = reader.metadata()
    except (maxminddb.InvalidDatabaseError, ValueError, OSError) as exc:
        raise SourceError(
            p,
            f"is not a readable MaxMind DB file ({exc}); expected GeoIP2-Anonymous-IP, "
            "GeoIP-Anonymous-Plus or GeoIP-Residential-Proxy",
        ) from None
    kind = str(meta.database_type)
    if "anonymous" not in kind.lower() and "residential-proxy" not in kind.lower():
        raise SourceError(
            p,
            f"is a {kind!r} database, but --anon-db needs GeoIP2-Anonymous-IP, "
            "GeoIP-Anonymous-Plus or GeoIP-Residential-Proxy",
        )
    built = datetime.fromtimestamp(int(meta.build_epoch), UTC).strftime("%Y-%m-%d")
    info = _info(p, data, name="maxmind-anon", kind=kind, entries=int(meta.node_count), date=built)
    return _Loaded(info, mmdb_type=kind)


def _with_records(src: _Loaded, keyed: pl.DataFrame) -> pl.DataFrame:
    """The addresses that have a non-empty record, found in one vectorised pass.

    Most clients are in no anonymizer network, and the Python reader spent 10-20
    microseconds on each; only the rest need it for their network and details.
    A database that MaxMind's schema cannot decode keeps every address.
    """
    import maxminddb_polars as mmp

    try:
        record = mmp.lookup(pl.col(S.CLIENT_IP), src.info.path, strict=False)
        # Null only where no network holds the address: a record of unknown or
        # empty fields is kept, and judged below exactly as before.
        return keyed.filter(record.is_not_null())
    except (pl.exceptions.PolarsError, ValueError, TypeError):
        return keyed


def _mmdb_hits(src: _Loaded, keyed: pl.DataFrame) -> pl.DataFrame:
    """Look up each distinct address once; absent and empty records are not listed."""
    keyed = keyed.select(_RID, S.CLIENT_IP)
    if not native.enabled():
        return _mmdb_hits_reader(src, _with_records(src, keyed))
    keys = native.address_keys(keyed[S.CLIENT_IP])
    read = pl.Series(keys.versions) != 0
    tree = native.SearchTree(src.info.path)
    try:
        found, lengths = tree.find(keys)
        rows = pl.DataFrame(
            [
                keyed[_RID],
                found.alias("_rec"),
                pl.Series("_len", lengths),
                pl.Series("_v", keys.versions),
                pl.Series("_hi", keys.hi),
                pl.Series("_lo", keys.lo),
            ]
        ).filter(read & found.is_not_null())
        distinct = rows["_rec"].unique()
        values = tree.decode(distinct, _ANON_PATHS)
    finally:
        tree.close()
    # Each distinct record as the reader would give it, for the fields judged.
    records: dict[int, dict[str, Any]] = {}
    for i, rec in enumerate(distinct.to_list()):
        if not values[0][i]:  # not a map (None), or an empty one (0 pairs)
            continue
        fields = {str(p[0]): col[i] for p, col in zip(_ANON_PATHS[1:], values[1:], strict=True)}
        records[rec] = {k: v for k, v in fields.items() if v is not None}
    # Each record's hits with its network's text left out: a record is shared
    # by many networks, and the text is filled in for all of them at once.
    residential = "residential-proxy" in (src.mmdb_type or "").lower()
    label = f"{src.mmdb_type} {src.info.date}"
    parts = pl.DataFrame(
        [
            (rec, *part)
            for rec, fields in records.items()
            for part in _mmdb_parts(fields, label, residential)
        ],
        schema={
            "_rec": rows.schema["_rec"],
            "category": pl.String,
            "pre": pl.String,
            "post": pl.String,
            "provider": pl.String,
        },
        orient="row",
    )
    rows = rows.join(parts, on="_rec", how="semi")
    # Each client's network: its address with the host bits cleared, written
    # as _cidr writes it. Text made per client in Python (and a dict per hit)
    # was 0.15 s of the 0.2 s the benchmark's 46,000 listed clients cost.
    length = rows["_len"].to_numpy().astype(np.int64)
    v4 = rows["_v"].to_numpy() == 4
    host = np.where(v4, 32, 128) - length  # the bits the network leaves to hosts
    hi, lo = rows["_hi"].to_numpy(), rows["_lo"].to_numpy()
    hi_host, lo_host = _host_bits(host)
    lo = np.where(v4, lo & np.uint64(0xFFFFFFFF), lo) & ~lo_host
    hi = np.where(v4, np.uint64(0), hi & ~hi_host)
    nets = rows.select(_RID, "_rec", "_len", "_v").with_columns(
        pl.Series("_nhi", hi), pl.Series("_nlo", lo)
    )
    v6 = nets.filter(pl.col("_v") == 6).select("_nhi", "_nlo", "_len").unique()
    text = native.v6_texts(v6["_nhi"].to_numpy(), v6["_nlo"].to_numpy())
    # As _v6_shown: an IPv4-mapped network of /96 or longer is shown as IPv4.
    mapped = (
        (pl.col("_len") >= 96) & (pl.col("_nhi") == 0) & (pl.col("_nlo") // (1 << 32) == 0xFFFF)
    )
    v6_shown = v6.with_columns(
        pl.when(mapped)
        .then(_v4_text(pl.col("_nlo") % (1 << 32)) + "/" + (pl.col("_len") - 96).cast(pl.String))
        .otherwise(pl.Series(text, dtype=pl.String) + "/" + pl.col("_len").cast(pl.String))
        .alias("_v6")
    )
    v4_shown = _v4_text(pl.col("_nlo")) + "/" + pl.col("_len").cast(pl.String)
    shown = pl.when(pl.col("_v") == 4).then(v4_shown).otherwise(pl.col("_v6"))
    hits = (
        nets.join(v6_shown, on=["_nhi", "_nlo", "_len"], how="left")
        .join(parts, on="_rec")
        .select(
            pl.col(_RID).cast(pl.UInt32),
            "category",
            pl.concat_str("pre", shown, "post").alias("evidence"),
            "provider",
            pl.lit(True).alias("confirmed"),
        )
    )
    # What C did not read (never a canonical address) goes the reader's way.
    return pl.concat([hits, _mmdb_hits_reader(src, keyed.filter(~read))])


# The fields of an Anonymous IP record that a verdict uses (the empty path: is it a map).
_ANON_PATHS: list[tuple[str | int, ...]] = [
    (),
    *((flag,) for flag, _ in _MMDB_FLAGS),
    ("provider_name",),
    ("anonymizer_confidence",),
    ("network_last_seen",),
]


def _network_entries(
    src: _Loaded, bits: int, value: int, length: int, record: dict[str, Any]
) -> list[tuple[str, str, str | None]]:
    """(category, evidence, provider) of a record's network (``length`` bits of ``value``).

    One record per network: its evidence is worked out once a run, not per client.
    """
    where = (bits, value >> (bits - length), length)
    entries = src.networks.get(where)
    if entries is None:
        residential = "residential-proxy" in (src.mmdb_type or "").lower()
        label = f"{src.mmdb_type} {src.info.date}"
        if bits == 32:  # as _cidr writes it, without an ipaddress network (7 us each)
            start = value >> (32 - length) << (32 - length)
            shown = f"{socket.inet_ntoa(start.to_bytes(4, 'big'))}/{length}"
        else:
            shown = _v6_shown(value >> (128 - length) << (128 - length), length)
        entries = src.networks[where] = [
            (category, pre + shown + post, provider)
            for category, pre, post, provider in _mmdb_parts(record, label, residential)
        ]
    return entries


def _network_hits(
    src: _Loaded, rid: int, bits: int, value: int, length: int, record: dict[str, Any]
) -> list[dict[str, Any]]:
    """One client's hits: those of its record's network (see :func:`_network_entries`)."""
    return [
        {_RID: rid, "category": c, "evidence": e, "provider": p, "confirmed": True}
        for c, e, p in _network_entries(src, bits, value, length, record)
    ]


def _mmdb_hits_reader(src: _Loaded, keyed: pl.DataFrame) -> pl.DataFrame:
    """:func:`_mmdb_hits` with the reference reader, one address at a time."""
    hits: list[dict[str, Any]] = []
    if keyed.is_empty():
        return pl.DataFrame(schema=_HIT_SCHEMA)
    with maxminddb.open_database(src.info.path) as reader:
        for rid, ip in keyed.select(_RID, S.CLIENT_IP).iter_rows():
            if ip is None:
                continue
            try:
                record, prefix = reader.get_with_prefix_len(ip)
            except ValueError:  # not an address (never so for a canonical one)
                continue
            if not isinstance(record, dict) or not record:
                continue
            family, bits = (socket.AF_INET6, 128) if ":" in ip else (socket.AF_INET, 32)
            value = int.from_bytes(socket.inet_pton(family, ip), "big")
            hits += _network_hits(src, rid, bits, value, prefix, record)
    return pl.DataFrame(hits, schema=_HIT_SCHEMA)


def _mmdb_parts(
    record: dict[str, Any], label: str, residential: bool
) -> list[tuple[str, str, str, str | None]]:
    """(category, evidence before the network's text, after it, provider) per flag of a record.

    The evidence reads ``maxmind-anon:FLAG (NETWORK; LABEL; provider ...)``.
    """
    details = [label]
    provider = record.get("provider_name")
    if provider:
        details.append(f"provider {provider}")
    if record.get("anonymizer_confidence") is not None:
        details.append(f"confidence {record['anonymizer_confidence']}")
    if record.get("network_last_seen"):
        details.append(f"last seen {record['network_last_seen']}")
    after = "; " + "; ".join(details) + ")"
    flags = [(f, c) for f, c in _MMDB_FLAGS if record.get(f) is True]
    if residential and not flags:
        flags = [("residential_proxy", "residential_proxy")]
    named = str(provider) if provider else None
    return [(category, f"maxmind-anon:{flag} (", after, named) for flag, category in flags]


__all__ = [
    "load_mmdb",
]
