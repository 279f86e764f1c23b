"""Address lists given with a category: plain address/CIDR lists, MISP warninglists, geofeeds.

``--ip-list vpn=FILE`` takes any of the three, told apart by content
(:func:`load_ip_list`). RFC 8805 geofeeds include Apple's iCloud Private Relay
egress list, which is read as ``privacy_relay`` with its provider named.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from loganalyzer.anonymity.categories import _check_category
from loganalyzer.anonymity.files import _info, _Loaded, _parse_json, _read_text
from loganalyzer.anonymity.networks import (
    _cidr,
    _cidrs,
    _Entry,
    _flatten,
    _flatten_frame,
    _NotANetwork,
)
from loganalyzer.errors import SourceError


def _looks_like_geofeed(lines: Sequence[str]) -> bool:
    data = (ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#"))
    first = list(itertools.islice(data, 20))
    return bool(first) and all("," in ln for ln in first)


def load_ip_list(path: str | Path, *, category: str | None = None) -> _Loaded:
    """Read an address/CIDR list with a category.

    Plain text: one address or network a line; ``#`` starts a comment (whole line
    or after the entry) and blank lines are skipped. MISP warninglist JSON:
    ``{"name", "version", "list": [...]}``; without a category given, one is taken
    from its name when the name says ``vpn`` or ``tor``. RFC 8805 geofeed CSV
    (``prefix,country,region,city,``), such as Apple's iCloud Private Relay
    ``egress-ip-ranges.csv``: an operator's own list, so its entries are
    confirmed; plain and MISP lists are community lists, only suspected.

    Args:
        path: the list.
        category: one of :data:`CATEGORIES` (aliases ``tor``, ``relay``,
            ``proxy`` accepted).

    Returns:
        The loaded source (disjoint ranges, the most specific network winning).

    Raises:
        SourceError: for a missing file, a line that is not an address or network,
            an unknown category, or none at all.
    """
    p, data, text = _read_text(path, "an address/CIDR list, MISP JSON or geofeed CSV")
    cat = _check_category(p, category) if category is not None else None
    if text.lstrip().startswith("{"):
        return _load_misp(p, data, text, cat)
    if cat is None:
        raise SourceError(p, "give the list's category, e.g. --ip-list vpn=FILE")
    kept = _kept_lines(text)
    if kept is None or kept.is_empty():
        lines = text.splitlines()
        if _looks_like_geofeed(lines):
            return _load_geofeed(p, data, lines, cat)
        rows = [(n, ln) for n, raw in enumerate(lines, 1) if (ln := raw.split("#", 1)[0].strip())]
        kept = pl.DataFrame(
            {
                "n": [n for n, _ in rows],
                "line": [ln for _, ln in rows],
                "first": [ln.split()[0] for _, ln in rows],
            },
            schema={"n": pl.Int64, "line": pl.String, "first": pl.String},
        )
    try:
        nets = _cidrs(kept["first"])
    except _NotANetwork as exc:
        n, line = kept.row(exc.index)[:2]
        raise SourceError(
            p, f"line {n}: {line[:60]!r} is not an address or network (CIDR)"
        ) from None
    entries = nets.select(
        "start",
        "end",
        pl.lit(cat).alias("category"),
        pl.concat_str(pl.lit(f"ip-list:{p.name} {cat} ("), "shown", pl.lit(")")).alias("evidence"),
        pl.lit(None, pl.String).alias("provider"),
        pl.lit(False).alias("confirmed"),
        pl.lit(0).alias("rank"),
    )
    info = _info(p, data, name="ip-list", kind="cidr-list", entries=kept.height, category=cat)
    return _Loaded(info, ranges=_flatten_frame(entries))


# What Python takes for whitespace or a line break in ASCII, besides " ", "\t" and "\n".
_ODD_ASCII = re.compile(r"[\r\x0b\x0c\x1c-\x1f]")


def _kept_lines(text: str) -> pl.DataFrame | None:
    """A plain list's entries (``n``, ``line``, ``first``) split by Polars, or None.

    As :func:`load_ip_list` splits them in Python (``splitlines``, ``#``
    comments, ``strip``, the first word), for ASCII text where only spaces
    and tabs are whitespace and only LF or CRLF ends a line; None for any
    other text and for a geofeed, which take the Python way. In a fresh
    process the Python split of the benchmark's 20,000 lines took 28 ms.
    """
    if not text.isascii():
        return None
    if "\r" in text and text.count("\r") == text.count("\r\n"):
        text = text.replace("\r\n", "\n")
    if _ODD_ASCII.search(text):
        return None
    raw = pl.Series("raw", [text]).str.split("\n").explode()
    frame = raw.to_frame().with_row_index("n", offset=1)
    stripped = pl.col("raw").str.strip_chars(" \t")
    data = (stripped != "") & ~stripped.str.starts_with("#")
    if (
        frame.filter(data)
        .head(20)
        .select(pl.col("raw").str.contains(",", literal=True).all())
        .item()
    ):
        return None  # a geofeed (and a list of none at all): the Python way
    line = pl.col("raw").str.splitn("#", 2).struct.field("field_0").str.strip_chars(" \t")
    return (
        frame.select(pl.col("n").cast(pl.Int64), line.alias("line"))
        .filter(pl.col("line") != "")
        .with_columns(pl.col("line").str.extract(r"^([^ \t]+)").alias("first"))
    )


def _load_misp(p: Path, data: bytes, text: str, cat: str | None) -> _Loaded:
    doc = _parse_json(p, text)
    if not isinstance(doc, dict) or not isinstance(doc.get("list"), list):
        raise SourceError(p, "is JSON but not a MISP warninglist (no 'list' array)")
    name = str(doc.get("name") or p.name)
    if cat is None:
        lowered = name.lower()
        guess = (
            "vpn"
            if "vpn" in lowered
            else "tor_exit"
            if "tor " in lowered or "tor-" in lowered
            else None
        )
        if guess is None:
            raise SourceError(
                p, f"MISP list {name!r}: give its category, e.g. --ip-list hosting=FILE"
            )
        cat = guess
    version = doc.get("version")
    label = f"{name} v{version}" if version is not None else name
    items = pl.Series([str(item) for item in doc["list"]], dtype=pl.String)
    try:
        # All at once (_cidrs): one by one, the 40,000 networks of MISP's
        # vpn-ipv4 took 0.3 s.
        nets = _cidrs(items)
    except _NotANetwork as exc:
        raise SourceError(
            p, f"MISP list entry {items[exc.index][:60]!r} is not an address or network"
        ) from None
    entries = nets.select(
        "start",
        "end",
        pl.lit(cat).alias("category"),
        pl.concat_str(pl.lit(f"misp:{label} {cat} ("), "shown", pl.lit(")")).alias("evidence"),
        pl.lit(None, pl.String).alias("provider"),
        pl.lit(False).alias("confirmed"),
        pl.lit(0).alias("rank"),
    )
    info = _info(
        p,
        data,
        name="misp",
        kind="misp-warninglist",
        entries=items.len(),
        date=str(version) if version is not None else None,
        category=cat,
    )
    return _Loaded(info, ranges=_flatten_frame(entries))


def _load_geofeed(p: Path, data: bytes, lines: Sequence[str], cat: str) -> _Loaded:
    apple = p.name.startswith("egress-ip-ranges")
    name = "icloud-relay" if apple else "geofeed"
    provider = "iCloud Private Relay" if apple else None
    entries: list[_Entry] = []
    for n, row in enumerate(csv.reader(lines), 1):
        if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
            continue
        try:
            lo, hi, shown = _cidr(row[0])
        except ValueError:
            raise SourceError(
                p, f"line {n}: {row[0][:60]!r} is not a network (geofeed CSV)"
            ) from None
        place = " ".join(x.strip() for x in row[1:4] if x.strip())
        where = f" {place}" if place else ""
        entries.append(_Entry(lo, hi, cat, f"{name}:{cat}{where} ({shown})", provider, True))
    info = _info(p, data, name=name, kind="geofeed", entries=len(entries), category=cat)
    return _Loaded(info, ranges=_flatten(entries))


__all__ = [
    "load_ip_list",
]
