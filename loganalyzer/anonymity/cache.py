"""The cache of parsed lists: each source's table kept as Parquet, keyed by the file's content.

Parsing the lists is half of what sources cost a report; a file whose sha256 and
name are unchanged is read back from the cache instead (:func:`_cached`). The
merged verdicts :mod:`loganalyzer.anonymity.sources` makes from cached lists are
kept beside them, in :data:`_MERGED_DIR`. Entries not read for
:data:`_CACHE_KEEP_DAYS` days are removed when a new one is written.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from loganalyzer.anonymity.files import _info, _Loaded, _read_bytes

ENV_CACHE_DIR = "LOGANALYZER_CACHE_DIR"
_CACHE_FORMAT = 3  # bump when a loader's output changes, so old cache files are ignored


_FRAMES = ("ranges", "exact", "asns")


def default_cache_dir() -> Path | None:
    """Where the command keeps parsed lists (None: nowhere).

    ``$LOGANALYZER_CACHE_DIR`` (set but empty: nowhere), else
    ``loganalyzer/sources`` in ``$XDG_CACHE_HOME`` or ``~/.cache``. Parsing the
    lists is half of what sources cost a report (0.13 s of about 0.22 s for the
    benchmark's 30,000 networks), and analysts ask again with the same lists:
    pip and ipinfo's command keep such caches by default too.
    """
    env = os.environ.get(ENV_CACHE_DIR)
    if env is not None:
        return Path(env) if env else None
    base = os.environ.get("XDG_CACHE_HOME")
    try:
        root = Path(base) if base else Path.home() / ".cache"
    except RuntimeError:  # no home directory to be found
        return None
    return root / "loganalyzer" / "sources"


def _cached(
    cache: Path | None, path: str | Path, tag: str, loader: Callable[[Path], _Loaded]
) -> _Loaded:
    """Load a source, or its parsed table from the cache when the file is unchanged.

    The key is the file's sha256 and name (evidence quotes the name), not its
    mtime or folder: a touched or copied file still hits and an edited one never does.
    """
    p, data = _read_bytes(path)
    if cache is None:
        return loader(p)
    sha = hashlib.sha256(data).hexdigest()
    name = hashlib.sha256(p.name.encode()).hexdigest()[:12]
    entry = cache / f"{sha}-{tag}-{name}-v{_CACHE_FORMAT}.parquet"
    if entry.is_file():
        try:
            os.utime(entry)  # in use: not pruned (below)
            meta = json.loads(pl.read_parquet_metadata(entry)["loganalyzer-source"])
            frame = pl.read_parquet(entry)
            info = _info(p, data, **meta["info"])
            which = meta["frame"]
            return _Loaded(
                info,
                ranges=frame if which == "ranges" else None,
                exact=frame if which == "exact" else None,
                asns=frame if which == "asns" else None,
                cached=entry,
            )
        except (OSError, KeyError, ValueError, pl.exceptions.PolarsError):
            pass  # a damaged cache file is rebuilt below
    loaded = loader(p)
    frame_name = next(n for n in _FRAMES if getattr(loaded, n) is not None)
    keep = {k: getattr(loaded.info, k) for k in ("name", "kind", "entries", "date", "category")}
    meta_json = json.dumps({"frame": frame_name, "info": keep})
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_suffix(f".{os.getpid()}.tmp")
        getattr(loaded, frame_name).write_parquet(tmp, metadata={"loganalyzer-source": meta_json})
        os.replace(tmp, entry)
        _prune(cache)
    except OSError:
        pass  # the cache only saves time: a read-only or full disk must not fail the run
    return loaded


# Lists change daily (Tor) or weekly: an entry not read for this long is removed
# when a new one is written, so the cache holds about a month of versions.
_CACHE_KEEP_DAYS = 30


def _prune(cache: Path) -> None:
    cutoff = datetime.now(UTC).timestamp() - _CACHE_KEEP_DAYS * 86400
    for old in [*cache.glob("*.parquet"), *cache.glob(f"{_MERGED_DIR}/*.parquet")]:
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            continue  # another run's, or gone already


# Where the cache keeps merged verdicts (see _merged_entry), apart from the lists.
_MERGED_DIR = "merged"


__all__ = [
    "ENV_CACHE_DIR",
    "default_cache_dir",
]
