"""IP2Proxy BIN files (LITE or commercial, PX1 to PX12), read with IP2Location's ``ip2proxy``.

:func:`load_ip2proxy` checks the file; its records are read per distinct client
when clients are judged (:func:`_ip2proxy_hits`), as MaxMind's are. Each proxy
type is one hit (:data:`PROXY_TYPES`); a search-engine robot (``SES``, ``AIC``)
is a crawler and a ``SCANNER`` threat a scanner, both as the client's
``actor_type``. The ``ip2proxy`` package comes with ``loganalyzer[sources]``.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import polars as pl

from loganalyzer import schema as S
from loganalyzer.anonymity.categories import _HIT_SCHEMA, _RID
from loganalyzer.anonymity.files import _info, _Loaded, _read_bytes
from loganalyzer.errors import SourceError

PROXY_TYPES = {
    "VPN": "vpn",
    "TOR": "tor_exit",
    "PUB": "public_proxy",
    "WEB": "public_proxy",
    "RES": "residential_proxy",
    "CPN": "privacy_relay",  # consumer privacy network (iCloud Private Relay and the like)
    # Enterprise private network: a company's gateway (Zscaler and the like); its
    # users' requests leave from the gateway's datacenter.
    "EPN": "hosting",
    "DCH": "hosting",
    "SES": "crawler",  # search-engine robot
    "AIC": "crawler",  # AI crawler
}
"""What each IP2Proxy proxy type claims: a category, or an actor type."""

# Columns of a BIN per PX level (the reader's position tables): how a header is told.
_COLUMNS = {1: 2, 2: 3, 3: 5, 4: 6, 5: 7, 6: 8, 7: 10, 8: 11, 9: 12, 10: 12, 11: 13, 12: 14}
_HEADER = struct.Struct("<BBBBBIIIIIIBBB")
_NONE = ("", "-", "NOT SUPPORTED", "INVALID IP ADDRESS")


def looks_like_ip2proxy(head: bytes) -> bool:
    """Whether a file's first 32 bytes are an IP2Proxy BIN header (2021 or later)."""
    if len(head) < _HEADER.size:
        return False
    fields: tuple[int, ...] = _HEADER.unpack(head[: _HEADER.size])
    dbtype, columns, yy, mm, dd = fields[:5]
    product = fields[11]
    return (
        _COLUMNS.get(dbtype) == columns
        and product == 2
        and 1 <= mm <= 12
        and 1 <= dd <= 31
        and yy <= 99
    )


def _reader() -> Any:
    try:
        import IP2Proxy  # type: ignore[import-untyped]  # the package ships no types
    except ImportError:
        return None
    return IP2Proxy


def load_ip2proxy(path: str | Path) -> _Loaded:
    """Open an IP2Proxy BIN file (any PX level); its records are read per client later.

    Raises:
        SourceError: for a missing file, a file that is not an IP2Proxy BIN (a ZIP
            not yet unpacked, a CSV), or without the ``ip2proxy`` package.
    """
    p, data = _read_bytes(path)
    if data[:2] == b"PK":
        raise SourceError(p, "is a ZIP archive: unpack the IP2Proxy .BIN file from it first")
    if not looks_like_ip2proxy(data[: _HEADER.size]):
        raise SourceError(
            p, "is not an IP2Proxy BIN file (PX1-PX12, 2021 or later); the CSV edition is not read"
        )
    module = _reader()
    if module is None:
        raise SourceError(p, "reading IP2Proxy files needs pip install 'loganalyzer[sources]'")
    try:
        with module.IP2Proxy(str(p)) as db:
            level = int(db.get_package_version())
    except (ValueError, OSError, struct.error) as exc:
        raise SourceError(p, f"is not a readable IP2Proxy BIN file ({exc})") from None
    _, _, yy, mm, dd, v4, _, v6, *_ = _HEADER.unpack(data[: _HEADER.size])
    info = _info(
        p,
        data,
        name="ip2proxy",
        kind=f"ip2proxy-px{level}",
        entries=int(v4) + int(v6),
        date=f"{2000 + yy:04d}-{mm:02d}-{dd:02d}",
    )
    return _Loaded(info, reader="ip2proxy")


def _ip2proxy_hits(src: _Loaded, keyed: pl.DataFrame) -> pl.DataFrame:
    """Look up each distinct address once; ``-`` (not a proxy) is not listed."""
    module = _reader()
    hits: list[tuple[int, str, str, str | None, bool]] = []
    label = f"{src.info.kind.upper().replace('IP2PROXY-', '')} {src.info.date}"
    with module.IP2Proxy(src.info.path) as db:
        for rid, ip in keyed.select(_RID, S.CLIENT_IP).iter_rows():
            if ip is None:
                continue
            rec = db.get_all(ip)
            hits += [(rid, *hit) for hit in _record_hits(ip, rec, label)]
    return pl.DataFrame(hits, schema=_HIT_SCHEMA, orient="row")


def _record_hits(
    ip: str, rec: dict[str, Any], label: str
) -> list[tuple[str, str, str | None, bool]]:
    """(category, evidence, provider, confirmed) for one record of the file."""
    is_proxy = rec.get("is_proxy")
    if is_proxy in (-1, None):
        return []
    kind = str(rec.get("proxy_type") or "-")
    if kind == "NOT SUPPORTED" and is_proxy in (1, 2):
        # PX1 says only "a proxy" (1) or "a datacenter or robot" (2).
        kind = "PUB" if is_proxy == 1 else "DCH"
    provider = _value(rec.get("provider"))
    details = [label]
    for name, key in (("provider", "provider"), ("usage", "usage_type"), ("threat", "threat")):
        if (value := _value(rec.get(key))) is not None:
            details.append(f"{name} {value}")
    if (seen := _value(rec.get("last_seen"))) is not None:
        details.append(f"last seen {seen} days ago")
    out = []
    if kind in PROXY_TYPES:
        evidence = f"ip2proxy:{kind} ({ip}; {'; '.join(details)})"
        out.append((PROXY_TYPES[kind], evidence, provider, True))
    threat = _value(rec.get("threat")) or ""
    if "SCANNER" in threat.upper().split("/"):
        out.append(("scanner", f"ip2proxy:threat SCANNER ({ip}; {label})", provider, True))
    return out


def _value(raw: Any) -> str | None:
    text = str(raw).strip() if raw is not None else ""
    return None if text in _NONE else text


__all__ = ["PROXY_TYPES", "load_ip2proxy", "looks_like_ip2proxy"]
