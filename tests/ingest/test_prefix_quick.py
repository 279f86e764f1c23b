"""AWS logs captured by a prefix regex on matching lines, against the whole regex.

Lines are matched with the format's whole regex and their first fields
captured with a shorter one. Whatever the line, the values and the accepted
lines must be those of the whole regex alone.
"""

from __future__ import annotations

import importlib

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from loganalyzer import schema as S
from loganalyzer.analysis.bench import generate_log
from loganalyzer.analysis.bench_formats import convert_log
from loganalyzer.ingest.presets import get_format
from loganalyzer.ingest.read import read_lines

parse_module = importlib.import_module("loganalyzer.ingest.parse")
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


def _frame(texts: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {S.SOURCE: ["t"] * len(texts), S.LINE_NO: list(range(1, len(texts) + 1)), S.LINE: texts},
        schema={S.SOURCE: pl.String, S.LINE_NO: pl.Int64, S.LINE: pl.String},
    )


def _both(lines: pl.DataFrame, name: str, columns) -> tuple[pl.DataFrame, pl.DataFrame]:
    fmt = get_format(name)

    def run() -> pl.DataFrame:
        state = parse_module.ParseState()
        return parse_module.parse_lines(lines.lazy(), fmt, columns=columns, state=state).collect()

    fast = run()
    parse_module.QUICK_PREFIX = False
    try:
        slow = run()
    finally:
        parse_module.QUICK_PREFIX = True
    return fast, slow


@pytest.mark.parametrize("name", AWS)
def test_odd_lines_read_as_the_whole_regex_reads_them(name):
    fast, slow = _both(_frame(_odd(get_format(name).example)), name, REPORT)
    assert_frame_equal(fast, slow)
    assert fast[S.REASON].null_count() >= 4


@pytest.mark.parametrize("name", AWS)
def test_the_benchmark_requests_read_as_the_whole_regex_reads_them(tmp_path, city_db, name):
    log = generate_log(tmp_path / "b.log", lines=3000, seed=9, city_db=city_db)
    lines = read_lines([convert_log(log, name, tmp_path / f"b.{name}")]).collect()
    fast, slow = _both(lines, name, REPORT)
    assert_frame_equal(fast, slow)
    assert fast[S.REASON].null_count() >= 2990
