"""JSON records through Polars' NDJSON reader against the path-by-path reference.

The fast path decodes each batch's records once into a struct of the fields a
format names; pieces the reader refuses go path by path. Whatever the mix, every
line must come out exactly as the reference (json_path_match per path, the
general ISO 8601 parser) reads it: same values, same rejects, same reasons.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import hypothesis.strategies as st
import polars as pl
import pytest
from hypothesis import given, settings
from polars.testing import assert_frame_equal

from loganalyzer import schema as S
from loganalyzer.analysis.bench import generate_log
from loganalyzer.analysis.bench_formats import convert_log
from loganalyzer.ingest.presets import PRESETS, get_format, json_format
from loganalyzer.ingest.read import read_lines
from tests.helpers import FIXTURES, lines_frame, parsed_both_ways

parse_module = importlib.import_module("loganalyzer.ingest.parse")
jsonlines = importlib.import_module("loganalyzer.ingest.jsonlines")

JSON_PRESETS = [n for n, f in PRESETS.items() if f.syntax == "json"]
REPORT = (S.CLIENT, S.TS, S.STATUS, S.BYTES)

# Lines a JSON access log really holds besides its records, and hostile ones.
ODD_LINES = [
    "",
    "   ",
    "# a comment",
    "not json at all",
    'web-1  | {"ClientHost":"81.2.69.160","StartUTC":"2026-09-14T00:01:02Z","status":200}',
    '{"ClientHost":"81.2.69.160","StartUTC":"2026-09-14T00:01:02Z"',  # cut short
    '{"ClientHost":{"nested":1},"StartUTC":"2026-09-14T00:01:02Z"}',  # another type
    '{"ClientHost":"81.2.69.160","StartUTC":"2026-09-14T00:01:02Z","DownstreamStatus":200.0,'
    '"DownstreamContentSize":1.5e3}',
    '{"ClientHost":"81.2.69.160","StartUTC":"2026-09-14T00:01:02.5+08:00",'
    '"DownstreamStatus":"404","DownstreamContentSize":"-"}',
    '{"ClientHost":"2.136.4.5\\x41","StartUTC":"2026-09-14T00:01:02Z","request_User-Agent":'
    '"bad\\xff bytes"}',
    '{"ClientHost":"2.136.4.5","StartUTC":"2026-09-14T00:01:02Z","request_User-Agent":"a\x01b"}',
    '{"level":"info","ts":1789344062.5,"msg":"serving initial configuration"}',
    '{"ClientHost":"2.136.4.5","time":"2026-09-14 00:01:02"}',
    '{"ClientHost":"2.136.4.5","StartUTC":"2026-02-30T00:01:02Z"}',
    '{"ClientHost":"2.136.4.5","StartUTC":"1789344062"}',
    "[1, 2, 3]",
    "{}",
    '{"remote_addr":"175.167.3.4","time":"14/Sep/2026:08:01:02 +0800","status":"200"}',
    '{"request":{"client_ip":"1.2.3.4","headers":{"User-Agent":"not a list"}},"ts":1}',
    '{"request":{"client_ip":"1.2.3.4","headers":{"User-Agent":["a","b"]}},"ts":1.0,'
    '"status":200,"size":0}',
    '{"ClientIP":"2.136.4.5","EdgeStartTimestamp":1789344062000000000,"EdgeResponseStatus":200}',
    '{"ClientIP":"2.136.4.5","EdgeStartTimestamp":"2026-09-14T00:01:02Z","EdgeResponseBytes":-5}',
]


REFERENCE = ((jsonlines, "JSON_DECODE"), (parse_module, "QUICK_ISO_TIMES"))
"""The quick paths under test, switched off for the reference parse."""


@pytest.fixture(scope="module")
def bench_log(tmp_path_factory, city_db) -> Path:
    return generate_log(
        tmp_path_factory.mktemp("gen") / "bench.log", lines=3000, seed=5, city_db=city_db
    )


@pytest.mark.parametrize("columns", [None, REPORT], ids=["all", "report"])
@pytest.mark.parametrize("name", JSON_PRESETS)
def test_odd_lines_read_as_the_reference_reads_them(name, columns, monkeypatch):
    monkeypatch.setattr(jsonlines, "_JSON_PIECE", 4)
    fmt = get_format(name)
    # The examples around the odd lines: a batch of good records with bad ones in it.
    texts = [fmt.example] * 5 + ODD_LINES + [fmt.example] * 5
    fast, slow = parsed_both_ways(lines_frame(texts), fmt, columns, REFERENCE)
    assert_frame_equal(fast, slow)
    assert fast[S.REASON].null_count() >= 10


@pytest.mark.parametrize("columns", [None, REPORT], ids=["all", "report"])
@pytest.mark.parametrize("name", ["traefik", "caddy", "cloudflare", "json"])
def test_the_benchmark_requests_read_as_the_reference_reads_them(
    tmp_path, bench_log, name, columns, monkeypatch
):
    # Small pieces, so that the refused pieces and the decoded ones alternate.
    monkeypatch.setattr(jsonlines, "_JSON_PIECE", 64)
    decoded = []
    real = jsonlines._json_decoded
    monkeypatch.setattr(
        jsonlines, "_json_decoded", lambda *a: decoded.append(out := real(*a)) or out
    )
    path = convert_log(bench_log, name, tmp_path / f"bench.{name}")
    lines = read_lines([path]).collect()
    lines = pl.concat([lines.head(1500), lines_frame(ODD_LINES * 3), lines.slice(1500)])
    fast, slow = parsed_both_ways(lines, get_format(name), columns, REFERENCE)
    assert_frame_equal(fast, slow)
    # The reader refused the batch, then took most of its pieces.
    assert decoded[0] is None
    assert sum(d is not None for d in decoded) > len(decoded) // 2
    # Every request of the combined log is a request here too.
    assert fast[S.REASON].null_count() >= 2990


def test_the_caddy_fixture_and_a_mapping_of_ones_own():
    lines = read_lines([FIXTURES / "logs" / "caddy.log"]).collect()
    fast, slow = parsed_both_ways(lines, get_format("caddy"), None, REFERENCE)
    assert_frame_equal(fast, slow)
    own = json_format("client_ip=request.remote_ip,ts=ts,ua=request.headers.User-Agent[0]")
    fast, slow = parsed_both_ways(lines, own, None, REFERENCE)
    assert_frame_equal(fast, slow)
    assert fast.filter(pl.col(S.REASON).is_null())["ua"].null_count() == 0


@pytest.mark.parametrize(
    ("paths", "planned"),
    [
        ((("a", ("$.a", "$.b.c")),), True),
        ((("a", ("$['x-y'][0]",)),), True),
        ((("a", ("$.a",)), ("b", ("$.a.b",))), False),  # text and object at once
        ((("a", ("$..a",)),), False),  # recursive descent: path by path
        ((("a", ("$.a[*]",)),), False),
    ],
)
def test_paths_the_reader_can_take(paths, planned):
    assert (jsonlines._json_plan(paths) is not None) == planned


@st.composite
def _iso_times(draw) -> str:
    text = (
        f"{draw(st.integers(1, 9999)):04d}-{draw(st.integers(0, 13)):02d}-"
        f"{draw(st.integers(0, 32)):02d}T{draw(st.integers(0, 25)):02d}:"
        f"{draw(st.integers(0, 60)):02d}:{draw(st.integers(0, 61)):02d}"
    )
    frac = draw(st.integers(0, 12))
    if frac:
        text += "." + "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=frac,
                                            max_size=frac)))  # fmt: skip
    text += draw(st.sampled_from(["Z", "z", "", "+08:00", "-05:30", "+0800", "+24:00", "+08:60"]))
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(text)))
        junk = draw(st.text(alphabet="0123456789+-:.TZ ,x\u00e9", max_size=2))
        text = text[:at] + junk + text[at + draw(st.integers(0, 1)) :]
    return text


@given(st.lists(_iso_times(), min_size=1, max_size=60))
@settings(max_examples=150, deadline=None)
def test_iso_quick_path_matches_the_general_parser(values: list[str]) -> None:
    frame = pl.DataFrame({"t": values}, schema={"t": pl.String})
    t = pl.col("t")
    quick_ts, quick_off = parse_module._iso(t, "Europe/Madrid")
    quick = (
        parse_module._iso_stages(frame.lazy(), t)
        .select(quick_ts.alias("ts"), quick_off.alias("off"))
        .collect()
    )
    general_ts, general_off = parse_module._general_iso(t, "Europe/Madrid")
    general = frame.select(general_ts.alias("ts"), general_off.alias("off"))
    assert quick.equals(general), pl.concat(
        [frame, quick, general.rename(str.upper)], how="horizontal"
    )
