"""GeoIP databases: finding, opening and checking City, Country and ASN MMDB files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import maxminddb

from loganalyzer.errors import GeoDatabaseError, WrongDatabaseTypeError

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

    def log_gap_days(self, first: datetime | None, last: datetime | None) -> int | None:
        """Days between the build and the nearest end of a log's time range (0: within).

        Addresses move between countries and networks over the years: a database
        built long after or before the requests may place them where they were not.
        """
        if first is None or last is None:
            return None
        built = datetime.fromtimestamp(self.build_epoch, UTC)
        gap = first - built if built < first else built - last if built > last else None
        return gap.days if gap is not None else 0

    def age_warning(self, first: datetime | None, last: datetime | None) -> str | None:
        """A note when the build is more than :data:`MAX_LOG_GAP_DAYS` from the log."""
        gap = self.log_gap_days(first, last)
        if gap is None or gap <= MAX_LOG_GAP_DAYS:
            return None
        built = datetime.fromtimestamp(self.build_epoch, UTC)
        when = "after" if last is not None and built > last else "before"
        return (
            f"{self.path}: built {self.build_date}, {gap} days {when} the log's time range; "
            "addresses may have moved since, so places and networks may not be where "
            "these requests came from (use a database from the log's time)"
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used in ``meta.databases``."""
        return {
            "role": self.role,
            "path": self.path,
            "type": self.database_type,
            "build_date": self.build_date,
            "build_epoch": self.build_epoch,
        }


MAX_LOG_GAP_DAYS = 180
"""How far a database's build may be from the log's time range before a note says so."""


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
