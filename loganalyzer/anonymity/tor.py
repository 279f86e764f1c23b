"""Tor exit lists: the bulk list, TorDNSEL ``exit-addresses`` and Onionoo details JSON.

Tor lists hold exact addresses, not networks. TorDNSEL and Onionoo also say when
each exit was seen: a request then counts as through that exit only within a
slack of it (:data:`DEFAULT_TOR_SLACK`), tested against the client's first and
last request by :func:`loganalyzer.anonymity.verdict.classify`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from loganalyzer import schema as S
from loganalyzer.anonymity.files import SourceInfo, _info, _Loaded, _parse_json, _read_text
from loganalyzer.anonymity.networks import _KEY, _key_of
from loganalyzer.errors import SourceError
from loganalyzer.ingest import native

DEFAULT_TOR_SLACK = timedelta(hours=24)
"""How far from a measured exit time a request still counts as through that exit."""

_EXACT_SCHEMA: dict[str, pl.DataType] = {
    _KEY: pl.UInt128(),
    "valid_from": S.DATETIME,
    "valid_to": S.DATETIME,
    "category": pl.String(),
    "evidence": pl.String(),
    "provider": pl.String(),
    "confirmed": pl.Boolean(),
}


def _tor_time(text: str) -> datetime:
    return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def load_tor(path: str | Path, *, slack: timedelta = DEFAULT_TOR_SLACK) -> _Loaded:
    """Read a Tor exit list: bulk list, TorDNSEL ``exit-addresses`` or Onionoo JSON.

    TorDNSEL gives the time each exit address was measured: a request counts as
    through that exit only within ``slack`` of a measurement. Onionoo gives each
    relay's first and last seen; its ``exit_addresses`` are confirmed, its other
    ``or_addresses`` (how IPv6 exits are covered) only suspected. The bulk list
    has no times: it says "an exit now", and its age is what the freshness check
    in the report looks at.

    Args:
        path: the list.
        slack: how far from a measured time a request still counts.

    Returns:
        The loaded source (exact addresses with their time windows).

    Raises:
        SourceError: for a missing file or one in none of these formats.
    """
    p, data, text = _read_text(path, "a Tor exit list (bulk list, exit-addresses, Onionoo)")
    if text.lstrip().startswith("{"):
        return _load_onionoo(p, data, text, slack)
    # An archived TorDNSEL file can hold no exit at all, only its header.
    if text.startswith("@type tordnsel") or any(
        line.startswith("ExitAddress ") for line in text.splitlines()
    ):
        return _load_tordnsel(p, data, text, slack)
    kept = [
        (n, line)
        for n, raw in enumerate(text.splitlines(), 1)
        if (line := raw.split("#", 1)[0].strip())
    ]
    # Plain addresses in C (a tenth of the time of ipaddress); the rest there.
    read = (
        native.address_keys(pl.Series([line for _, line in kept], dtype=pl.String)).keys()
        if native.enabled()
        else pl.Series([None] * len(kept), dtype=pl.UInt128)
    )
    rows: list[dict[str, Any]] = []
    for (n, line), key in zip(kept, read.to_list(), strict=True):
        if key is None:
            try:
                key = _key_of(line)
            except ValueError:
                raise SourceError(
                    p, f"line {n}: {line[:60]!r} is not an address; expected a Tor exit list"
                ) from None
        rows.append({_KEY: key, "evidence": "tor-exits:bulk-list", "confirmed": True})
    return _tor_loaded(p, data, rows, kind="tor-bulk-list")


def _tor_loaded(p: Path, data: bytes, rows: list[dict[str, Any]], *, kind: str) -> _Loaded:
    frame = pl.DataFrame(
        [
            {"valid_from": None, "valid_to": None, **r, "category": "tor_exit", "provider": "Tor"}
            for r in rows
        ],
        schema=_EXACT_SCHEMA,
    )
    dates = [r["valid_to"] for r in rows if r.get("valid_to") is not None]
    date = max(dates).strftime("%Y-%m-%dT%H:%M:%SZ") if dates else None
    entries = frame[_KEY].n_unique() if frame.height else 0
    info = _info(
        p, data, name="tor-exits", kind=kind, entries=entries, date=date, category="tor_exit"
    )
    return _Loaded(info, exact=frame)


def _load_tordnsel(p: Path, data: bytes, text: str, slack: timedelta) -> _Loaded:
    rows: list[dict[str, Any]] = []
    newest: datetime | None = None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.startswith("ExitAddress "):
            continue
        parts = line.split(None, 2)
        try:
            key = _key_of(parts[1])
            when = _tor_time(parts[2])
        except (ValueError, IndexError):
            raise SourceError(
                p,
                f"line {n}: cannot read {line[:80]!r}; "
                "expected 'ExitAddress IP YYYY-MM-DD HH:MM:SS'",
            ) from None
        newest = when if newest is None or when > newest else newest
        rows.append(
            {
                _KEY: key,
                "valid_from": when - slack,
                "valid_to": when + slack,
                "evidence": f"tor-exits:exit-addresses ({when:%Y-%m-%d %H:%M}Z)",
                "confirmed": True,
            }
        )
    loaded = _tor_loaded(p, data, rows, kind="tordnsel")
    date = newest.strftime("%Y-%m-%dT%H:%M:%SZ") if newest else None
    info = SourceInfo(**{**loaded.info.as_dict(), "date": date})
    return _Loaded(info, exact=loaded.exact)


def _load_onionoo(p: Path, data: bytes, text: str, slack: timedelta) -> _Loaded:
    doc = _parse_json(p, text)
    if not isinstance(doc, dict) or not isinstance(doc.get("relays"), list):
        raise SourceError(p, "is JSON but not an Onionoo details document (no 'relays' list)")
    rows: list[dict[str, Any]] = []
    for relay in doc["relays"]:
        if not isinstance(relay, dict) or "Exit" not in (relay.get("flags") or []):
            continue
        try:
            first = _tor_time(relay["first_seen"]) - slack
            last = _tor_time(relay["last_seen"]) + slack
        except (KeyError, ValueError, TypeError):
            raise SourceError(
                p, f"relay {relay.get('fingerprint', '?')!r}: no readable first_seen/last_seen"
            ) from None
        seen = f"{relay['first_seen'][:10]}..{relay['last_seen'][:10]}"
        name = f"relay {relay.get('nickname', '?')}, seen {seen}"
        exits = {str(a) for a in relay.get("exit_addresses") or []}
        ors = {str(a).rsplit(":", 1)[0].strip("[]") for a in relay.get("or_addresses") or []}
        for addr, confirmed in [
            *((a, True) for a in sorted(exits)),
            *((a, False) for a in sorted(ors - exits)),
        ]:
            try:
                key = _key_of(addr)
            except ValueError:
                raise SourceError(
                    p, f"relay {relay.get('nickname', '?')!r}: bad address {addr!r}"
                ) from None
            what = "exit_address" if confirmed else "or_address of an exit relay"
            rows.append(
                {
                    _KEY: key,
                    "valid_from": first,
                    "valid_to": last,
                    "evidence": f"tor-exits:onionoo {what} ({name})",
                    "confirmed": confirmed,
                }
            )
    loaded = _tor_loaded(p, data, rows, kind="onionoo")
    date = doc.get("relays_published")
    info = SourceInfo(**{**loaded.info.as_dict(), "date": str(date) if date else None})
    return _Loaded(info, exact=loaded.exact)


__all__ = [
    "DEFAULT_TOR_SLACK",
    "load_tor",
]
