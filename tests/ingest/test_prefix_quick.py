"""AWS logs captured by a prefix regex on matching lines, against the whole regex.

Lines are matched with the format's whole regex and their first fields
captured with a shorter one. Whatever the line, the values and the accepted
lines must be those of the whole regex alone.
"""

from __future__ import annotations

import importlib

import pytest
from polars.testing import assert_frame_equal

from loganalyzer import schema as S
from loganalyzer.analysis.bench import generate_log
from loganalyzer.analysis.bench_formats import convert_log
from loganalyzer.ingest.presets import get_format
from loganalyzer.ingest.read import read_lines
from tests.helpers import lines_frame, parsed_both_ways

parse_module = importlib.import_module("loganalyzer.ingest.parse")
# The quick path under test, switched off for the reference parse.
SWITCH = ((parse_module, "QUICK_PREFIX"),)
REPORT = (S.CLIENT, S.TS, S.STATUS, S.BYTES)
AWS = ["aws_alb", "aws_elb", "aws_s3"]


def _odd(example: str) -> list[str]:
    words = example.split(" ")
    return [
        example,
        example + " trailing words",
        example.replace("GET ", 'GET /a\\"b '),  # an escaped quote in the request
        example.replace('"curl/8.5.0"', '"curl \\"x\\" y"'),
        example.replace("175.167.3.4:", "2001:db8::1:").replace("2.136.4.5:", "[2001:db8::2]:"),
        example.replace("81.2.69.160 ", "2001:db8::3 "),
        example.replace(" 200 ", " - ", 1),
        example.replace(" 1043 ", " - ", 1),
        example.replace(" 200 ", " 2000 ", 1),
        " ".join(words[:8]),
        " ".join(words[:14]),
        example.replace(" ", "  ", 1),
        example.replace('"', "", 1),
        "",
        "garbage",
    ]


@pytest.mark.parametrize("name", AWS)
def test_odd_lines_read_as_the_whole_regex_reads_them(name):
    fast, slow = parsed_both_ways(lines_frame(_odd(get_format(name).example)), name, REPORT, SWITCH)
    assert_frame_equal(fast, slow)
    assert fast[S.REASON].null_count() >= 4


@pytest.mark.parametrize("name", AWS)
def test_the_benchmark_requests_read_as_the_whole_regex_reads_them(tmp_path, city_db, name):
    log = generate_log(tmp_path / "b.log", lines=3000, seed=9, city_db=city_db)
    lines = read_lines([convert_log(log, name, tmp_path / f"b.{name}")]).collect()
    fast, slow = parsed_both_ways(lines, name, REPORT, SWITCH)
    assert_frame_equal(fast, slow)
    assert fast[S.REASON].null_count() >= 2990
