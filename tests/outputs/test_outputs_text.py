"""Text outputs: time keys in time order, shares rounded alike, log text inert everywhere."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import polars as pl
import pytest

from loganalyzer import schema as S
from loganalyzer.analysis.pipeline import Analysis
from loganalyzer.outputs.render import render, render_csv

HOSTILE = "GET /\x1b]0;pwned\x07\x9b31m\u202eevil"


def _analysis(rows: pl.DataFrame) -> Analysis:
    lines = {"total": 1, "parsed": 1, "rejected": 0, "matched": 1}
    return Analysis(rows=rows, meta={"lines": lines}, faults=())


@pytest.mark.parametrize("output", ["json", "csv", "markdown"])
def test_no_control_character_reaches_a_terminal(output):
    rows = pl.DataFrame({S.PATH: [HOSTILE], S.REQUESTS: [1]})
    text = render(_analysis(rows), output, terminal=True)
    assert isinstance(text, str)
    for ch in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert ch not in text


def test_json_keeps_the_exact_text_for_programs():
    rows = pl.DataFrame({S.PATH: [HOSTILE], S.REQUESTS: [1]})
    text = render(_analysis(rows), "json")
    assert json.loads(text)["rows"][0][S.PATH] == HOSTILE


def test_csv_to_a_file_keeps_the_exact_text():
    rows = pl.DataFrame({S.PATH: [HOSTILE], S.REQUESTS: [1]})
    (row,) = csv.DictReader(io.StringIO(render_csv(rows, safe=False)))
    assert row[S.PATH] == HOSTILE


def test_csv_shares_are_rounded_like_json():
    rows = pl.DataFrame({S.REGION_ISO: ["CN-LN"], S.SHARE: [0.47103274559193953]})
    (row,) = csv.DictReader(io.StringIO(render_csv(rows)))
    doc = json.loads(render(_analysis(rows), "json"))
    assert row[S.SHARE] == "0.471033"
    assert doc["rows"][0][S.SHARE] == 0.471033


def test_time_keys_sort_by_time(tmp_path, city_db):
    from loganalyzer.analysis.pipeline import analyze
    from tests.helpers import log_line

    hours = [datetime(2026, 9, 14, h, tzinfo=UTC) for h in (9, 7, 8)]
    counts = {9: 5, 7: 1, 8: 3}
    log = tmp_path / "a.log"
    log.write_text("".join(log_line(ts=t) + "\n" for t in hours for _ in range(counts[t.hour])))
    for by in (["hour"], ["day"], ["minute"], ["hour", "country"]):
        rows = analyze([log], by=by, city_db=city_db).rows
        assert rows[by[0]].to_list() == sorted(rows[by[0]].to_list()), by
    hourly = analyze([log], by=["hour"], city_db=city_db).rows
    assert hourly[S.REQUESTS].to_list() == [1, 3, 5]


def test_xlsx_is_a_real_workbook_with_rows_and_provenance():
    import openpyxl

    rows = pl.DataFrame(
        {
            S.REGION_ISO: ["CN-LN", "ES-CT"],
            S.PATH: ['=HYPERLINK("http://x")', "/ok"],
            S.REQUESTS: [5, 3],
            S.SHARE: [0.625123456, 0.375],
            S.FIRST_SEEN: [datetime(2026, 9, 14, 7, 8, 7, tzinfo=UTC)] * 2,
        }
    )
    meta = {"lines": {"total": 9, "parsed": 8}, "databases": [{"path": "City.mmdb"}]}
    data = render(Analysis(rows=rows, meta=meta, faults=()), "xlsx")
    assert isinstance(data, bytes)
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["rows", "provenance"]
    sheet = [[c.value for c in r] for r in book["rows"].iter_rows()]
    assert sheet[0] == [S.REGION_ISO, S.PATH, S.REQUESTS, S.SHARE, S.FIRST_SEEN]
    assert sheet[1] == ["CN-LN", '=HYPERLINK("http://x")', 5, 0.625123, "2026-09-14T07:08:07Z"]
    # Log text is a string cell, never a formula a spreadsheet would run.
    assert book["rows"]["B2"].data_type == "s"
    provenance = dict(r for r in book["provenance"].iter_rows(min_row=2, values_only=True))
    assert provenance["lines.total"] == "9"
    assert provenance["databases.0.path"] == "City.mmdb"
