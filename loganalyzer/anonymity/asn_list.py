"""The ASN list: ``ASN,category,note`` lines, each listing a whole network operator.

It is applied through each client's ``asn`` from the ASN database, so its hits
are only ever ``suspected`` (see :func:`loganalyzer.anonymity.verdict.classify`).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl

from loganalyzer import schema as S
from loganalyzer.anonymity.categories import _check_category
from loganalyzer.anonymity.files import _info, _Loaded, _read_text
from loganalyzer.errors import SourceError


def load_asn_list(path: str | Path) -> _Loaded:
    """Read ``ASN,category,note`` lines (``AS9009,vpn,M247``); ``#`` comments allowed.

    An ASN entry lists a whole network operator, customers and all: its hits are
    only ever ``suspected``, and the evidence says "whole AS".

    Args:
        path: the CSV file.

    Returns:
        The loaded source (applied through each client's ``asn``).

    Raises:
        SourceError: for a missing file, a bad ASN or an unknown category.
    """
    p, data, text = _read_text(path, "a CSV of ASN,category,note")
    asns: list[int] = []
    cats: list[str] = []
    notes: list[str | None] = []
    for n, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
            continue
        first = row[0].strip()
        if n == 1 and first.lower() in ("asn", "as"):
            continue
        digits = first[2:] if first.upper().startswith("AS") else first
        if not digits.isdigit() or len(row) < 2:
            raise SourceError(
                p, f"line {n}: expected ASN,category,note, got {','.join(row)[:60]!r}"
            )
        asns.append(int(digits))
        cats.append(_check_category(p, row[1], f"line {n}: "))
        note = ",".join(row[2:]).strip()
        notes.append(note or None)
    frame = pl.DataFrame(
        {S.ASN: asns, "category": cats, "note": notes},
        schema={S.ASN: pl.Int64, "category": pl.String, "note": pl.String},
    ).unique(S.ASN, keep="first", maintain_order=True)
    info = _info(p, data, name="asn-list", kind="asn-csv", entries=frame.height)
    return _Loaded(info, asns=frame)


__all__ = [
    "load_asn_list",
]
