"""Downloading the public anonymizer lists: the one part of loganalyzer that uses the network.

``loganalyzer sources update DIR`` fetches the Tor exit lists, the cloud
providers' range files, Apple's iCloud Private Relay egress ranges and X4BNet's
VPN and VPN-and-datacenter lists into DIR,
under the names ``--sources-dir`` looks for. Each download is written to a
temporary file in DIR, checked by loading it with the loader a report would use
(and the format that name must hold), and only then renamed over the previous
copy: a failed or broken download never replaces a good file. ``manifest.json``
in DIR records, per source, where and when it came from, the HTTP status, the
sha256, the size, the entry count and a note on its terms.

Analysis never calls this module; only the ``sources update`` command does.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loganalyzer.errors import LogAnalyzerError, UsageError

MANIFEST = "manifest.json"
DEFAULT_TIMEOUT = 60.0
MAX_BYTES = 256 * 1024 * 1024  # larger than any of these lists; a runaway response stops here

_CLOUD_TERMS = (
    "published by the provider for its customers; free to use for filtering, "
    "check the provider's terms before redistributing"
)


_X4BNET = "https://raw.githubusercontent.com/X4BNet/lists_vpn/main"
_X4BNET_TERMS = (
    "X4BNet lists_vpn (MIT licence, copyright X4B); built from AS numbers, so suspected only"
)


@dataclass(frozen=True)
class Remote:
    """One public list and where ``--sources-dir`` expects it.

    Attributes:
        name: what ``--url NAME=URL`` and the messages call it.
        filename: the file's name in the sources folder.
        url: where it is published; None when there is no stable address
            (Azure's Service Tags file has a dated link: give it with ``--url``).
        kind: the format the file must load as (``SourceInfo.kind``).
        terms: a note on the licence or terms, for the manifest.
        category: the category a plain list is loaded with (its file name says
            the same to ``--sources-dir``).
    """

    name: str
    filename: str
    url: str | None
    kind: str
    terms: str
    category: str | None = None


REMOTES: tuple[Remote, ...] = (
    Remote(
        "tor-bulk",
        "torbulkexitlist",
        "https://check.torproject.org/torbulkexitlist",
        "tor-bulk-list",
        "The Tor Project's exit list service; public data",
    ),
    Remote(
        "tor-exit-addresses",
        "exit-addresses",
        "https://check.torproject.org/exit-addresses",
        "tordnsel",
        "The Tor Project's TorDNSEL measurements; public data",
    ),
    Remote(
        "aws",
        "ip-ranges.json",
        "https://ip-ranges.amazonaws.com/ip-ranges.json",
        "aws-ranges",
        f"Amazon Web Services IP address ranges: {_CLOUD_TERMS}",
    ),
    Remote(
        "google",
        "cloud.json",
        "https://www.gstatic.com/ipranges/cloud.json",
        "google-ranges",
        f"Google Cloud IP ranges: {_CLOUD_TERMS}",
    ),
    Remote(
        "oracle",
        "public_ip_ranges.json",
        "https://docs.oracle.com/iaas/tools/public_ip_ranges.json",
        "oracle-ranges",
        f"Oracle Cloud Infrastructure IP ranges: {_CLOUD_TERMS}",
    ),
    Remote(
        "azure",
        "ServiceTags_Public.json",
        None,
        "azure-ranges",
        "Microsoft Azure IP Ranges and Service Tags (Download Center, a new dated URL each "
        f"week): {_CLOUD_TERMS}",
    ),
    Remote(
        "icloud-relay",
        "egress-ip-ranges.csv",
        "https://mask-api.icloud.com/egress-ip-ranges.csv",
        "geofeed",
        "Apple iCloud Private Relay egress IP ranges, published for network operators; "
        "check Apple's terms before redistributing",
    ),
    # X4BNet's README names the two lists: output/vpn/ipv4.txt "strictly just known
    # VPN networks", output/datacenter/ipv4.txt "for VPNs and Datacenters".
    Remote(
        "x4bnet-vpn",
        "x4bnet-vpn-ipv4.txt",
        f"{_X4BNET}/output/vpn/ipv4.txt",
        "cidr-list",
        _X4BNET_TERMS,
        "vpn",
    ),
    Remote(
        "x4bnet-datacenter",
        "x4bnet-vpn-datacenter-ipv4.txt",
        f"{_X4BNET}/output/datacenter/ipv4.txt",
        "cidr-list",
        _X4BNET_TERMS,
        "vpn_or_datacenter",
    ),
)
"""Every list ``sources update`` knows, in the order it fetches them."""

REMOTE_NAMES = tuple(r.name for r in REMOTES)


@dataclass(frozen=True)
class FetchResult:
    """What happened to one source.

    Attributes:
        name: the source's name.
        path: the file in the sources folder (replaced only when ``ok``).
        url: where it was fetched from (None when skipped).
        ok: whether the new copy is in place.
        skipped: no URL to fetch from (Azure without ``--url``).
        error: why it failed or was skipped.
        entry: its manifest entry when ``ok``.
    """

    name: str
    path: Path
    url: str | None
    ok: bool
    skipped: bool = False
    error: str | None = None
    entry: Mapping[str, Any] | None = None


class _FetchFailed(Exception):
    def __init__(self, problem: str, status: int | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.status = status


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _download(url: str, timeout: float) -> tuple[int, bytes]:
    # Imported here: `import loganalyzer` stays light, and only this command uses HTTP.
    import http.client
    import urllib.error
    import urllib.request

    from loganalyzer._version import version

    request = urllib.request.Request(url, headers={"User-Agent": f"loganalyzer/{version()}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            # A file:// mirror has no HTTP status: what it read is the file.
            status = int(response.status) if response.status is not None else 200
            body = response.read(MAX_BYTES + 1)
            promised = response.headers.get("Content-Length", "")
    except urllib.error.HTTPError as exc:
        raise _FetchFailed(f"HTTP {exc.code} {exc.reason}", exc.code) from None
    except urllib.error.URLError as exc:
        raise _FetchFailed(f"cannot connect ({exc.reason})") from None
    except http.client.IncompleteRead as exc:
        raise _FetchFailed(f"the download ended early ({len(exc.partial):,} bytes)") from None
    except TimeoutError:
        raise _FetchFailed(f"no answer within {timeout:g} s") from None
    except (http.client.HTTPException, OSError) as exc:
        raise _FetchFailed(f"the download failed ({exc})") from None
    # A read with a size limit does not raise when the connection ends early.
    if promised.isdigit() and len(body) < int(promised):
        raise _FetchFailed(
            f"the download ended early ({len(body):,} of {int(promised):,} bytes)", status
        )
    if len(body) > MAX_BYTES:
        raise _FetchFailed(f"larger than {MAX_BYTES:,} bytes", status)
    if status != 200:
        raise _FetchFailed(f"HTTP {status}", status)
    return status, body


def _loader(remote: Remote) -> Callable[[Path], Any]:
    from loganalyzer.anonymity.cloud import load_cloud
    from loganalyzer.anonymity.ip_lists import load_ip_list
    from loganalyzer.anonymity.tor import load_tor

    if remote.kind.startswith("tor"):
        return load_tor
    if remote.kind == "geofeed":
        return lambda p: load_ip_list(p, category="privacy_relay")
    if remote.kind == "cidr-list":
        return lambda p: load_ip_list(p, category=remote.category)
    return load_cloud


def _check(remote: Remote, path: Path) -> int:
    """Load the downloaded file as a report would; return its entry count."""
    try:
        loaded = _loader(remote)(path)
    except LogAnalyzerError as exc:
        problem = getattr(exc, "problem", str(exc))
        raise _FetchFailed(f"not a usable {remote.kind} file: {problem}") from None
    info = loaded.info
    if info.kind != remote.kind:
        raise _FetchFailed(f"expected a {remote.kind} file, got {info.kind}")
    if info.entries == 0:
        raise _FetchFailed("the file lists nothing")
    return int(info.entries)


def _write_atomically(folder: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to a temporary file in ``folder``; the caller renames it."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _fetch_one(remote: Remote, url: str, folder: Path, timeout: float) -> FetchResult:
    target = folder / remote.filename
    try:
        status, body = _download(url, timeout)
        tmp = _write_atomically(folder, remote.filename, body)
        try:
            entries = _check(remote, tmp)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except _FetchFailed as exc:
        return FetchResult(remote.name, target, url, ok=False, error=exc.problem)
    entry = {
        "file": remote.filename,
        "url": url,
        "fetched_at": _now(),
        "http_status": status,
        "sha256": hashlib.sha256(body).hexdigest(),
        "size_bytes": len(body),
        "kind": remote.kind,
        "entries": entries,
        "terms": remote.terms,
    }
    return FetchResult(remote.name, target, url, ok=True, entry=entry)


def _parse_urls(urls: Mapping[str, str] | Sequence[str]) -> dict[str, str]:
    if isinstance(urls, Mapping):
        pairs = list(urls.items())
    else:
        pairs = []
        for spec in urls:
            name, sep, url = spec.partition("=")
            if not sep or not url:
                raise UsageError(f"--url {spec!r}: write NAME=URL, NAME one of {REMOTE_NAMES}")
            pairs.append((name.strip(), url.strip()))
    for name, _ in pairs:
        if name not in REMOTE_NAMES:
            raise UsageError(
                f"--url: unknown source {name!r}; use one of {', '.join(REMOTE_NAMES)}"
            )
    return dict(pairs)


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The folder's ``manifest.json`` (an empty one when there is none or it is unreadable)."""
    try:
        doc = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"sources": {}}
    if not isinstance(doc, dict) or not isinstance(doc.get("sources"), dict):
        return {"sources": {}}
    return doc


def fetch_record(path: str | Path, sha256: str) -> dict[str, Any] | None:
    """What ``manifest.json`` beside a source file says of it, if it was fetched.

    Returns:
        ``url`` and ``fetched_at`` of the last good download, ``same_file``
        (whether the file is still the one downloaded), and ``last_failure`` when
        a later update failed; None for a file no update wrote.
    """
    p = Path(path)
    for entry in read_manifest(p.parent)["sources"].values():
        if not isinstance(entry, dict) or entry.get("file") != p.name:
            continue
        record: dict[str, Any] = {
            "url": entry.get("url"),
            "fetched_at": entry.get("fetched_at"),
            "same_file": entry.get("sha256") == sha256,
        }
        if entry.get("last_failure"):
            record["last_failure"] = entry["last_failure"]
        return record
    return None


def update_sources(
    folder: str | Path,
    *,
    urls: Mapping[str, str] | Sequence[str] = (),
    base_url: str | None = None,
    only: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
) -> list[FetchResult]:
    """Fetch the public lists into ``folder`` and update its manifest.

    Args:
        folder: the sources folder (created if missing).
        urls: per-source URLs (``{"azure": "https://..."}`` or ``"azure=https://..."``),
            winning over everything else.
        base_url: fetch every source from ``base_url/<its file name>`` instead of
            its publisher (a mirror, or a test server).
        only: fetch only these sources (names from :data:`REMOTE_NAMES`).
        timeout: seconds to wait for a server before giving up on that source.

    Returns:
        One result per source, in :data:`REMOTES` order; the manifest records the
        successes and, next to a source's last good entry, its last failure.
    """
    overrides = _parse_urls(urls)
    for name in only:
        if name not in REMOTE_NAMES:
            raise UsageError(
                f"--only: unknown source {name!r}; use one of {', '.join(REMOTE_NAMES)}"
            )
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(target)
    entries: dict[str, Any] = manifest["sources"]
    results: list[FetchResult] = []
    for remote in REMOTES:
        if only and remote.name not in only:
            continue
        url = overrides.get(remote.name) or (
            f"{base_url.rstrip('/')}/{remote.filename}" if base_url else remote.url
        )
        if url is None:
            why = f"no fixed URL; give the current one with --url {remote.name}=URL"
            results.append(
                FetchResult(remote.name, target / remote.filename, None, False, True, why)
            )
            continue
        result = _fetch_one(remote, url, target, timeout)
        if result.ok and result.entry is not None:
            entries[remote.name] = dict(result.entry)
        else:
            previous = dict(entries.get(remote.name) or {"file": remote.filename})
            previous["last_failure"] = {"at": _now(), "url": url, "error": result.error}
            entries[remote.name] = previous
        results.append(result)
    manifest["sources"] = entries
    manifest["updated_at"] = _now()
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    os.replace(_write_atomically(target, MANIFEST, text.encode("utf-8")), target / MANIFEST)
    return results


__all__ = [
    "MANIFEST",
    "REMOTES",
    "REMOTE_NAMES",
    "FetchResult",
    "Remote",
    "fetch_record",
    "read_manifest",
    "update_sources",
]
