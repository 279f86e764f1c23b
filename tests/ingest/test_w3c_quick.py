"""W3C lines split at their separator against the format's regex: the same values.

Plain lines (one separator between values, nothing else the regex reads) are
split; every other line goes through the regex. Whatever the mix, every line
must come out as the regex alone reads it.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from loganalyzer import schema as S
from loganalyzer.analysis.bench import generate_log
from loganalyzer.analysis.bench_formats import convert_log
from loganalyzer.ingest.presets import get_format
from loganalyzer.ingest.read import read_lines
from tests.helpers import FIXTURES, lines_frame, parsed_both_ways

parse_module = importlib.import_module("loganalyzer.ingest.parse")
# The quick path under test, switched off for the reference parse.
SWITCH = ((parse_module, "QUICK_W3C"),)
REPORT = (S.CLIENT, S.TS, S.STATUS, S.BYTES)

IIS = "2026-09-14 00:01:02 10.0.0.1 GET /login - 443 - 81.2.69.160 Mozilla/5.0+(X11) - 200 0 0 15"
IIS_ODD = [
    IIS,
    IIS + " ",  # a blank at the end
    " " + IIS,  # and at the start
    IIS.replace(" GET ", "  GET "),  # two spaces
    IIS.replace(" GET ", "\tGET "),  # a tab
    IIS.replace("Mozilla/5.0+(X11)", '"Mozilla/5.0 (X11)"'),  # quoted
    IIS.replace("Mozilla/5.0+(X11)", '"say ""hi"""'),
    IIS.replace("/login", "/lo\u00a0gin"),  # other white space
    IIS.replace("/login", "/lo\u2003gin"),
    IIS.replace("/login", "/lo\x0bgin"),
    IIS.rsplit(" ", 3)[0],  # fields after the status missing
    IIS.rsplit(" ", 4)[0],  # the status missing too
    IIS + " extra values",
    "2026-09-14 00:01:02",
    "",
    "#Fields: date time c-ip sc-status",
    "2026-09-14 00:01:03 81.2.69.160 404",
    "2026-09-14 00:01:03 81.2.69.160",
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
    "cs(User-Agent) cs(Referer) sc-status sc-bytes",
    IIS.rsplit(" ", 3)[0] + " 1043",
    "2026-02-30 00:01:02 10.0.0.1 GET / - 443 - 81.2.69.160 - - 200 5",
]


@pytest.mark.parametrize("columns", [REPORT, (S.CLIENT, S.TS, S.USER_AGENT, S.PATH)])
def test_odd_iis_lines_read_as_the_regex_reads_them(columns):
    fast, slow = parsed_both_ways(lines_frame(IIS_ODD), "w3c", columns, SWITCH)
    assert_frame_equal(fast, slow)
    assert fast[S.REASON].null_count() >= 8


def test_odd_cloudfront_lines_read_as_the_regex_reads_them():
    line = get_format("cloudfront").example
    odd = [
        line,
        " " + line,
        "\t" + line,
        line + "\t",
        line.replace("\t", "\t\t", 1),
        line.replace("/index.html", "/a b\u00a0c"),
        line.replace("Mozilla", '"Mozilla'),
        "\t".join(line.split("\t")[:9]),
        "\t".join(line.split("\t")[:8]),
        line.replace("\t", " "),
    ]
    fast, slow = parsed_both_ways(lines_frame(odd), "cloudfront", REPORT, SWITCH)
    assert_frame_equal(fast, slow)
    assert fast[S.REASON].null_count() >= 5


@pytest.fixture(scope="module")
def bench_log(tmp_path_factory, city_db) -> Path:
    return generate_log(
        tmp_path_factory.mktemp("gen") / "bench.log", lines=3000, seed=5, city_db=city_db
    )


@pytest.mark.parametrize("name", ["w3c", "cloudfront"])
def test_the_benchmark_requests_read_as_the_regex_reads_them(tmp_path, bench_log, name):
    path = convert_log(bench_log, name, tmp_path / f"bench.{name}")
    lines = read_lines([path]).collect()
    fast, slow = parsed_both_ways(lines, name, REPORT, SWITCH)
    assert_frame_equal(fast, slow)
    assert fast[S.REASON].null_count() >= 2990


def test_the_iis_fixture():
    lines = read_lines([FIXTURES / "logs" / "iis.log"]).collect()
    fast, slow = parsed_both_ways(lines, "w3c", REPORT, SWITCH)
    assert_frame_equal(fast, slow)
