"""A folder of sources (``--sources-dir``): each file's kind told by its content.

Files are recognised by what they hold, whatever their names: an MMDB by its
metadata, an IP2Proxy BIN by its header, AWS, Google, Azure and Oracle range
files and Onionoo details by their JSON keys, a MISP warninglist by its
``list``, TorDNSEL by its ``ExitNode`` lines, an ``ASN,category,note`` list,
an RFC 8805 geofeed, and plain address lists. A plain list or a geofeed says
nothing of what it lists, so its category comes from its folder
(``lists/CATEGORY/``) or from a category in its name (``vpn-ips.txt``,
``tor-exits.txt``); a geofeed with none is a relay's egress list (Apple's iCloud
Private Relay publishes one), a privacy relay.
Whatever is not recognised is listed with the reason, never silently ignored
(``sources info`` shows both).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import maxminddb

from loganalyzer import schema as S
from loganalyzer.anonymity.categories import VPN_OR_DATACENTER
from loganalyzer.anonymity.ip2proxy import looks_like_ip2proxy
from loganalyzer.anonymity.ip_lists import _looks_like_geofeed
from loganalyzer.errors import SourceError

ENV_SOURCES_DIR = "LOGANALYZER_SOURCES_DIR"

_MMDB_MARKER = b"\xab\xcd\xefMaxMind.com"
_HEAD_BYTES = 64 * 1024
_ADDRESS = re.compile(r"^[0-9A-Fa-f:.]+(/\d{1,3})?$")
_ASN_ROW = re.compile(r"^\s*(AS)?\d+\s*,\s*[A-Za-z_]+\s*(,.*)?$", re.IGNORECASE)
_CATEGORY_WORDS = {
    **{c: c for c in S.ANON_CATEGORIES},
    **S.ANON_CATEGORY_ALIASES,
    "vpns": "vpn",
    "proxies": "public_proxy",
    "datacenter": "hosting",
    "datacenters": "hosting",
}


@dataclass
class Found:
    """What a folder holds: files to load by kind, and files skipped with a reason."""

    anon_db: list[Path] = field(default_factory=list)
    ip2proxy: list[Path] = field(default_factory=list)
    tor_exits: list[Path] = field(default_factory=list)
    cloud_ranges: list[Path] = field(default_factory=list)
    ip_lists: list[tuple[str | None, Path]] = field(default_factory=list)
    asn_list: list[tuple[None, Path]] = field(default_factory=list)
    kinds: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def __getitem__(self, key: str) -> list[Any]:
        # The loader reads the lists by kind name.
        value: list[Any] = getattr(self, key)
        return value


def _category_in_name(name: str) -> str | None:
    words = re.split(r"[^a-z]+", name.lower())
    if "vpn" in words and {"datacenter", "datacenters"} & set(words):
        # X4BNet's "VPNs and datacenters" list (sources update names it so).
        return VPN_OR_DATACENTER
    found = [_CATEGORY_WORDS[w] for w in words if w in _CATEGORY_WORDS]
    return found[0] if found else None


def _mmdb_kind(f: Path) -> str:
    """``anon_db``, or why an MMDB is not an anonymizer database."""
    try:
        with maxminddb.open_database(str(f)) as reader:
            kind = str(reader.metadata().database_type)
    except (maxminddb.InvalidDatabaseError, ValueError, OSError) as exc:
        return f"skip:an MMDB that cannot be read ({exc})"
    if "anonymous" in kind.lower() or "residential-proxy" in kind.lower():
        return "anon_db"
    return (
        f"skip:an MMDB of type {kind}, not an anonymizer database (use it with --city-db/--asn-db)"
    )


def _json_kind(f: Path) -> str:
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        return f"skip:JSON that cannot be read ({exc})"
    if not isinstance(doc, dict):
        return "skip:JSON of no known source kind"
    keys = set(doc)
    if {"syncToken", "prefixes"} <= keys or {"creationTime", "prefixes"} <= keys:
        return "cloud_ranges"
    if {"changeNumber", "values"} <= keys or "last_updated_timestamp" in keys:
        return "cloud_ranges"
    if "relays" in keys:
        return "tor_exits"
    if "list" in keys and "name" in keys:
        return f"misp:{doc['name']}"  # a MISP warninglist: its category is in its name
    return "skip:JSON of no known source kind (AWS, Google, Azure, Oracle, Onionoo, MISP)"


def _text_kind(f: Path, head: bytes) -> str:
    lines = [
        ln.strip()
        for ln in head.decode("utf-8", "replace").splitlines()
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    if not lines:
        return "skip:empty, or only comments"
    if any(ln.startswith("ExitNode ") for ln in lines[:50]):
        return "tor_exits"
    if lines[0].lower().replace(" ", "").startswith("asn,category") or all(
        _ASN_ROW.match(ln) for ln in lines[:20]
    ):
        return "asn_list"
    rows = [ln.split(",") for ln in lines[:20]]
    if all(len(r) >= 4 and _ADDRESS.match(r[0].strip()) for r in rows) and _looks_like_geofeed(
        lines[:20]
    ):
        return "geofeed"
    if all(_ADDRESS.match(ln.split()[0]) for ln in lines[:50]):
        return "plain"
    return "skip:not a source: no known list, range file or database format"


def recognise(f: Path) -> str:
    """The kind of one source file from its content: a kind name or ``skip:<why>``."""
    try:
        size = f.stat().st_size
        with f.open("rb") as handle:
            head = handle.read(_HEAD_BYTES)
            handle.seek(max(0, size - 128 * 1024))
            tail = handle.read()
    except OSError as exc:
        return f"skip:cannot be read ({exc.strerror})"
    if _MMDB_MARKER in tail:
        return _mmdb_kind(f)
    if looks_like_ip2proxy(head):
        return "ip2proxy"
    if f.name.lower().startswith(("torbulkexitlist", "exit-addresses")):
        # The Tor Project's own files: a bulk list is only addresses, which by
        # content alone could be any list; its name is the Tor Project's.
        return "tor_exits"
    if head.lstrip()[:1] in (b"{", b"["):
        return _json_kind(f)
    return _text_kind(f, head)


def _scan_dir(d: Path) -> Found:
    if not d.is_dir():
        raise SourceError(d, "sources directory does not exist")
    found = Found()
    for f in sorted(d.iterdir()):
        # manifest.json is what `sources update` wrote about the files beside it.
        if not f.is_file() or f.name.startswith(".") or f.name == "manifest.json":
            continue
        kind = recognise(f)
        if kind in ("plain", "geofeed") or kind.startswith("misp:"):
            listed = kind.removeprefix("misp:") if kind.startswith("misp:") else ""
            category = _category_in_name(f.name) or _category_in_name(listed)
            if kind == "geofeed" and category is None:
                # A geofeed among anonymizer sources is a relay's egress list
                # (Apple's iCloud Private Relay publishes one).
                category = "privacy_relay"
            if category is None:
                found.skipped.append(
                    (f, "an address list whose category is not in its name: put it in "
                        "lists/CATEGORY/ or name it e.g. vpn-ips.txt")
                )  # fmt: skip
                continue
            what = "MISP warninglist" if listed else kind
            found.ip_lists.append((category, f))
            found.kinds.append((f, f"{what} ({category})"))
        elif kind == "asn_list":
            found.asn_list.append((None, f))
            found.kinds.append((f, "ASN list"))
        elif kind.startswith("skip:"):
            found.skipped.append((f, kind.removeprefix("skip:")))
        else:
            getattr(found, kind).append(f)
            found.kinds.append((f, kind.replace("_", " ")))
    lists = d / "lists"
    if lists.is_dir():
        for sub in sorted(lists.iterdir()):
            if sub.is_dir():
                for f in sorted(sub.iterdir()):
                    if f.is_file():
                        found.ip_lists.append((sub.name, f))
                        found.kinds.append((f, f"list ({sub.name})"))
    return found


__all__ = ["ENV_SOURCES_DIR", "Found", "recognise"]
