"""W3C extended logs (IIS, CloudFront): columns from #Fields:, which may change mid-file."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from loganalyzer import schema as S
from loganalyzer.ingest.detect import parse
from loganalyzer.ingest.parse import (
    REASON_COMMENT,
    REASON_NO_MATCH,
    ParseState,
    parse_lines,
    split_parsed,
)
from loganalyzer.ingest.presets import PRESETS
from loganalyzer.ingest.read import LineBatch

IIS = [
    "#Software: Microsoft Internet Information Services 10.0",
    "#Version: 1.0",
    "#Date: 2026-09-14 00:00:00",
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
    "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken",
    "2026-09-14 00:00:01 10.0.0.1 GET /index.html - 443 - 81.2.69.160 "
    "Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64) - 200 0 0 15",
    "2026-09-14 00:00:02 10.0.0.1 GET /search q=caf%C3%A9 443 alice 2408:8200::1 "
    "curl/8.5.0 https://www.example.org/ 404 0 2 3",
    # The server restarts with another field list, in another order.
    "#Software: Microsoft Internet Information Services 10.0",
    "#Fields: c-ip date time sc-status sc-bytes cs-method cs-uri-stem cs(User-Agent)",
    "175.167.3.4 2026-09-14 00:00:03 301 512 HEAD /old Wget/1.21",
    "2.136.4.5 2026-09-14 00:00:04 200 1043 GET /new -",
]


def _frame(lines: list[str], first: int = 1) -> pl.DataFrame:
    return pl.DataFrame(
        {
            S.SOURCE: ["iis.log"] * len(lines),
            S.LINE_NO: range(first, first + len(lines)),
            S.LINE: lines,
        },
        schema={S.SOURCE: pl.String, S.LINE_NO: pl.Int64, S.LINE: pl.String},
    )


EXPECTED = [
    # line_no, client, ts second, method, path, status, bytes, user, referer, agent
    (5, "81.2.69.160", 1, "GET", "/index.html", 200, None, None, None,
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"),
    (6, "2408:8200::1", 2, "GET", "/search?q=caf%C3%A9", 404, None, "alice",
     "https://www.example.org/", "curl/8.5.0"),
    (9, "175.167.3.4", 3, "HEAD", "/old", 301, 512, None, None, "Wget/1.21"),
    (10, "2.136.4.5", 4, "GET", "/new", 200, 1043, None, None, None),
]  # fmt: skip


def _check(rows: pl.DataFrame) -> None:
    got = rows.select(
        S.LINE_NO, S.CLIENT, pl.col(S.TS).dt.second(), S.METHOD, S.PATH, S.STATUS, S.BYTES,
        S.USER, S.REFERER, S.USER_AGENT,
    ).rows()  # fmt: skip
    assert got == EXPECTED
    assert rows[S.TS].dt.date().unique().to_list() == [datetime(2026, 9, 14).date()]
    assert rows[S.UTC_OFFSET].unique().to_list() == ["+0000"]


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_fields_change_mid_file(eol: str) -> None:
    data = (eol.join(IIS) + eol).encode()
    result = parse(LineBatch("iis.log", 1, data).to_frame(), fmt="w3c")
    _check(result.rows.collect())
    rejects = result.rejects.collect()
    assert rejects.select(S.LINE_NO, S.REASON).rows() == [
        (n, REASON_COMMENT) for n in (1, 2, 3, 4, 7, 8)
    ]


@pytest.mark.parametrize("split", [4, 5, 6, 8, 9])
def test_fields_carry_from_batch_to_batch_of_one_file(split: int) -> None:
    state = ParseState()
    parts = [
        split_parsed(parse_lines(frame.lazy(), PRESETS["w3c"], state=state).collect().lazy())
        for frame in (_frame(IIS[:split]), _frame(IIS[split:], split + 1))
    ]
    rows = pl.concat([p.rows.collect() for p in parts], how="diagonal_relaxed")
    _check(rows)


def test_without_carried_state_a_batch_falls_back_to_iis_defaults() -> None:
    frame = _frame(IIS[8:], 9)  # the second segment's lines, its #Fields in another batch
    rows = parse_lines(frame.lazy(), PRESETS["w3c"]).collect()
    # IIS's default field list does not fit these lines (too few values).
    assert rows[S.REASON].to_list() == [REASON_NO_MATCH, REASON_NO_MATCH]


@pytest.mark.parametrize(
    ("fields", "line", "expected"),
    [
        pytest.param(
            "date time c-ip cs(User-Agent) sc-status",
            "2026-09-14 00:00:01 81.2.69.160 Mozilla/5.0+(X11;+Linux) 200",
            {S.USER_AGENT: "Mozilla/5.0 (X11; Linux)"},
            id="plus-for-spaces",
        ),
        pytest.param(
            "date time c-ip cs(Cookie) sc-status",
            '2026-09-14 00:00:01 81.2.69.160 "a=1; b=""x y""" 200',
            {"cs_cookie": 'a=1; b="x y"', S.STATUS: 200},
            id="quoted-with-doubled-quotes",
        ),
        pytest.param(
            "date time c-ip cs-method cs-uri-stem cs-uri-query sc-status",
            "2026-09-14 00:00:01 81.2.69.160 GET /a - 200",
            {S.PATH: "/a", S.REQUEST: "GET /a", S.PROTOCOL: None},
            id="dash-query",
        ),
        pytest.param(
            "date time c-ip cs-method cs-uri-stem cs-version sc-status",
            "2026-09-14 00:00:01 81.2.69.160 GET /a HTTP/2 200",
            {S.REQUEST: "GET /a HTTP/2", S.PROTOCOL: "HTTP/2"},
            id="request-rebuilt",
        ),
        pytest.param(
            "date time c-ip cs-host s-port x-forwarded-for sc-status",
            "2026-09-14 00:00:01 10.0.0.2 www.example.org 443 175.167.3.4 200",
            {S.VHOST: "www.example.org", S.PORT: 443, S.XFF: "175.167.3.4"},
            id="host-port-xff",
        ),
        pytest.param(
            "date time c-ip sc-status",
            "2026-09-14\t00:00:01\t81.2.69.160\t200\tand\tmore",
            {S.STATUS: 200},
            id="tabs-and-extra-trailing-fields",
        ),
        pytest.param(
            "time c-ip sc-status",
            "00:00:01 81.2.69.160 200",
            {S.TS: datetime(2026, 9, 14, 0, 0, 1, tzinfo=UTC)},
            id="date-from-the-date-directive",
        ),
    ],
)
def test_w3c_values(fields: str, line: str, expected: dict) -> None:
    lines = ["#Date: 2026-09-14 00:00:00", f"#Fields: {fields}", line]
    rows = parse(_frame(lines), fmt="w3c").rows.collect()
    assert rows.height == 1
    row = rows.row(0, named=True)
    assert {k: row[k] for k in expected} == expected


def test_cloudfront_reads_lines_written_before_fields_were_added() -> None:
    fields = PRESETS["cloudfront"].template.split()
    full = PRESETS["cloudfront"].example.split("\t")
    short = "\t".join(full[: len(fields) - 7])  # the first 26 fields only
    rows = parse(_frame([short]), fmt="cloudfront").rows.collect()
    assert rows.select(S.CLIENT, S.STATUS, S.BYTES).rows() == [("2.136.4.5", 200, 1043)]


def test_cloudfront_refuses_a_fields_line_without_edge_location() -> None:
    lines = ["#Fields: date time c-ip sc-status", "2026-09-14 00:00:01 81.2.69.160 200"]
    rejects = parse(_frame(lines), fmt="cloudfront").rejects.collect()
    assert rejects[S.REASON].to_list() == [REASON_COMMENT, REASON_NO_MATCH]
