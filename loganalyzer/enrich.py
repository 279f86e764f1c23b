"""Enrichment: GeoIP databases, and the geo/ASN lookup of each distinct client.

Each distinct client string is normalised once (ports, brackets and zone ids
stripped, IPv4-mapped IPv6 unwrapped), classified (private, loopback, CGNAT, ...
are never looked up), and the public ones are looked up in bulk, decoding only
the fields a report needs: with the native module, each address's record is
found in C and each distinct record decoded once (:class:`Records`); without
it, with maxminddb-polars. The result is a small lookup frame that is joined
back onto requests.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import maxminddb
import numpy as np
import polars as pl

from loganalyzer import native
from loganalyzer import schema as S
from loganalyzer.errors import GeoDatabaseError, UsageError, WrongDatabaseTypeError

ENV_GEOIP_DIR = "LOGANALYZER_GEOIP_DIR"
# Where geoipupdate and the distributions put databases, in its own order.
DEFAULT_GEOIP_DIRS = (
    "/usr/local/share/GeoIP",
    "/usr/share/GeoIP",
    "/var/lib/GeoIP",
    "/opt/homebrew/var/GeoIP",
    "/usr/local/var/GeoIP",
)
_CITY_NAMES = (
    "GeoIP2-City.mmdb",
    "GeoLite2-City.mmdb",
    "dbip-city-lite.mmdb",
    "GeoIP2-Country.mmdb",
    "GeoLite2-Country.mmdb",
    "dbip-country-lite.mmdb",
)
_ASN_NAMES = ("GeoLite2-ASN.mmdb", "GeoIP2-ISP.mmdb", "dbip-asn-lite.mmdb")

Role = Literal["city", "asn"]


@dataclass(frozen=True)
class DatabaseInfo:
    """What a report says about a database it used.

    Attributes:
        role: ``city`` (geolocation, City or Country) or ``asn``.
        path: the file.
        database_type: the type in the file's metadata (``GeoLite2-City``).
        build_epoch: the build time in the metadata, seconds since 1970.
        description: the metadata's English description, if any.
    """

    role: Role
    path: str
    database_type: str
    build_epoch: int
    description: str = ""

    @property
    def build_date(self) -> str:
        """The build time as an ISO 8601 UTC date."""
        return datetime.fromtimestamp(self.build_epoch, UTC).strftime("%Y-%m-%d")

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used in ``meta.databases``."""
        return {
            "role": self.role,
            "path": self.path,
            "type": self.database_type,
            "build_date": self.build_date,
            "build_epoch": self.build_epoch,
        }


def _fits(role: Role, database_type: str) -> bool:
    kind = database_type.lower()
    if role == "city":
        return (
            "city" in kind or "country" in kind or "enterprise" in kind
        ) and "anonymous" not in kind
    return "asn" in kind or "isp" in kind


_EXPECTED = {
    "city": "a City or Country database (GeoLite2-City, GeoIP2-City, DB-IP City Lite, ...)",
    "asn": "an ASN database (GeoLite2-ASN, GeoIP2-ISP, DB-IP ASN Lite)",
}


def open_database_info(path: str | Path, role: Role) -> DatabaseInfo:
    """Open a database file, check its type fits ``role``, and describe it.

    Raises:
        GeoDatabaseError: if the file is missing, unreadable or not an MMDB.
        WrongDatabaseTypeError: if it is an MMDB of another kind.
    """
    p = Path(path)
    if not p.exists():
        raise GeoDatabaseError(p, "no such database file")
    if p.is_dir():
        raise GeoDatabaseError(p, "is a directory; use --geoip-dir for a folder of databases")
    try:
        with maxminddb.open_database(str(p)) as reader:
            meta = reader.metadata()
    except PermissionError:
        raise GeoDatabaseError(p, "permission denied") from None
    except (maxminddb.InvalidDatabaseError, ValueError, OSError) as exc:
        raise GeoDatabaseError(
            p, f"is not a readable MaxMind DB file ({exc}); expected {_EXPECTED[role]}"
        ) from None
    if not _fits(role, meta.database_type):
        raise WrongDatabaseTypeError(p, f"--{role}-db", _EXPECTED[role], meta.database_type)
    desc = meta.description.get("en", "") if isinstance(meta.description, dict) else ""
    return DatabaseInfo(role, str(p), meta.database_type, int(meta.build_epoch), desc)


def _search_dirs(geoip_dir: str | Path | None) -> list[Path]:
    if geoip_dir is not None:
        d = Path(geoip_dir)
        if not d.is_dir():
            raise GeoDatabaseError(d, "GeoIP directory does not exist")
        return [d]
    env = os.environ.get(ENV_GEOIP_DIR)
    if env:
        return [Path(env)]
    return [Path(d) for d in DEFAULT_GEOIP_DIRS]


def _find(dirs: Sequence[Path], names: Sequence[str], role: Role) -> Path | None:
    for d in dirs:
        for name in names:
            if (d / name).is_file():
                return d / name
    # DB-IP and renamed files: take any database whose metadata fits the role.
    for d in dirs:
        if not d.is_dir():
            continue
        for candidate in sorted(d.glob("*.mmdb")):
            try:
                with maxminddb.open_database(str(candidate)) as reader:
                    if _fits(role, reader.metadata().database_type):
                        return candidate
            except (maxminddb.InvalidDatabaseError, ValueError, OSError):
                continue
    return None


@dataclass
class GeoDatabases:
    """The geolocation and ASN databases a run uses (either may be absent).

    Use :meth:`open` to find and validate them.

    Example:
        >>> from loganalyzer import sample_paths
        >>> s = sample_paths()
        >>> with GeoDatabases.open(city=s.city_db, asn=s.asn_db) as dbs:
        ...     dbs.city.database_type
        'GeoLite2-City'
    """

    city: DatabaseInfo | None = None
    asn: DatabaseInfo | None = None
    searched: list[str] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        *,
        city: str | Path | None = None,
        asn: str | Path | None = None,
        geoip_dir: str | Path | None = None,
        search: bool = True,
    ) -> GeoDatabases:
        """Find and validate the databases.

        Explicit paths win; then ``geoip_dir``; then ``$LOGANALYZER_GEOIP_DIR``;
        then geoipupdate's usual directories.

        Args:
            city: a City or Country database.
            asn: an ASN database.
            geoip_dir: a folder holding databases under their usual names.
            search: look in directories for what was not given explicitly.

        Raises:
            GeoDatabaseError: for a missing, unreadable or wrong-type file.
        """
        dirs = _search_dirs(geoip_dir) if search or geoip_dir is not None else []
        city_path = Path(city) if city is not None else _find(dirs, _CITY_NAMES, "city")
        asn_path = Path(asn) if asn is not None else _find(dirs, _ASN_NAMES, "asn")
        return cls(
            city=open_database_info(city_path, "city") if city_path is not None else None,
            asn=open_database_info(asn_path, "asn") if asn_path is not None else None,
            searched=[str(d) for d in dirs],
        )

    def __enter__(self) -> GeoDatabases:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    @property
    def infos(self) -> list[DatabaseInfo]:
        """The databases in use."""
        return [d for d in (self.city, self.asn) if d is not None]

    def require_city(self) -> DatabaseInfo:
        """Return the City/Country database, or explain how to supply one."""
        if self.city is None:
            where = ", ".join(self.searched) or "nowhere"
            raise GeoDatabaseError(
                None,
                "no City or Country database found (looked in "
                f"{where}); pass --city-db FILE or --geoip-dir DIR, "
                f"or set {ENV_GEOIP_DIR}",
            )
        return self.city


# --- addresses -----------------------------------------------------------------------

_IPV4_RE = r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$"
# IPv4 ranges that are not public (RFC 6890 and friends), as (first, last) integers.
_V4_NOT_PUBLIC: tuple[tuple[str, str, str], ...] = (
    ("0.0.0.0/32", "unspecified", "unspecified"),
    ("0.0.0.0/8", "reserved", "reserved"),
    ("10.0.0.0/8", "private", "private"),
    ("100.64.0.0/10", "cgnat", "cgnat"),
    ("127.0.0.0/8", "loopback", "loopback"),
    ("169.254.0.0/16", "link_local", "link_local"),
    ("172.16.0.0/12", "private", "private"),
    ("192.0.0.0/24", "reserved", "reserved"),
    ("192.0.2.0/24", "documentation", "documentation"),
    ("192.31.196.0/24", "reserved", "reserved"),
    ("192.52.193.0/24", "reserved", "reserved"),
    ("192.88.99.0/24", "reserved", "reserved"),
    ("192.175.48.0/24", "reserved", "reserved"),
    ("192.168.0.0/16", "private", "private"),
    ("198.18.0.0/15", "reserved", "benchmarking"),
    ("198.51.100.0/24", "documentation", "documentation"),
    ("203.0.113.0/24", "documentation", "documentation"),
    ("224.0.0.0/4", "multicast", "multicast"),
    ("240.0.0.0/4", "reserved", "reserved"),
)
_public_v6: Callable[[bytes], bytes] | None
try:
    from loganalyzer._clf import public_v6 as _public_v6
except ImportError:  # built without a C compiler (see loganalyzer/native.py)
    _public_v6 = None

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_DOCUMENTATION = (
    ipaddress.ip_network("192.0.2.0/24"),
    ipaddress.ip_network("198.51.100.0/24"),
    ipaddress.ip_network("203.0.113.0/24"),
    ipaddress.ip_network("2001:db8::/32"),
    ipaddress.ip_network("3fff::/20"),
)


def _strip_decoration(client: str) -> str:
    s = client.strip().strip('"')
    if s.startswith("["):
        end = s.find("]")
        s = s[1:end] if end > 0 else s
    elif s.count(":") == 1:  # IPv4 with a port
        s = s.split(":", 1)[0]
    if "%" in s:  # IPv6 zone id, e.g. fe80::1%eth0
        s = s.split("%", 1)[0]
    return s


def classify_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Name the kind of an address: ``public`` or why it is not.

    IPv4 uses the same range table as the vectorised path, so a client is
    classified the same way however it was written.

    Example:
        >>> classify_address(ipaddress.ip_address("100.64.1.1"))
        'cgnat'
    """
    if isinstance(ip, ipaddress.IPv4Address):
        value = int(ip)
        for cidr, name, _ in _V4_NOT_PUBLIC:
            lo, hi = _v4_int(cidr)
            if lo <= value <= hi:
                return name
        return "public"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link_local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified:
        return "unspecified"
    if ip in _CGNAT:
        return "cgnat"
    if any(ip in net for net in _DOCUMENTATION):
        return "documentation"
    if ip.is_global:
        return "public"
    if ip.is_private:
        return "private"
    return "reserved"


# Inside 2000::/3 only these /16s hold special-purpose blocks (IETF protocol
# assignments, documentation, 6to4); every other global unicast address is public.
_V6_SPECIAL_16 = frozenset({0x2001, 0x2002, 0x3FFF})


def _global_v6(text: str) -> str | None:
    """The canonical form of a plainly public IPv6 address, else None.

    A third of real clients are IPv6; parsing them in C (inet_pton/inet_ntop,
    which writes RFC 5952 text as ``ipaddress`` does) is some ten times faster.
    Everything else takes the ``ipaddress`` path.
    """
    if ":" not in text or "." in text:
        return None
    try:
        packed = socket.inet_pton(socket.AF_INET6, text)
    except OSError:
        return None
    first = (packed[0] << 8) | packed[1]
    if not 0x2000 <= first <= 0x3FFF:
        return None
    if first in _V6_SPECIAL_16:
        second = (packed[2] << 8) | packed[3]
        # 2001::/23 is IETF protocol space and 2001:db8::/32 documentation; the
        # rest of 2001::/16 is ordinary allocations (APNIC, RIPE, Google...).
        if first != 0x2001 or second < 0x0200 or second == 0x0DB8:
            return None
    return socket.inet_ntop(socket.AF_INET6, packed)


def _public_v6_series(clients: pl.Series) -> pl.Series:
    """:func:`_global_v6` of each client in one native call ('' where it gives None).

    Without the native module (built without a C compiler), every client takes
    the per-address path.
    """
    none = pl.Series(S.CLIENT_IP, [""] * len(clients), pl.String)
    if _public_v6 is None or not len(clients) or clients.str.contains("\n", literal=True).any():
        return none
    joined = clients.fill_null("").str.join("\n").item() + "\n"
    # A leading newline: Polars sniffs compression from a buffer's first bytes.
    out = b"\n" + _public_v6(joined.encode())
    return pl.scan_lines(out, name=S.CLIENT_IP).collect().to_series().slice(1)


def _normalise_slow(clients: Sequence[str]) -> pl.DataFrame:
    out_ip: list[str | None] = []
    out_version: list[int | None] = []
    out_class: list[str] = []
    for raw in clients:
        text = _strip_decoration(raw)
        fast = _global_v6(text)
        if fast is not None:
            out_ip.append(fast)
            out_version.append(6)
            out_class.append("public")
            continue
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            out_ip.append(None)
            out_version.append(None)
            out_class.append("invalid")
            continue
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        out_ip.append(str(ip))
        out_version.append(ip.version)
        out_class.append(classify_address(ip))
    return pl.DataFrame(
        {
            S.CLIENT: list(clients),
            S.CLIENT_IP: out_ip,
            S.IP_VERSION: out_version,
            S.IP_CLASS: out_class,
        },
        schema={
            S.CLIENT: pl.String,
            S.CLIENT_IP: pl.String,
            S.IP_VERSION: pl.Int8,
            S.IP_CLASS: pl.String,
        },
    )


@functools.lru_cache(maxsize=64)
def _v4_int(cidr: str) -> tuple[int, int]:
    net = ipaddress.IPv4Network(cidr)
    return int(net.network_address), int(net.broadcast_address)


def normalise_clients(clients: pl.Series) -> pl.DataFrame:
    """Canonical address, IP version and class for each distinct client string.

    Plain dotted IPv4 (the bulk of most logs) is handled with Polars expressions;
    everything else (IPv6, ports, brackets, zone ids, mapped addresses, junk) goes
    through :mod:`ipaddress`, once per distinct string.

    Args:
        clients: client strings as written in the log (duplicates allowed).

    Returns:
        ``client``, ``client_ip`` (null if not an address), ``ip_version``,
        ``ip_class`` (``public``, ``private``, ``loopback``, ``cgnat``, ...,
        ``invalid``), one row per distinct client.
    """
    return _normalised(clients.drop_nulls().unique()).drop(_KEY_COLUMNS, strict=False)


_POS = "_pos"
# The keys of client_ip that _normalised read on its way (version 0: not read).
_KEY_COLUMNS = ("_key_version", "_key_hi", "_key_lo")


def _normalised(clients: pl.Series) -> pl.DataFrame:
    """:func:`normalise_clients` of distinct clients without nulls, in their order.

    With the native module, also ``client_ip``'s keys (:data:`_KEY_COLUMNS`)
    where the client was already a plain address: read once here, not again
    by the lookup (3 to 5 ms a chunk of a report's clients).
    """
    distinct = clients.to_frame(S.CLIENT).with_row_index(_POS)
    if native.enabled():
        # inet_pton reads exactly the dotted IPv4 the expressions below do (four
        # octets up to 255, no leading zeros), in a fifth of their time.
        keys = native.address_keys(distinct[S.CLIENT])
        with_int = distinct.with_columns(
            pl.Series("_int", (keys.lo & 0xFFFFFFFF).astype(np.int64)),
            pl.Series("_fast", keys.versions == 4),
        )
    else:
        octets = pl.col(S.CLIENT).str.extract_groups(_IPV4_RE)
        parts = [octets.struct.field(str(i)).cast(pl.Int64, strict=False) for i in (1, 2, 3, 4)]
        with_int = distinct.with_columns(
            (parts[0] * (1 << 24) + parts[1] * (1 << 16) + parts[2] * (1 << 8) + parts[3]).alias(
                "_int"
            ),
            (
                pl.all_horizontal([p.is_between(0, 255) for p in parts]).fill_null(False)
                # Leading zeros are ambiguous (octal in some parsers): leave them to ipaddress.
                & ~pl.col(S.CLIENT).str.contains(r"(^|\.)0\d")
            ).alias("_fast"),
        )
    fast_mask = pl.col("_fast")
    fast = with_int.filter(fast_mask)
    klass: pl.Expr = pl.lit("public")
    for cidr, name, _ in reversed(_V4_NOT_PUBLIC):
        lo, hi = _v4_int(cidr)
        klass = pl.when(pl.col("_int").is_between(lo, hi)).then(pl.lit(name)).otherwise(klass)
    fast_out = fast.select(
        _POS,
        pl.col(S.CLIENT),
        pl.col(S.CLIENT).alias(S.CLIENT_IP),
        pl.lit(4, pl.Int8).alias(S.IP_VERSION),
        klass.alias(S.IP_CLASS),
    )
    # A third of real clients are IPv6: their usual public form is canonicalised
    # natively, all at once; the rest go through ipaddress one by one.
    others = with_int.filter(~fast_mask).select(_POS, S.CLIENT)
    others = others.with_columns(_public_v6_series(others[S.CLIENT]))
    v6 = pl.col(S.CLIENT_IP) != ""
    v6_out = others.filter(v6).select(
        _POS,
        pl.col(S.CLIENT),
        pl.col(S.CLIENT_IP),
        pl.lit(6, pl.Int8).alias(S.IP_VERSION),
        pl.lit("public").alias(S.IP_CLASS),
    )
    slow = others.filter(~v6)
    slow_out = _normalise_slow(slow[S.CLIENT].to_list()).with_columns(slow[_POS])
    # Back in the clients' order: the callers' rows are then theirs by position.
    out = pl.concat([fast_out, v6_out, slow_out.select(fast_out.columns)]).sort(_POS).drop(_POS)
    if not native.enabled():
        return out
    # A plain address's key is its client_ip's; the rest (decorated, mapped,
    # junk) were rewritten by ipaddress, and are read from client_ip if need be.
    plain = np.ones(out.height, bool)
    plain[slow[_POS].to_numpy()] = False
    versions = np.where(plain, keys.versions, 0).astype(np.int8)
    return out.with_columns(
        pl.Series(_KEY_COLUMNS[0], versions),
        pl.Series(_KEY_COLUMNS[1], keys.hi),
        pl.Series(_KEY_COLUMNS[2], keys.lo),
    )


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
