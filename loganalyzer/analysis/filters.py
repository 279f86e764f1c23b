"""``--where`` filters: parsed from text once, applied as Polars expressions.

A filter on a request column (path, status, vhost, ...) is applied to requests
before they are reduced; a filter on an enrichment column (region_iso, asn, ...)
or on an address range is applied to the per-client lookup table, so it costs one
evaluation per distinct client, not per request.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from loganalyzer import schema as S
from loganalyzer.analysis.aggregate import GEO_COLUMNS, ROW_COLUMNS
from loganalyzer.errors import UsageError
from loganalyzer.geo.places import check_place

_OPS = ("!=", ">=", "<=", "=", "~", ">", "<")
_SPLIT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(!=|>=|<=|=|~|>|<)\s*(.*)$", re.DOTALL)
_ALIASES = {
    "ip": S.CLIENT_IP,
    "province": S.REGION_ISO,
    "region": S.REGION_ISO,
    "country": S.COUNTRY_ISO,
    "subregion": S.SUBREGION_ISO,
    "agent": S.USER_AGENT,
}
_PLACE_COLUMNS = {
    S.COUNTRY_ISO: False,
    S.REGISTERED_COUNTRY_ISO: False,
    S.REGION_ISO: True,
    S.SUBREGION_ISO: True,
}
"""ISO code columns, and whether they hold subdivisions (CN-LN) rather than countries."""
_INT_COLUMNS = {S.STATUS, S.BYTES, S.PORT, S.ASN, S.ACCURACY_RADIUS, S.IP_VERSION}


@dataclass(frozen=True)
class Filter:
    """One ``--where`` condition.

    Attributes:
        column: the column it tests.
        op: one of ``= != ~ > >= < <=`` (``~`` is a regular-expression search).
        values: the right-hand side; ``=`` and ``!=`` take a comma-separated list.
    """

    column: str
    op: str
    values: tuple[str, ...]

    @property
    def on_rows(self) -> bool:
        """Whether it applies to requests (else to the per-client lookup)."""
        return self.column in ROW_COLUMNS

    def expr(self) -> pl.Expr:
        """The condition as a Polars expression."""
        col = pl.col(self.column)
        if (
            self.column == S.CLIENT_IP
            and self.op in ("=", "!=")
            and any("/" in v for v in self.values)
        ):
            return _in_networks(self.values, negate=self.op == "!=")
        vals: list[object] = [_cast(self.column, v) for v in self.values]
        if self.op == "=":
            return col.is_in(vals).fill_null(False)
        if self.op == "!=":
            return (~col.is_in(vals)).fill_null(True)
        if self.op == "~":
            return col.cast(pl.String).str.contains(self.values[0]).fill_null(False)
        value = pl.lit(vals[0])
        cmp = {">": col > value, ">=": col >= value, "<": col < value, "<=": col <= value}[self.op]
        return cmp.fill_null(False)


def _cast(column: str, value: str) -> object:
    if column in _INT_COLUMNS:
        text = value.strip()
        if column == S.ASN and text.upper().startswith("AS"):
            text = text[2:]
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"--where {column} needs a whole number, got {value!r}") from None
    if column in (S.COUNTRY_ISO, S.REGION_ISO, S.SUBREGION_ISO, S.REGISTERED_COUNTRY_ISO):
        return value.strip().upper()
    return value


def _in_networks(values: Sequence[str], *, negate: bool) -> pl.Expr:
    try:
        nets = [ipaddress.ip_network(v.strip(), strict=False) for v in values]
    except ValueError as exc:
        raise UsageError(f"--where client_ip: {exc}") from None
    return pl.col(S.CLIENT_IP).map_batches(
        lambda ips: in_networks(ips, nets) != negate, return_dtype=pl.Boolean
    )


def in_networks(
    ips: pl.Series, nets: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> pl.Series:
    """Whether each canonical address lies in one of ``nets`` (null: False).

    Addresses become 128-bit keys once each and networks key ranges, so a filter
    over half a million clients is a few comparisons per network, not half a
    million Python ``ipaddress`` objects. An address only matches a network of
    its own version, as :mod:`ipaddress` has it.

    Example:
        >>> nets = [ipaddress.ip_network("175.167.0.0/16")]
        >>> in_networks(pl.Series(["175.167.9.9", "8.8.8.8", None]), nets).to_list()
        [True, False, False]
    """
    from loganalyzer.anonymity.networks import _net_range, address_keys

    frame = pl.DataFrame({"_k": address_keys(ips), "_v6": ips.str.contains(":", literal=True)})
    tests = []
    for net in nets:
        lo, hi = _net_range(net)
        tests.append(
            (pl.col("_v6") == (net.version == 6))
            & pl.col("_k").is_between(pl.lit(lo, pl.UInt128), pl.lit(hi, pl.UInt128))
        )
    found = frame.select(pl.any_horizontal(tests).fill_null(False)).to_series()
    return found.rename(ips.name)


def parse_filter(text: str) -> Filter:
    """Parse one ``COLUMN OP VALUE`` condition.

    Examples: ``region_iso=CN-LN``, ``status>=400``, ``client_ip=175.167.0.0/16``,
    ``path~^/admin``.

    Raises:
        UsageError: for a malformed condition or an unknown column.
    """
    m = _SPLIT.match(text)
    if not m:
        raise UsageError(
            f"cannot read --where {text!r}; write COLUMN=VALUE, e.g. region_iso=CN-LN "
            f"(operators: {' '.join(_OPS)})"
        )
    column, op, rhs = m.group(1), m.group(2), m.group(3)
    column = _ALIASES.get(column, column)
    if column not in ROW_COLUMNS and column not in GEO_COLUMNS:
        raise UsageError(f"--where: unknown column {column!r}")
    values = tuple(v for v in rhs.split(",")) if op in ("=", "!=") else (rhs,)
    if column in _PLACE_COLUMNS and op in ("=", "!="):
        # A misspelt place would match nothing and report a confident zero.
        values = tuple(
            check_place(v, option=f"--where {column}", subdivision=_PLACE_COLUMNS[column])
            for v in values
        )
    if column == S.ANONYMIZER:  # --where anonymizer=tor means tor_exit
        values = tuple(S.ANON_CATEGORY_ALIASES.get(v, v) for v in values)
    if column == S.ACTOR_TYPE and op in ("=", "!="):
        # A misspelt kind would match nothing and report a confident zero.
        known = (*S.ACTOR_TYPES, S.NONE_KNOWN)
        for v in values:
            if v not in known:
                raise UsageError(
                    f"--where actor_type: unknown {v!r}; use one of {', '.join(known)}"
                )
    if op == "~":
        # Polars runs Rust's regex engine (no look-around, no backreferences):
        # check the pattern there, not with Python's re.
        try:
            re.compile(rhs)
        except re.error as exc:
            raise UsageError(f"--where {column}~: bad regular expression ({exc})") from None
        try:
            pl.select(pl.lit("").str.contains(rhs))
        except pl.exceptions.PolarsError as exc:
            errors = [ln.strip() for ln in str(exc).splitlines() if ln.strip().startswith("error:")]
            why = errors[-1].removeprefix("error:").strip() if errors else "not supported"
            raise UsageError(f"--where {column}~: bad regular expression ({why})") from None
    return Filter(column, op, values)


def combine(filters: Sequence[Filter]) -> pl.Expr | None:
    """AND the filters together (None when there are none)."""
    if not filters:
        return None
    return pl.all_horizontal([f.expr() for f in filters])
