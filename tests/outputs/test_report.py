"""Rendering: golden outputs for the sample, and hostile log fields made inert."""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import json
import re
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from loganalyzer import schema as S
from loganalyzer.analysis.pipeline import Analysis, analyze, sample_paths
from loganalyzer.geo.databases import GeoDatabases
from loganalyzer.outputs.render import (
    neutralise_formula,
    render,
    render_csv,
    render_json,
    render_markdown,
    render_parquet,
    render_table,
    safe_text,
)
from tests.helpers import log_line

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "golden"


def check_golden(name: str, text: str, update: bool) -> None:
    """Compare ``text`` byte for byte with fixtures/golden/NAME (or rewrite it)."""
    path = GOLDEN / name
    data = text.encode("utf-8")
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return
    assert path.exists(), f"{path} is missing; run pytest --update-golden and review it"
    expected = path.read_bytes()
    if data != expected:
        # A readable diff first, then the byte-exact check (line endings, trailing spaces).
        assert data.decode("utf-8").splitlines() == expected.decode("utf-8").splitlines()
        assert data == expected


def normalised(analysis: Analysis) -> Analysis:
    """The analysis with its run-dependent meta fixed: time of the run, absolute paths."""
    meta = copy.deepcopy(analysis.meta)
    meta["generated_at"] = "<generated_at>"
    for f in meta["files"]:
        f["path"] = Path(f["path"]).name
    for d in meta["databases"]:
        d["path"] = Path(d["path"]).name
    return dataclasses.replace(analysis, meta=meta)


@pytest.fixture(scope="module")
def sample() -> Analysis:
    s = sample_paths()
    return analyze([s.log], city_db=s.city_db, asn_db=s.asn_db)


@pytest.fixture(scope="module")
def sample_watch_top() -> Analysis:
    s = sample_paths()
    return analyze([s.log], city_db=s.city_db, asn_db=s.asn_db, watch=["KP-01", "FR"], top_n=3)


# --- golden files -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "output"),
    [
        ("sample_by_region.csv", "csv"),
        ("sample_by_region.json", "json"),
        ("sample_by_region.md", "markdown"),
        ("sample_by_region.txt", "table"),
    ],
    ids=["csv", "json", "markdown", "table"],
)
def test_sample_golden(sample, update_golden, name, output):
    text = render(normalised(sample), output, width=120)
    assert isinstance(text, str)
    check_golden(name, text, update_golden)


def test_sample_watch_top_golden(sample_watch_top, update_golden):
    text = render_table(normalised(sample_watch_top), width=120)
    check_golden("sample_watch_top.txt", text, update_golden)


def test_json_meta_before_normalising(sample):
    doc = json.loads(render_json(sample))
    meta = doc["meta"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["generated_at"])
    s = sample_paths()
    assert [f["path"] for f in meta["files"]] == [str(s.log)]
    assert [d["path"] for d in meta["databases"]] == [str(s.city_db), str(s.asn_db)]
    lines = meta["lines"]
    assert lines["total"] == lines["parsed"] + lines["rejected"]
    assert sum(r[S.REQUESTS] for r in doc["rows"]) == lines["matched"]


def test_table_has_no_colour_and_fits_the_width(sample):
    text = render_table(sample, width=120)
    assert "\x1b" not in text
    assert max(len(line) for line in text.splitlines()) <= 120
    assert "\x1b[" in render_table(sample, width=120, color=True)


@pytest.mark.parametrize(
    "by", [["region"], ["country"], ["asn"], ["region", "asn"], ["city"]], ids=lambda b: "+".join(b)
)
def test_table_does_not_crop_or_split_values(by):
    """At width 120 every row's labels and (when shown) seen-times appear whole."""
    s = sample_paths()
    a = analyze([s.log], city_db=s.city_db, asn_db=s.asn_db, by=by)
    text = render_table(a, width=120)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 120
    for label in ("(non-public)", "(not found)"):
        if S.COUNTRY in a.rows.columns:
            assert label in text
    for row in a.rows.iter_rows(named=True):
        for key in (S.COUNTRY_ISO, S.REGION_ISO, S.ASN):
            if row.get(key) is not None:
                assert re.search(rf"(?<![\w-]){re.escape(str(row[key]))}(?![\w-])", text), key
        if "last seen" in text:
            first, last = row[S.FIRST_SEEN], row[S.LAST_SEEN]
            pattern = rf"(\d{{4}}-)?{first:%m-%d %H:%M}\s+(\d{{4}}-)?{last:%m-%d %H:%M}"
            assert any(re.search(pattern, line) for line in lines), (pattern, text)


# --- safe_text and CSV neutralisation ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        pytest.param("GET /\x1b[31mred", "GET /\\x1b[31mred", id="esc-csi"),
        pytest.param("\x1b]0;owned\x07", "\\x1b]0;owned\\x07", id="osc-title"),
        pytest.param("\x1b]8;;http://x\x1b\\link", "\\x1b]8;;http://x\\x1b\\link", id="osc-8"),
        pytest.param("a\x9b31mb", "a\\x9b31mb", id="c1-csi"),
        pytest.param("a\x85b", "a\\x85b", id="c1-nel"),
        pytest.param("a\x00b\x7f", "a\\x00b\\x7f", id="nul-del"),
        pytest.param("a\nb\rc\td", "a\\x0ab\\x0dc\\x09d", id="newline-cr-tab"),
        pytest.param("user\u202eexe.txt", "user\\u202eexe.txt", id="bidi-rlo"),
        pytest.param("\u2066x\u2069", "\\u2066x\\u2069", id="bidi-isolates"),
        pytest.param("a\u200fb\u200e", "a\\u200fb\\u200e", id="bidi-marks"),
        pytest.param("a\u061cb", "a\\u061cb", id="bidi-arabic-letter-mark"),
        pytest.param("a\u200bb\ufeff", "a\\u200bb\\ufeff", id="zero-width-bom"),
        pytest.param("辽宁省 España café", "辽宁省 España café", id="plain-unicode-kept"),
        pytest.param("Mozilla/5.0 (X11)", "Mozilla/5.0 (X11)", id="plain-ascii-kept"),
    ],
)
def test_safe_text(raw, shown):
    assert safe_text(raw) == shown


@pytest.mark.parametrize(
    "cell",
    ["=cmd|' /C calc'!A0", "+1+2", "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1", '=HYPERLINK("x")'],
    ids=["equals", "plus", "minus", "at", "tab", "cr", "hyperlink"],
)
def test_csv_neutralises_formulas(cell):
    rows = pl.DataFrame({S.PATH: [cell], S.REQUESTS: [1]})
    assert neutralise_formula(cell) == "'" + cell
    parsed = list(csv.reader(io.StringIO(render_csv(rows), newline="")))
    assert parsed == [[S.PATH, S.REQUESTS], ["'" + cell, "1"]]
    raw = list(csv.reader(io.StringIO(render_csv(rows, safe=False), newline="")))
    assert raw == [[S.PATH, S.REQUESTS], [cell, "1"]]


@pytest.mark.parametrize(
    "cell",
    ["/index.html", "a=b", "ES-CT", "", "Mozilla"],
    ids=["path", "inner-equals", "inner-minus", "empty", "word"],
)
def test_csv_leaves_ordinary_text_alone(cell):
    rows = pl.DataFrame({S.PATH: [cell]})
    assert render_csv(rows) == render_csv(rows, safe=False)


def test_csv_does_not_touch_numbers():
    rows = pl.DataFrame({S.ASN: [-1], S.SHARE: [-0.5], S.PATH: ["-x"]})
    assert render_csv(rows) == "asn,share,path\n-1,-0.5,'-x\n"


# --- hostile logs through every renderer ------------------------------------------------------

ESC_PATH = "/\x1b[31mred\x1b[0m"
FORMULA = "=cmd|' /C calc'!A0"
SCRIPT = "/<script>alert(1)</script>"
PIPE = "/a|b"
BIDI = "/\u202eexe.txt"
BAD_UTF8_LINE = (
    b'2.136.4.5 - - [14/Sep/2026:08:00:00 +0000] "GET /caf\xe9\xff HTTP/1.1" 200 1 "-" "bad\xc3("\n'
)


@pytest.fixture(scope="module")
def hostile_log(tmp_path_factory) -> Path:
    paths = [ESC_PATH, FORMULA, SCRIPT, PIPE, BIDI]
    agents = ["\x1b]0;owned\x07", FORMULA, "<script>x</script>", "a|b", "\x9b31m"]
    lines = [
        log_line(ip="175.167.1.2", request=f"GET {p} HTTP/1.1", agent=a)
        for p, a in zip(paths, agents, strict=True)
    ]
    path = tmp_path_factory.mktemp("hostile") / "hostile.log"
    path.write_bytes("".join(line + "\n" for line in lines).encode("utf-8") + BAD_UTF8_LINE)
    return path


@pytest.fixture(scope="module")
def fixture_dbs(city_db, asn_db) -> GeoDatabases:
    return GeoDatabases.open(city=city_db, asn=asn_db, search=False)


EXPECTED_VALUES = {
    S.PATH: {ESC_PATH, FORMULA, SCRIPT, PIPE, BIDI, "/caf\\xe9\\xff"},
    S.USER_AGENT: {
        "\x1b]0;owned\x07",
        FORMULA,
        "<script>x</script>",
        "a|b",
        "\x9b31m",
        "bad\\xc3(",
    },
}


@pytest.mark.parametrize("by", [S.PATH, S.USER_AGENT])
def test_hostile_fields_round_trip_through_json(hostile_log, fixture_dbs, by):
    a = analyze([hostile_log], dbs=fixture_dbs, by=[by])
    assert a.meta["lines"]["rejected"] == 0
    text = render_json(a)
    assert not any(ord(c) < 0x20 and c != "\n" for c in text), "raw control character in JSON"
    doc = json.loads(text)
    assert {r[by] for r in doc["rows"]} == EXPECTED_VALUES[by]
    text.encode("utf-8")  # no lone surrogates


@pytest.mark.parametrize("by", [S.PATH, S.USER_AGENT])
def test_hostile_fields_are_inert_in_the_table(hostile_log, fixture_dbs, by):
    text = render_table(analyze([hostile_log], dbs=fixture_dbs, by=[by]), width=200)
    for ch in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert ch not in text
    assert ("\\x1b[31mred" if by == S.PATH else "\\x1b]0;owned\\x07") in text


@pytest.mark.parametrize("by", [S.PATH, S.USER_AGENT])
def test_hostile_fields_are_inert_in_markdown(hostile_log, fixture_dbs, by):
    text = render_markdown(analyze([hostile_log], dbs=fixture_dbs, by=[by]))
    for ch in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert ch not in text
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    table = [line for line in text.splitlines() if line.startswith("|")]
    header_cells = len(re.split(r"(?<!\\)\|", table[0])) - 2
    for line in table:
        # "|" inside a value is escaped, so every row has the header's cell count.
        assert len(re.split(r"(?<!\\)\|", line)) - 2 == header_cells, line
    assert "a\\|b" in text


@pytest.mark.parametrize("by", [S.PATH, S.USER_AGENT])
def test_hostile_fields_are_neutralised_in_csv(hostile_log, fixture_dbs, by):
    a = analyze([hostile_log], dbs=fixture_dbs, by=[by])
    rows = list(csv.DictReader(io.StringIO(render_csv(a.rows), newline="")))
    assert "'" + FORMULA in {r[by] for r in rows}
    assert FORMULA not in {r[by] for r in rows}
    raw = list(csv.DictReader(io.StringIO(render_csv(a.rows, safe=False), newline="")))
    assert {r[by] for r in raw} == EXPECTED_VALUES[by]


def test_markdown_escapes_literal():
    rows = pl.DataFrame(
        {S.PATH: ["<script>alert(1)</script>", "a|b", "x_y*z"], S.REQUESTS: [1, 2, 3]}
    )
    meta = {
        "lines": {"total": 3, "parsed": 3, "rejected": 0, "matched": 6},
        "group_by": ["path"],
        "files": [],
        "databases": [],
        "caveat": "c",
    }
    text = render_markdown(Analysis(rows=rows, meta=meta))
    assert "| &lt;script&gt;alert(1)&lt;/script&gt; | 1 |" in text
    assert "| a\\|b | 2 |" in text
    assert "| x\\_y\\*z | 3 |" in text


# --- parquet ----------------------------------------------------------------------------------


def test_parquet_round_trips_with_meta(sample):
    data = render_parquet(sample)
    assert isinstance(data, bytes)
    assert render(sample, "parquet") == data
    assert_frame_equal(pl.read_parquet(io.BytesIO(data)), sample.rows)
    kv = pl.read_parquet_metadata(io.BytesIO(data))
    assert json.loads(kv["loganalyzer"]) == json.loads(json.dumps(sample.meta, default=str))


def test_render_dispatch(sample):
    assert render(sample, "csv") == render_csv(sample.rows)
    assert render(sample, "csv", safe_csv=False) == render_csv(sample.rows, safe=False)
    assert render(sample, "json") == render_json(sample)
    assert render(sample, "markdown") == render_markdown(sample)
    assert render(sample, "table", width=100) == render_table(sample, width=100)
