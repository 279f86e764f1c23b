"""A folder of sources (``--sources-dir``): each file's kind told by its name.

MMDBs, Tor lists, cloud range files, Apple's relay egress list and
``asn-list.csv`` at the top; address lists in ``lists/CATEGORY/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import maxminddb

from loganalyzer.errors import SourceError

ENV_SOURCES_DIR = "LOGANALYZER_SOURCES_DIR"


_CLOUD_NAMES = ("ip-ranges.json", "cloud.json", "public_ip_ranges.json")


def _scan_dir(d: Path) -> dict[str, list[Any]]:
    if not d.is_dir():
        raise SourceError(d, "sources directory does not exist")
    found: dict[str, list[Any]] = {
        k: [] for k in ("anon_db", "tor_exits", "cloud_ranges", "ip_lists", "asn_list")
    }
    for f in sorted(d.iterdir()):
        name = f.name.lower()
        if not f.is_file():
            continue
        if name.endswith(".mmdb"):
            try:
                with maxminddb.open_database(str(f)) as reader:
                    kind = str(reader.metadata().database_type).lower()
            except (maxminddb.InvalidDatabaseError, ValueError, OSError):
                continue
            if "anonymous" in kind or "residential-proxy" in kind:
                found["anon_db"].append(f)
        elif name.startswith(("torbulkexitlist", "exit-addresses", "onionoo")):
            found["tor_exits"].append(f)
        elif name in _CLOUD_NAMES or name.startswith("servicetags"):
            found["cloud_ranges"].append(f)
        elif name.startswith("egress-ip-ranges"):
            found["ip_lists"].append(("privacy_relay", f))
        elif name == "asn-list.csv":
            found["asn_list"].append((None, f))
    lists = d / "lists"
    if lists.is_dir():
        for sub in sorted(lists.iterdir()):
            if sub.is_dir():
                found["ip_lists"] += [(sub.name, f) for f in sorted(sub.iterdir()) if f.is_file()]
    return found


__all__ = [
    "ENV_SOURCES_DIR",
]
