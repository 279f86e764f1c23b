"""Cloud providers' published ranges (AWS, Google Cloud, Azure, Oracle Cloud) as ``hosting``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from loganalyzer.anonymity.files import _info, _Loaded, _read_json
from loganalyzer.anonymity.networks import _cidrs, _flatten_frame, _NotANetwork
from loganalyzer.errors import SourceError


def _cloud_entries(doc: Any) -> tuple[str, str, str | None, Iterator[tuple[str, str, str, int]]]:
    """(name, provider, date, (cidr, region, service, rank)...) of a provider's file."""
    if isinstance(doc, dict) and isinstance(doc.get("prefixes"), list):
        prefixes = doc["prefixes"]
        if (
            any(isinstance(x, dict) and "ip_prefix" in x for x in prefixes)
            or "ipv6_prefixes" in doc
        ):

            def aws() -> Iterator[tuple[str, str, str, int]]:
                for x in [*prefixes, *(doc.get("ipv6_prefixes") or [])]:
                    cidr = x.get("ip_prefix") or x.get("ipv6_prefix")
                    service = str(x.get("service", ""))
                    # AMAZON repeats every other service's networks: name the specific one.
                    yield str(cidr), str(x.get("region", "")), service, int(service == "AMAZON")

            created = str(doc.get("createDate") or "")
            # AWS writes 2026-09-10-12-00-00: make it ISO 8601 so its age can be told.
            date = (
                f"{created[:10]}T{created[11:].replace('-', ':')}Z" if len(created) == 19 else None
            )
            return "aws", "AWS", date, aws()

        def google() -> Iterator[tuple[str, str, str, int]]:
            for x in prefixes:
                cidr = x.get("ipv4Prefix") or x.get("ipv6Prefix")
                yield str(cidr), str(x.get("scope", "")), str(x.get("service", "")), 0

        return "google", "Google Cloud", doc.get("creationTime"), google()
    if isinstance(doc, dict) and isinstance(doc.get("values"), list):

        def azure() -> Iterator[tuple[str, str, str, int]]:
            for v in doc["values"]:
                props = v.get("properties") or {}
                name = str(v.get("name", ""))
                for cidr in props.get("addressPrefixes") or []:
                    # Tags without a region suffix (AzureCloud) span all regions.
                    yield str(cidr), str(props.get("region", "")), name, int("." not in name)

        change = doc.get("changeNumber")
        return "azure", "Azure", f"change {change}" if change is not None else None, azure()
    if isinstance(doc, dict) and isinstance(doc.get("regions"), list):

        def oracle() -> Iterator[tuple[str, str, str, int]]:
            for r in doc["regions"]:
                for c in r.get("cidrs") or []:
                    yield (
                        str(c.get("cidr")),
                        str(r.get("region", "")),
                        ",".join(c.get("tags") or []),
                        0,
                    )

        return "oracle", "Oracle Cloud", doc.get("last_updated_timestamp"), oracle()
    raise ValueError("unknown cloud ranges format")


def load_cloud(path: str | Path) -> _Loaded:
    """Read a cloud provider's published ranges as ``hosting``, with provider and region.

    Formats: AWS ``ip-ranges.json``, Google ``cloud.json``, Azure Service Tags
    ``ServiceTags_Public_*.json``, Oracle ``public_ip_ranges.json``. Their
    networks overlap (AWS's ``AMAZON`` holds ``EC2``'s): the most specific wins.

    Args:
        path: the provider's JSON file.

    Returns:
        The loaded source.

    Raises:
        SourceError: for a missing file or a JSON file of another kind.
    """
    expected = "AWS ip-ranges.json, Google cloud.json, Azure ServiceTags or Oracle JSON"
    p, data, doc = _read_json(path, expected)
    try:
        name, provider, date, rows = _cloud_entries(doc)
    except ValueError:
        raise SourceError(p, f"is not a cloud ranges file; expected {expected}") from None
    listed = list(rows)
    try:
        nets = _cidrs([cidr for cidr, _, _, _ in listed])
    except _NotANetwork as exc:
        cidr = listed[exc.index][0]
        raise SourceError(p, f"{cidr[:60]!r} is not a network ({name} ranges)") from None
    label = pl.Series(
        [" ".join(x for x in (region, service) if x) for _, region, service, _ in listed]
    )
    shown = pl.concat_str(pl.lit("("), "shown", pl.lit(")"))
    entries = nets.with_columns(label.alias("label")).select(
        "start",
        "end",
        pl.lit("hosting").alias("category"),
        pl.when(pl.col("label") != "")
        .then(pl.concat_str(pl.lit(f"{name}:hosting "), "label", pl.lit(" "), shown))
        .otherwise(pl.concat_str(pl.lit(f"{name}:hosting "), shown))
        .alias("evidence"),
        pl.lit(provider).alias("provider"),
        pl.lit(True).alias("confirmed"),
        pl.Series("rank", [rank for _, _, _, rank in listed], pl.Int64),
    )
    info = _info(
        p,
        data,
        name=name,
        kind=f"{name}-ranges",
        entries=len(listed),
        date=str(date) if date else None,
        category="hosting",
    )
    return _Loaded(info, ranges=_flatten_frame(entries))


__all__ = [
    "load_cloud",
]
