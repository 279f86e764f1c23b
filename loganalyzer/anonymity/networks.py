"""Addresses and networks as 128-bit keys, and lists of networks as disjoint ranges.

Sources and clients meet in one key space: IPv6 as its 128-bit value, IPv4
``a.b.c.d`` as the IPv4-mapped ``::ffff:a.b.c.d`` (:data:`_V4_BASE`). This module
reads the networks lists hold (one with :func:`_cidr`, thousands at once with
:func:`_cidrs`, in C when the native module is built) and writes one back as
lists write it (:func:`_show`); turns nested or repeated networks into sorted,
non-overlapping ranges where the most specific network wins (:func:`_flatten`),
the table every network source becomes; and keys client addresses
(:func:`address_keys`), to be matched against those tables with one ``join_asof``.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from loganalyzer.ingest import native

_V4_BASE = 0xFFFF << 32  # IPv4 a.b.c.d is keyed as ::ffff:a.b.c.d
_IPV4_RE = r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$"
_KEY = "_key"
_RANGE_SCHEMA: dict[str, pl.DataType] = {
    "start": pl.UInt128(),
    "end": pl.UInt128(),
    "category": pl.String(),
    "evidence": pl.String(),
    "provider": pl.String(),
    "confirmed": pl.Boolean(),
}


# --- networks, as lists write them ---------------------------------------------------


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text.strip(), strict=False)


# Plain dotted IPv4, with an optional prefix, no leading zeros (ipaddress refuses
# them: they read as octal elsewhere). ASCII digits only: socket.inet_aton
# refuses other scripts' digits with OSError, and ipaddress says ValueError.
_V4_CIDR = re.compile(
    r"((?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})"
    r"(?:/(3[0-2]|[12]?\d))?",
    re.ASCII,
)


def _cidr(text: str) -> tuple[int, int, str]:
    """A network's range as keyed here, and its text (:func:`_show`).

    Plain IPv4 is read with integer arithmetic: lists hold tens of thousands of
    networks, and ``ipaddress`` cost 0.2 s for 20,000 of them. Anything else
    takes ``ipaddress``, which raises ValueError for what is not a network.
    """
    m = _V4_CIDR.fullmatch(text.strip())
    if m is None:
        fast = _v6_cidr(text)
        if fast is not None:
            return fast
        net = _network(text)
        return (*_net_range(net), _show(net))
    prefix = int(m[2]) if m[2] is not None else 32
    mask = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
    lo = int.from_bytes(socket.inet_aton(m[1]), "big") & mask
    hi = lo | (~mask & 0xFFFFFFFF)
    return lo | _V4_BASE, hi | _V4_BASE, f"{socket.inet_ntoa(lo.to_bytes(4, 'big'))}/{prefix}"


# Plain IPv6 (hex digits and colons, no embedded IPv4 or zone), with an optional prefix.
_V6_CIDR = re.compile(r"([0-9A-Fa-f:]{2,39})(?:/([0-9]{1,3}))?", re.ASCII)


def _v6_cidr(text: str) -> tuple[int, int, str] | None:
    """:func:`_cidr` of plain IPv6 without ``ipaddress`` (37 us a network), or None.

    None leaves the text to ``ipaddress``: any other form, a prefix over 128, an
    address ``inet_pton`` refuses, and IPv4-mapped networks (shown as IPv4).
    ``tests/anonymity/test_anonymizers.py`` holds the two ways equal.
    """
    m = _V6_CIDR.fullmatch(text.strip())
    if m is None:
        return None
    prefix = int(m[2]) if m[2] is not None else 128
    if prefix > 128:
        return None
    try:
        value = int.from_bytes(socket.inet_pton(socket.AF_INET6, m[1]), "big")
    except OSError:
        return None
    host = (1 << (128 - prefix)) - 1
    start = value & ~host
    if prefix >= 96 and start >> 32 == 0xFFFF:
        return None
    return start, start | host, f"{_v6_text(start)}/{prefix}"


def _v6_text(value: int) -> str:
    """An IPv6 address as ``ipaddress`` writes it.

    The longest run of zero groups (two or more, the first of equals) as ``::``,
    and hex without leading zeros.
    """
    groups = [value >> (112 - 16 * i) & 0xFFFF for i in range(8)]
    best, best_len, run = -1, 1, 0
    for i, g in enumerate(groups):
        run = run + 1 if g == 0 else 0
        if run > best_len:
            best, best_len = i - run + 1, run
    words = [f"{g:x}" for g in groups]
    if best < 0:
        return ":".join(words)
    return ":".join(words[:best]) + "::" + ":".join(words[best + best_len :])


def _v6_shown(start: int, length: int) -> str:
    """An IPv6 network (host bits clear) as :func:`_show` writes it, without ``ipaddress``."""
    if length >= 96 and start >> 32 == 0xFFFF:
        return f"{socket.inet_ntoa((start & 0xFFFFFFFF).to_bytes(4, 'big'))}/{length - 96}"
    return f"{_v6_text(start)}/{length}"


_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# _V4_CIDR for Polars, one group per octet; [0-9], not \d: Rust's \d takes any
# script's digits (other scripts' go to _cidr, which refuses them).
_V4_CIDR_GROUPS = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}(?:/(3[0-2]|[12]?[0-9]))?$"


class _NotANetwork(ValueError):
    """The text at ``index`` is not an address or network."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


# What _cidrs reads each part of its texts into, each text by its index.
_CIDR_SCHEMA = pl.Schema(
    {"i": pl.UInt32, "start": pl.UInt128, "end": pl.UInt128, "shown": pl.String}
)


def _cidrs(texts: Sequence[str] | pl.Series) -> pl.DataFrame:
    """:func:`_cidr` of many texts: ``start``, ``end``, ``shown``, in their order.

    Plain networks are read all at once, the rest one by one with
    :func:`_cidr` (one by one, the benchmark's 20,000-network VPN list took
    0.25 s to load).

    Raises:
        _NotANetwork: for the first text that is not an address or network.
    """
    series = texts if isinstance(texts, pl.Series) else pl.Series(texts, dtype=pl.String)
    if native.enabled():
        found, ok = _plain_cidrs(series)
    else:
        found, ok = _plain_v4_cidrs(series)
    others: list[tuple[int, int, int, str]] = []
    for i in np.flatnonzero(~ok).tolist():
        try:
            others.append((i, *_cidr(series[i])))
        except ValueError:
            raise _NotANetwork(i) from None
    if not others:
        return found
    slow = pl.DataFrame(others, schema=_CIDR_SCHEMA, orient="row")
    index = slow["i"]
    return found.with_columns(found[c].scatter(index, slow[c]) for c in ("start", "end", "shown"))


# The prefix of a network as lists write it (ipaddress reads "08" as 8 too).
_PREFIX_DIGITS = r"^[0-9]{1,3}$"


def _plain_cidrs(texts: pl.Series) -> tuple[pl.DataFrame, np.ndarray]:
    """The networks :func:`_cidrs` reads at once, and which texts those are.

    The addresses are read in C (``ip_keys``, as ``inet_pton`` reads them), the
    prefixes (up to 32 or 128) by Polars; IPv4-mapped networks are left to
    :func:`_cidr`, which writes them as IPv4. The benchmark's VPN list of 20,000
    networks took 15.5 ms with a regular expression per family, 9.6 this way.
    """
    parts = texts.str.strip_chars().str.splitn("/", 2)
    address, given = parts.struct.field("field_0"), parts.struct.field("field_1")
    keys = native.address_keys(address)
    has = given.is_not_null().to_numpy()
    digits = given.str.contains(_PREFIX_DIGITS).fill_null(False).to_numpy()
    number = given.cast(pl.Int64, strict=False).fill_null(-1).to_numpy()
    v4 = keys.versions == 4
    width = np.where(v4, 32, 128)
    length = np.where(has, number, width)
    ok4 = v4 & (~has | (digits & (number <= 32)))
    ok6 = (keys.versions == 6) & (~has | (digits & (number <= 128)))
    hi_host, lo_host = _host_bits(np.clip(width - length, 0, 128))
    hi, lo = keys.hi & ~hi_host, keys.lo & ~lo_host
    ok6 &= ~((length >= 96) & (hi == 0) & (lo >> np.uint64(32) == 0xFFFF))
    ok = ok4 | ok6
    versions = np.where(ok, keys.versions, 0).astype(np.int8)
    v6_text = pl.Series(native.v6_texts(hi[ok6], lo[ok6]), dtype=pl.String)
    low = pl.Series((lo & np.uint64(0xFFFFFFFF)).astype(np.int64))
    shown = pl.select(
        pl.when(pl.lit(pl.Series(ok4))).then(_v4_text(pl.lit(low))).alias("shown")
    ).to_series()
    shown = shown.scatter(np.flatnonzero(ok6), v6_text) + "/" + pl.Series(length).cast(pl.String)
    found = pl.DataFrame(
        {
            "start": native.AddressKeys(versions, hi, lo).keys(),
            "end": native.AddressKeys(versions, hi | hi_host, lo | lo_host).keys(),
            "shown": shown.set(pl.Series(~ok), None),
        }
    )
    return found, ok


def _plain_v4_cidrs(texts: pl.Series) -> tuple[pl.DataFrame, np.ndarray]:
    """:func:`_plain_cidrs` without the native module: plain IPv4 by Polars expressions."""
    frame = pl.DataFrame({"t": texts})
    m = pl.col("t").str.strip_chars().str.extract_groups(_V4_CIDR_GROUPS)
    frame = frame.with_columns(m.alias("m"))
    ok = frame.select(pl.col("m").struct.field("1").is_not_null()).to_series()
    octet = [pl.col("m").struct.field(str(k)).cast(pl.Int64) for k in (1, 2, 3, 4)]
    prefix = pl.col("m").struct.field("5").cast(pl.Int64).fill_null(32)
    address = octet[0] * (1 << 24) + octet[1] * (1 << 16) + octet[2] * (1 << 8) + octet[3]
    size = pl.lit(2, pl.Int64).pow(32 - prefix)
    lo = address - address % size
    found = frame.select(
        (lo + _V4_BASE).cast(pl.UInt128).alias("start"),
        (lo + size - 1 + _V4_BASE).cast(pl.UInt128).alias("end"),
        (_v4_text(lo) + "/" + prefix.cast(pl.String)).alias("shown"),
    )
    return found, ok.to_numpy()


def _net_range(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int]:
    lo, hi = int(net.network_address), int(net.broadcast_address)
    if net.version == 4:
        return lo | _V4_BASE, hi | _V4_BASE
    return lo, hi


def _show(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """A network as written, unwrapping IPv4-mapped IPv6 (``::ffff:1.2.3.0/120``)."""
    if net.version == 6 and net.prefixlen >= 96:
        mapped = net.network_address.ipv4_mapped
        if mapped is not None:
            return f"{mapped}/{net.prefixlen - 96}"
    return str(net)


def _v4_text(value: pl.Expr) -> pl.Expr:
    """Dotted text of IPv4 addresses (integers below 2**32)."""
    octets = ((value // (1 << b)) % 256 for b in (24, 16, 8, 0))
    return pl.concat_str(*(o.cast(pl.String) for o in octets), separator=".")


def _host_bits(host: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The host bits of 128-bit networks, as masks of their first and last 64 bits.

    ``host`` is how many low bits each network leaves to hosts (0 to 128).
    """
    return _low_ones(np.maximum(host - 64, 0)), _low_ones(np.minimum(host, 64))


def _low_ones(n: np.ndarray) -> np.ndarray:
    """Unsigned 64-bit words with their ``n`` (0 to 64) lowest bits set."""
    ones = (np.uint64(1) << np.minimum(n, 63).astype(np.uint64)) - np.uint64(1)
    return np.where(n >= 64, ~np.uint64(0), ones).astype(np.uint64)


# --- nested networks as disjoint ranges ----------------------------------------------


@dataclass(frozen=True)
class _Entry:
    start: int
    end: int
    category: str
    evidence: str
    provider: str | None
    confirmed: bool
    rank: int = 0  # among entries for the same network, the lower wins


_ENTRY_COLUMNS = ["start", "end", "category", "evidence", "provider", "confirmed", "rank"]


def _flatten_frame(entries: pl.DataFrame) -> pl.DataFrame:
    """:func:`_flatten` of entries as a frame (the columns of :class:`_Entry`).

    Most lists have no network inside another: then sorting and dropping
    repeats is the whole of it, done by Polars; otherwise the sweep runs.
    """
    best = entries
    if entries.select(pl.struct("start", "end").is_duplicated().any()).item():
        # Sorting the evidence text was most of the time of lists without repeats.
        best = entries.sort("rank", "evidence").unique(["start", "end"], keep="first")
    ordered = best.sort("start", pl.col("end"), descending=[False, True])
    nested = ordered.select((pl.col("end").shift(1).cum_max() >= pl.col("start")).any()).item()
    if nested:
        # The sweep of _flatten over plain numbers, the rest gathered after
        # (cloud lists nest: building an _Entry per network cost 0.03 s of 0.05).
        pieces = _sweep(ordered["start"].to_list(), ordered["end"].to_list())
        starts, ends, which = zip(*pieces, strict=True) if pieces else ((), (), ())
        ordered = ordered[list(which)].with_columns(
            pl.Series("start", starts, pl.UInt128), pl.Series("end", ends, pl.UInt128)
        )
    return ordered.select(pl.col(c).cast(t) for c, t in _RANGE_SCHEMA.items())


def _sweep(starts: list[int], ends: list[int]) -> list[tuple[int, int, int]]:
    """Disjoint pieces ``(start, end, index)`` of networks sorted by start, then widest first.

    Each address gets the innermost network holding it (see :func:`_flatten`).
    """
    out: list[tuple[int, int, int]] = []
    stack: list[int] = []
    cursor = 0
    for i, start in enumerate(starts):
        while stack and ends[stack[-1]] < start:
            top = stack.pop()
            if cursor <= ends[top]:
                out.append((cursor, ends[top], top))
            cursor = ends[top] + 1
        if stack and cursor < start:
            out.append((cursor, start - 1, stack[-1]))
        stack.append(i)
        cursor = start
    while stack:
        top = stack.pop()
        if cursor <= ends[top]:
            out.append((cursor, ends[top], top))
        cursor = ends[top] + 1
    return out


def _flatten(entries: Iterable[_Entry]) -> pl.DataFrame:
    """Turn nested or repeated networks into disjoint ranges, most specific first.

    CIDR networks are either nested or disjoint, so one sweep with a stack of the
    networks still open gives every address the innermost network holding it
    (:func:`_flatten_frame`, :func:`_sweep`).
    """
    rows = [tuple(getattr(e, c) for c in _ENTRY_COLUMNS) for e in entries]
    schema = {**_RANGE_SCHEMA, "rank": pl.Int64()}
    return _flatten_frame(pl.DataFrame(rows, schema=schema, orient="row"))


# --- addresses ----------------------------------------------------------------------


def _key_of(text: str) -> int:
    ip = ipaddress.ip_address(text.strip())
    return int(ip) | _V4_BASE if ip.version == 4 else int(ip)


def _v6_key(text: str) -> int:
    # Canonical IPv6 (what the clients are by now) through inet_pton, some ten
    # times faster than ipaddress; anything else (zone ids, dotted tails) there.
    if ":" in text and "." not in text and "%" not in text:
        try:
            return int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
        except OSError:
            pass
    return _key_of(text)


def address_keys(ips: pl.Series) -> pl.Series:
    """128-bit keys of canonical addresses; IPv4 as IPv4-mapped IPv6, null if invalid.

    Dotted IPv4 is converted with Polars expressions; anything else goes through
    :mod:`ipaddress` once per distinct string.

    Example:
        >>> address_keys(pl.Series(["1.2.3.4", "::ffff:1.2.3.4", "x"])).to_list()[0] == (
        ...     0xFFFF << 32 | 0x01020304)
        True
    """
    if native.enabled():
        # Plain addresses in C; what it does not read, below as before.
        read = native.address_keys(ips).keys()
        if not read.is_null().any():
            return read.rename(_KEY)
        rest = ips.filter(read.is_null())
        return read.scatter(read.is_null().arg_true(), _address_keys(rest)).rename(_KEY)
    return _address_keys(ips)


def _address_keys(ips: pl.Series) -> pl.Series:
    frame = ips.rename("ip").to_frame()
    octets = pl.col("ip").str.extract_groups(_IPV4_RE)
    parts = [octets.struct.field(str(i)).cast(pl.UInt128, strict=False) for i in (1, 2, 3, 4)]
    ok = pl.all_horizontal([pt <= 255 for pt in parts]).fill_null(False)
    v4 = (
        pl.lit(_V4_BASE, pl.UInt128)
        + parts[0] * (1 << 24)
        + parts[1] * (1 << 16)
        + parts[2] * 256
        + parts[3]
    )
    keyed = frame.with_columns(pl.when(ok).then(v4).alias(_KEY))
    others = keyed.filter(pl.col(_KEY).is_null() & pl.col("ip").is_not_null())["ip"].unique()
    slow: dict[str, int | None] = {}
    for text in others.to_list():
        try:
            slow[text] = _v6_key(text)
        except ValueError:
            slow[text] = None
    if slow:
        lookup = pl.DataFrame(
            {"ip": list(slow), "_slow": list(slow.values())},
            schema={"ip": pl.String, "_slow": pl.UInt128},
        )
        keyed = keyed.join(lookup, on="ip", how="left", maintain_order="left").with_columns(
            pl.coalesce(_KEY, "_slow").alias(_KEY)
        )
    return keyed[_KEY].rename(_KEY)


__all__ = [
    "address_keys",
]
