"""The built-in lists: MISP warninglists from ``pymispwarninglists`` (``loganalyzer[sources]``).

With the extra installed, a report judges addresses with no file given: the
VPN/datacenter list (X4BNet's, as ``vpn-ipv4``/``vpn-ipv6``), the cloud
providers' own ranges, the known internet scanners and the crawlers
(:data:`BUILTIN_LISTS` says which list means what; docs/anonymizers.md has the
table). The package is never imported: its JSON files are found beside it and
read as any MISP list (:func:`load_builtin`).

Parsing the 45,000 networks on every run cost 0.3 s; the tables are kept in
the source cache as one Parquet entry (:func:`_bundle_entry`), keyed by the
package's version and the lists' sizes: an installed package's files change
only with its version, and hashing 5 MB of JSON each run would cost more than
reading the entry back.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from loganalyzer.anonymity.cache import _CACHE_FORMAT, _prune
from loganalyzer.anonymity.categories import VPN_OR_DATACENTER
from loganalyzer.anonymity.files import SourceInfo, _Loaded
from loganalyzer.anonymity.ip_lists import load_ip_list

PACKAGE = "pymispwarninglists"
EXTRA_HINT = "pip install 'loganalyzer[sources]'"
"""How to get the built-in lists, for the notes that say none is loaded."""


@dataclass(frozen=True)
class ListUse:
    """What one MISP list means here.

    Attributes:
        category: an anonymizer category or an actor type (``scanner``, ``crawler``).
        provider: the operator it names (the ``provider`` column), if any.
        confirmed: the operator's own list (cloud ranges, Googlebot), not a
            community list built from AS numbers (the VPN list).
    """

    category: str
    provider: str | None
    confirmed: bool


_HOSTING = {
    "amazon-aws": "Amazon AWS",
    "google-gcp": "Google Cloud",
    "microsoft-azure": "Microsoft Azure",
    "microsoft-azure-china": "Microsoft Azure China",
    "microsoft-azure-germany": "Microsoft Azure Germany",
    "microsoft-azure-us-gov": "Microsoft Azure US Government",
    "ovh-cluster": "OVH",
    "cloudflare": "Cloudflare",
    "akamai": "Akamai",
    "fastly": "Fastly",
    # A corporate web gateway: its users' requests leave from these ranges.
    "zscaler": "Zscaler",
}
_CRAWLERS = {"googlebot": "Googlebot", "openai-gptbot": "OpenAI GPTBot"}
# A crawler's list that is also its operator's own address space: Googlebot's
# ranges are Google's (not Google Cloud's), and vpn-ipv4 holds them too; without
# this claim Googlebot would be a suspected VPN.
_ALSO = {"googlebot": ListUse("hosting", "Google", True)}
_SCANNER_NAME = re.compile(r"(-nt)?-(scanning|scanner)$|-cloud-ipv[46]$")
_SCANNERS_BY_NAME = {"shadowserver", "tenable-cloud-ipv4", "tenable-cloud-ipv6"}
_PROPER = {
    "censys": "Censys",
    "internet-census": "Internet Census",
    "ipinfo": "IPinfo",
    "ipip": "IPIP",
    "onyphe": "Onyphe",
    "rapid7": "Rapid7",
    "shodan": "Shodan",
}


def list_use(name: str) -> ListUse | None:
    """What a list of the package means here; None for lists not used.

    Example:
        >>> list_use("vpn-ipv4")
        ListUse(category='vpn_or_datacenter', provider=None, confirmed=False)
        >>> list_use("shodan-nt-scanning")
        ListUse(category='scanner', provider='Shodan', confirmed=True)
        >>> list_use("public-dns-v4") is None
        True
    """
    if name in ("vpn-ipv4", "vpn-ipv6"):
        # "VPN providers and datacenters", built from AS numbers: suspected, and
        # second to a cloud's own range (categories.VPN_OR_DATACENTER).
        return ListUse(VPN_OR_DATACENTER, None, False)
    if name in _HOSTING:
        return ListUse("hosting", _HOSTING[name], True)
    if name in _CRAWLERS:
        return ListUse("crawler", _CRAWLERS[name], True)
    if name in _SCANNERS_BY_NAME or _SCANNER_NAME.search(name):
        stem = _SCANNER_NAME.sub("", name)
        provider = _PROPER.get(stem) or stem.replace("-", " ").title()
        return ListUse("scanner", provider, True)
    return None


def _lists_dir() -> Path | None:
    """The folder of the package's lists, without importing it; None when not installed."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        lists = Path(root) / "data" / "misp-warninglists" / "lists"
        if lists.is_dir():
            return lists
    return None


def available() -> bool:
    """Whether the built-in lists are installed (``loganalyzer[sources]``)."""
    return _lists_dir() is not None


def needs_sources() -> str:
    """The error for anonymizer columns asked for with no source loaded."""
    hint = "" if available() else f", or {EXTRA_HINT} for built-in lists"
    return (
        "anonymizer columns need sources: --anon-db, --ip2proxy, --tor-exits, --ip-list, "
        f"--cloud-ranges, --asn-list or --sources-dir{hint}"
    )


def package_version() -> str | None:
    """The installed version of the lists' package, or None."""
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None


def _used_lists(lists: Path) -> Iterator[tuple[str, Path, ListUse]]:
    for d in sorted(lists.iterdir()):
        use = list_use(d.name)
        f = d / "list.json"
        if use is not None and f.is_file():
            yield d.name, f, use
            if d.name in _ALSO:
                yield d.name, f, _ALSO[d.name]


def load_builtin(cache: Path | None) -> list[_Loaded]:
    """The built-in lists as loaded sources, one per list (none when not installed).

    Args:
        cache: the source cache folder, or None to parse every time.
    """
    lists = _lists_dir()
    if lists is None:
        return []
    used = list(_used_lists(lists))
    version = package_version() or "unknown"
    entry = _bundle_entry(cache, version, used) if cache is not None else None
    if entry is not None and entry.is_file():
        try:
            return _read_bundle(entry, used)
        except (OSError, KeyError, ValueError, pl.exceptions.PolarsError):
            pass  # a damaged entry is made again below
    loaded = [_load_one(name, f, use, version) for name, f, use in used]
    loaded = [s for s in loaded if s.info.entries]
    if entry is not None:
        _write_bundle(entry, loaded)
    return loaded


def _load_one(name: str, f: Path, use: ListUse, version: str) -> _Loaded:
    src = load_ip_list(f, category=use.category)
    assert src.ranges is not None
    date = src.info.date
    claim = "vpn" if use.category == VPN_OR_DATACENTER else use.category
    label = f"misp:{name} v{date} {claim} (" if date else f"misp:{name} {claim} ("
    # The list's short name and version: "misp:vpn-ipv4 v20251223 vpn (1.12.0.0/14)".
    ranges = src.ranges.with_columns(
        pl.col("evidence").str.replace(r"^misp:.* \(", label, literal=False),
        pl.lit(use.provider, pl.String).alias("provider"),
        pl.lit(use.confirmed).alias("confirmed"),
    )
    info = SourceInfo(
        **{
            **src.info.as_dict(),
            "name": f"misp:{name}",
            "kind": "misp-warninglist",
            "package": f"{PACKAGE} {version}",
        }
    )
    return _Loaded(info, ranges=ranges)


def _bundle_entry(cache: Path, version: str, used: list[tuple[str, Path, ListUse]]) -> Path:
    import hashlib

    sizes = []
    for name, f, use in used:
        try:
            sizes.append(f"{name}:{f.stat().st_size}:{use}")
        except OSError:
            sizes.append(f"{name}:?")
    key = hashlib.sha256("\n".join([version, *sizes]).encode()).hexdigest()
    return cache / f"{key}-builtin-v{_CACHE_FORMAT}.parquet"


_SRC = "_src"


def _write_bundle(entry: Path, loaded: list[_Loaded]) -> None:
    frames = [
        s.ranges.with_columns(pl.lit(i, pl.UInt16).alias(_SRC))
        for i, s in enumerate(loaded)
        if s.ranges is not None
    ]
    infos = [s.info.as_dict() for s in loaded]
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_suffix(f".{os.getpid()}.tmp")
        pl.concat(frames).write_parquet(tmp, metadata={"loganalyzer-builtin": json.dumps(infos)})
        os.replace(tmp, entry)
        _prune(entry.parent)
    except OSError:
        pass  # the cache only saves time


def _read_bundle(entry: Path, used: list[tuple[str, Path, ListUse]]) -> list[_Loaded]:
    os.utime(entry)  # in use: not pruned
    infos = json.loads(pl.read_parquet_metadata(entry)["loganalyzer-builtin"])
    frame = pl.read_parquet(entry)
    parts = frame.partition_by(_SRC, as_dict=True, include_key=False)
    out = []
    for i, info in enumerate(infos):
        # Each list its own name in the merged verdicts' key (sources._merged_entry).
        cached = entry.with_name(f"{entry.name}#{i}:{info['name']}")
        ranges = parts.get((i,), frame.clear().drop(_SRC))
        out.append(_Loaded(SourceInfo(**info), ranges=ranges, cached=cached))
    return out


__all__ = [
    "EXTRA_HINT",
    "PACKAGE",
    "ListUse",
    "available",
    "list_use",
    "load_builtin",
    "needs_sources",
]
