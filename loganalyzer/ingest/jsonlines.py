"""JSON access-log records to text columns, through Polars' NDJSON reader.

Each batch's records are decoded once into a struct of only the fields a format
names (``json_path_match`` parsed each record once per path: ten or more
times). Pieces the reader refuses are read path by path, as they always were,
so a line is accepted or rejected the same way either way. See decision 43.
"""

from __future__ import annotations

import functools
import io
import re

import polars as pl

# A piece of a batch the reader refuses (a line that is no JSON, a field of
# another type than the struct says) is read path by path, this many lines at once.
_JSON_PIECE = 4096
_JSON_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\['([^']*)'\]|\[(\d+)\]")
_LEAF = "leaf"
# The reader shows invalid UTF-8 as \xNN, which is no JSON escape: as \u00NN it is.
_HEX_ESCAPE = r"\\x([0-9A-Fa-f]{2})"
JSON_DECODE = True
"""False: every JSON record through json_path_match alone (the reference path)."""


def _json_segments(path: str) -> list[str | int] | None:
    """``$.a['b-c'][0]`` -> ``["a", "b-c", 0]``; None for any other JSONPath."""
    if not path.startswith("$"):
        return None
    out: list[str | int] = []
    pos = 1
    while pos < len(path):
        m = _JSON_SEGMENT.match(path, pos)
        if m is None:
            return None
        key, quoted, index = m.groups()
        out.append(int(index) if index is not None else (key if key is not None else quoted))
        pos = m.end()
    return out if out and not isinstance(out[0], int) else None


def _node_dtype(node: object) -> pl.DataType:
    if node == _LEAF:
        return pl.String()
    if isinstance(node, tuple):
        return pl.List(_node_dtype(node[1]))
    assert isinstance(node, dict)
    return pl.Struct({k: _node_dtype(v) for k, v in node.items()})


def _merge(node: object, segments: list[str | int]) -> object:
    """``node`` (None: nothing yet) with one more path in it; None on a clash.

    A node is ``_LEAF`` (text), a dict (an object's fields) or ``("list", node)``.
    """
    if not segments:
        return _LEAF if node in (None, _LEAF) else None
    seg, rest = segments[0], segments[1:]
    if isinstance(seg, int):
        if node is not None and not isinstance(node, tuple):
            return None
        inner = _merge(node[1] if node is not None else None, rest)
        return None if inner is None else ("list", inner)
    if node is None:
        node = {}
    if not isinstance(node, dict):
        return None
    child = _merge(node.get(seg), rest)
    if child is None:
        return None
    node[seg] = child
    return node


@functools.lru_cache(maxsize=64)
def _json_plan(
    wanted: tuple[tuple[str, tuple[str, ...]], ...],
) -> tuple[pl.DataType, list[pl.Expr]] | None:
    """The struct to decode and each column's expression on it; None: path by path."""
    tree: object = {}
    parsed: dict[str, list[list[str | int]]] = {}
    for column, paths in wanted:
        for path in paths:
            segments = _json_segments(path)
            tree = _merge(tree, segments) if segments is not None else None
            if tree is None or segments is None:
                return None
            parsed.setdefault(column, []).append(segments)
    exprs = []
    for column, _paths in wanted:
        options = []
        for segments in parsed[column]:
            expr = pl.col("_doc")
            for seg in segments:
                expr = (
                    expr.list.get(seg, null_on_oob=True)
                    if isinstance(seg, int)
                    else expr.struct.field(seg)
                )
            options.append(expr)
        exprs.append(
            pl.coalesce(options).alias(column) if len(options) > 1 else options[0].alias(column)
        )
    return _node_dtype(tree), exprs


def _json_by_path(docs: pl.Series, wanted: tuple[tuple[str, tuple[str, ...]], ...]) -> pl.DataFrame:
    doc = (
        pl.col("_doc")
        # The reader shows invalid UTF-8 as \xNN, which is no JSON escape, and a
        # raw control byte is no JSON either: neither may cost the record.
        .str.replace_all(_HEX_ESCAPE, r"\u00${1}")
        .str.replace_all(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", " ")
    )
    return pl.DataFrame({"_doc": docs}).select(
        [pl.coalesce([doc.str.json_path_match(p) for p in paths]).alias(c) for c, paths in wanted]
    )


def _json_decoded(
    docs: pl.Series,
    wanted: tuple[tuple[str, tuple[str, ...]], ...],
    dtype: pl.DataType,
    exprs: list[pl.Expr],
) -> pl.DataFrame | None:
    """The records decoded by Polars' NDJSON reader; None if it refuses any of them."""
    present = docs.is_not_null()
    records = docs.filter(present)
    assert isinstance(dtype, pl.Struct)
    if not len(records):
        return pl.DataFrame({"_doc": pl.Series([None] * len(docs), dtype=dtype)}).select(exprs)
    try:
        # The NDJSON reader (several threads) took a third of the time
        # str.json_decode took on the same records, with the same values.
        # Written out by Polars, one record a line: half the time of str.join.
        # The reader refuses raw control bytes, so a record holding one goes path
        # by path (which reads them as spaces); \xNN is replaced here as there.
        if records.str.contains("\\x", literal=True).any():
            records = records.str.replace_all(_HEX_ESCAPE, r"\u00${1}")
        out = io.BytesIO()
        records.to_frame().write_csv(out, include_header=False, quote_style="never")
        out.seek(0)
        decoded = pl.read_ndjson(out, schema=dtype.to_schema())
    except pl.exceptions.PolarsError:
        return None
    if decoded.height != len(records):
        return None  # a record the reader took for two, or for none
    # Each line's row, null where the line held no record.
    where = (present.cast(pl.Int64).cum_sum() - 1).zip_with(
        present, pl.Series([None], dtype=pl.Int64)
    )
    frame = decoded.to_struct("_doc").gather(where).to_frame().select(exprs)
    # An object or a list where text was expected comes out of the reader as
    # JSON of its own spacing; path by path keeps the record's. Those lines (and
    # text that merely starts so) are read path by path.
    odd = frame.select(
        pl.any_horizontal(pl.col(pl.String).str.contains(r"^[\[{]")).fill_null(False)
    ).to_series()
    if odd.any():
        at = odd.arg_true()
        again = _json_by_path(docs.gather(at), wanted)
        frame = frame.with_columns(frame[c].scatter(at, again[c]) for c in frame.columns)
    return frame


def json_captures(docs: pl.Series, wanted: tuple[tuple[str, tuple[str, ...]], ...]) -> pl.Series:
    """A struct of one text column per captured field, from JSON records (or null)."""
    plan = _json_plan(wanted) if JSON_DECODE else None
    if plan is None:
        return _json_by_path(docs, wanted).to_struct("_json")
    dtype, exprs = plan
    whole = _json_decoded(docs, wanted, dtype, exprs)
    if whole is not None:
        return whole.to_struct("_json")
    parts = []
    for start in range(0, len(docs), _JSON_PIECE):
        piece = docs.slice(start, _JSON_PIECE)
        frame = _json_decoded(piece, wanted, dtype, exprs)
        parts.append(frame if frame is not None else _json_by_path(piece, wanted))
    return pl.concat(parts).to_struct("_json")


__all__ = ["JSON_DECODE", "json_captures"]
