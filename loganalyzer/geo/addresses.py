"""Client addresses: normalised (ports, brackets, zone ids stripped) and classified.

Private, loopback, CGNAT, documentation and other non-public ranges are never
looked up; :func:`classify_address` names why.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Callable, Sequence

import numpy as np
import polars as pl

from loganalyzer import schema as S
from loganalyzer.ingest import native

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
except ImportError:  # built without a C compiler (see loganalyzer/ingest/native.py)
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

    Without the native module (built without a C compiler, or switched off
    with ``LOGANALYZER_NATIVE=0``), every client takes the per-address path.
    """
    none = pl.Series(S.CLIENT_IP, [""] * len(clients), pl.String)
    if _public_v6 is None or not native.enabled():
        return none
    if not len(clients) or clients.str.contains("\n", literal=True).any():
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
