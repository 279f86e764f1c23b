"""Parsing: one table of (format, line, expected fields), rejects, fixtures, contracts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from loganalyzer import schema as S
from loganalyzer.ingest.detect import parse
from loganalyzer.ingest.parse import (
    BYTES_INVALID,
    REASON_BAD_TIME,
    REASON_BLANK,
    REASON_COMMENT,
    REASON_NO_MATCH,
    ParseResult,
    parse_lines,
    split_parsed,
)
from loganalyzer.ingest.presets import COMBINED, get_format
from loganalyzer.ingest.read import LineBatch, read_lines
from tests.helpers import log_line

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "fixtures" / "logs"
SAMPLE_LOG = ROOT / "loganalyzer" / "sample" / "access.log"

REJECT_SCHEMA = pl.Schema(S.REJECT_SCHEMA)
PARSED_SCHEMA = pl.Schema(S.PARSED_SCHEMA)

# The fields of log_line()'s default line; each case below states what differs.
DEFAULT_ROW: dict[str, object] = {
    S.CLIENT: "81.2.69.160",
    S.IDENT: None,
    S.USER: None,
    S.TS: datetime(2026, 9, 14, 8, 0, 0, tzinfo=UTC),
    S.UTC_OFFSET: "+0000",
    S.REQUEST: "GET / HTTP/1.1",
    S.METHOD: "GET",
    S.PATH: "/",
    S.PROTOCOL: "HTTP/1.1",
    S.STATUS: 200,
    S.BYTES: 512,
    S.REFERER: None,
    S.USER_AGENT: "curl/8.5.0",
    S.VHOST: None,
    S.PORT: None,
}
NO_AGENT = {S.REFERER: None, S.USER_AGENT: None}
VHOST = {S.VHOST: "www.example.org", S.PORT: 443}


def _lines(lines: list[str], source: str = "t.log") -> pl.DataFrame:
    return pl.DataFrame(
        {S.SOURCE: [source] * len(lines), S.LINE_NO: range(1, len(lines) + 1), S.LINE: lines},
        schema={S.SOURCE: pl.String, S.LINE_NO: pl.Int64, S.LINE: pl.String},
    )


def _collect(result: ParseResult) -> tuple[pl.DataFrame, pl.DataFrame]:
    return result.rows.collect(), result.rejects.collect()


CASES = [
    pytest.param("combined", log_line(), {}, id="combined-default"),
    pytest.param("common", log_line("common"), NO_AGENT, id="common-default"),
    pytest.param("vhost_combined", log_line("vhost_combined"), VHOST, id="vhost-default"),
    pytest.param(
        "combined", log_line(ip="2408:8200::1"), {S.CLIENT: "2408:8200::1"}, id="ipv6-client"
    ),
    pytest.param(
        "common", log_line("common", ip="2001:218::1"), {S.CLIENT: "2001:218::1", **NO_AGENT},
        id="ipv6-client-common",
    ),
    pytest.param(
        "vhost_combined", log_line("vhost_combined", ip="2a02:9000::5"),
        {S.CLIENT: "2a02:9000::5", **VHOST}, id="ipv6-client-vhost",
    ),
    pytest.param(
        "combined", log_line(ip="::ffff:2.136.4.5"), {S.CLIENT: "::ffff:2.136.4.5"},
        id="ipv4-mapped",
    ),
    pytest.param(
        "vhost_combined", log_line("vhost_combined", ip="::ffff:2.136.4.5"),
        {S.CLIENT: "::ffff:2.136.4.5", **VHOST}, id="ipv4-mapped-vhost",
    ),
    pytest.param(
        "combined", log_line(agent=r"Mozilla/5.0 (compatible; \"QuotedBot\"/1.0)"),
        {S.USER_AGENT: 'Mozilla/5.0 (compatible; "QuotedBot"/1.0)'}, id="escaped-quote-in-agent",
    ),
    pytest.param(
        "combined", log_line(agent=r"C:\\Program Files\\bot"),
        {S.USER_AGENT: "C:\\Program Files\\bot"}, id="escaped-backslash-in-agent",
    ),
    pytest.param(
        "combined", log_line(agent=r"bot \\\"x\\\""),
        {S.USER_AGENT: 'bot \\"x\\"'}, id="escaped-backslash-then-quote",
    ),
    pytest.param(
        "combined", log_line(agent=r"ends in a backslash\\"),
        {S.USER_AGENT: "ends in a backslash\\"}, id="agent-ending-in-backslash",
    ),
    pytest.param(
        "combined", log_line(agent=r"tab\there \x01"),
        {S.USER_AGENT: r"tab\there \x01"}, id="other-escapes-stay-as-written",
    ),
    pytest.param(
        "combined", log_line(referer=r"https://example.com/?q=\"x\""),
        {S.REFERER: 'https://example.com/?q="x"'}, id="escaped-quote-in-referer",
    ),
    pytest.param(
        "combined", log_line(request=r"GET /search?q=\"x\" HTTP/1.1"),
        {S.REQUEST: 'GET /search?q="x" HTTP/1.1', S.PATH: '/search?q="x"'},
        id="escaped-quote-in-request",
    ),
    pytest.param(
        "combined",
        log_line(request=r"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", status=400, size=0,
                 agent="-"),
        {S.REQUEST: r"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", S.METHOD: None,
         S.PATH: None, S.PROTOCOL: None, S.STATUS: 400, S.BYTES: 0, S.USER_AGENT: None},
        id="tls-handshake",
    ),
    pytest.param(
        "vhost_combined",
        log_line("vhost_combined", request=r"\x16\x03\x01", status=400, size=226),
        {S.REQUEST: r"\x16\x03\x01", S.METHOD: None, S.PATH: None, S.PROTOCOL: None,
         S.STATUS: 400, S.BYTES: 226, **VHOST},
        id="tls-handshake-vhost",
    ),
    pytest.param(
        "combined", log_line(request="-", status=408, size="-", agent="-"),
        {S.REQUEST: "-", S.METHOD: None, S.PATH: None, S.PROTOCOL: None, S.STATUS: 408,
         S.BYTES: None, S.USER_AGENT: None},
        id="dash-request-408",
    ),
    pytest.param(
        "common", log_line("common", request="-", status=408, size="-"),
        {S.REQUEST: "-", S.METHOD: None, S.PATH: None, S.PROTOCOL: None, S.STATUS: 408,
         S.BYTES: None, **NO_AGENT},
        id="dash-request-408-common",
    ),
    pytest.param(
        "combined", log_line(status=304, size="-"), {S.STATUS: 304, S.BYTES: None},
        id="bytes-dash-is-null",
    ),
    pytest.param(
        "combined", log_line(size=0), {S.BYTES: 0}, id="bytes-zero-is-zero",
    ),
    pytest.param(
        "combined", log_line(size=5_000_000_000), {S.BYTES: 5_000_000_000}, id="bytes-over-int32",
    ),
    pytest.param(
        "combined", log_line(status="-"), {S.STATUS: None}, id="status-dash-is-null",
    ),
    pytest.param(
        "combined", log_line(offset_hours=8), {S.UTC_OFFSET: "+0800"}, id="offset-plus-0800",
    ),
    pytest.param(
        "combined", log_line(offset_hours=-7), {S.UTC_OFFSET: "-0700"}, id="offset-minus-0700",
    ),
    pytest.param(
        "combined",
        '81.2.69.160 - - [14/Sep/2026:13:30:00 +0530] "GET / HTTP/1.1" 200 512 "-" "curl/8.5.0"',
        {S.UTC_OFFSET: "+0530"}, id="offset-plus-0530",
    ),
    pytest.param(
        "combined",
        '81.2.69.160 - - [14/Sep/2026:01:00:00 -0700] "GET / HTTP/1.1" 200 512 "-" "curl/8.5.0"',
        {S.TS: datetime(2026, 9, 14, 8, 0, 0, tzinfo=UTC), S.UTC_OFFSET: "-0700"},
        id="offset-minus-0700-written",
    ),
    pytest.param(
        "combined",
        '81.2.69.160 - - [01/Jan/2027:05:00:00 +0800] "GET / HTTP/1.1" 200 512 "-" "curl/8.5.0"',
        {S.TS: datetime(2026, 12, 31, 21, 0, 0, tzinfo=UTC), S.UTC_OFFSET: "+0800"},
        id="offset-crosses-new-year",
    ),
    pytest.param(
        "combined",
        '81.2.69.160 - - [29/Feb/2028:23:59:59 -0000] "GET / HTTP/1.1" 200 512 "-" "curl/8.5.0"',
        {S.TS: datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC), S.UTC_OFFSET: "-0000"},
        id="leap-day",
    ),
    pytest.param(
        "combined", log_line() + ' "10.0.0.1, 172.16.0.2" 0.123 rt=17',
        {}, id="extra-trailing-fields",
    ),
    pytest.param(
        "common", log_line("common") + ' "-" "curl/8.5.0"', NO_AGENT,
        id="combined-line-as-common",
    ),
    pytest.param(
        "combined", log_line(request="GET /static/css/site.css HTTP/2.0"),
        {S.REQUEST: "GET /static/css/site.css HTTP/2.0", S.PATH: "/static/css/site.css",
         S.PROTOCOL: "HTTP/2.0"},
        id="http2",
    ),
    pytest.param(
        "combined", log_line(request="GET /my docs/a b.html HTTP/1.1"),
        {S.REQUEST: "GET /my docs/a b.html HTTP/1.1", S.PATH: "/my docs/a b.html"},
        id="path-with-spaces",
    ),
    pytest.param(
        "combined", log_line(request="GET /index.html"),
        {S.REQUEST: "GET /index.html", S.PATH: "/index.html", S.PROTOCOL: None},
        id="http09-no-protocol",
    ),
    pytest.param(
        "combined", log_line(request="OPTIONS * HTTP/1.0"),
        {S.REQUEST: "OPTIONS * HTTP/1.0", S.METHOD: "OPTIONS", S.PATH: "*",
         S.PROTOCOL: "HTTP/1.0"},
        id="options-star",
    ),
    pytest.param(
        "combined", log_line(request="GET /search?q=log+analyzer&lang=zh-CN HTTP/1.1"),
        {S.REQUEST: "GET /search?q=log+analyzer&lang=zh-CN HTTP/1.1",
         S.PATH: "/search?q=log+analyzer&lang=zh-CN"},
        id="query-string",
    ),
    pytest.param(
        "combined", log_line(user="alice"), {S.USER: "alice"}, id="authenticated-user",
    ),
    pytest.param(
        "combined",
        '81.2.69.160 ident7 bob [14/Sep/2026:08:00:00 +0000] "GET / HTTP/1.1" 200 512 "-" '
        '"curl/8.5.0"',
        {S.IDENT: "ident7", S.USER: "bob"}, id="ident-and-user",
    ),
    pytest.param(
        "combined", log_line(referer="https://www.google.es/"),
        {S.REFERER: "https://www.google.es/"}, id="referer",
    ),
    pytest.param(
        "combined", log_line(agent=""), {S.USER_AGENT: ""}, id="empty-agent-is-empty",
    ),
    pytest.param(
        "combined", log_line(agent="Mozilla/5.0 (Linux; 中文) 沈阳"),
        {S.USER_AGENT: "Mozilla/5.0 (Linux; 中文) 沈阳"}, id="non-ascii-agent",
    ),
    pytest.param(
        "vhost_combined", log_line("vhost_combined", vhost="shop.example.com", port=8080),
        {S.VHOST: "shop.example.com", S.PORT: 8080}, id="vhost-port-8080",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("fmt", "line", "fields"), CASES)
def test_parse_line(fmt: str, line: str, fields: dict[str, object]) -> None:
    rows, rejects = _collect(parse(_lines([line]), fmt=fmt))
    assert rejects.to_dicts() == []
    assert rows.schema == PARSED_SCHEMA
    expected = {S.SOURCE: "t.log", S.LINE_NO: 1, **DEFAULT_ROW, **fields}
    # Without --client-ip xff the client is the connection's address.
    expected[S.CLIENT_CONN], expected[S.XFF] = expected[S.CLIENT], None
    assert rows.to_dicts() == [{c: expected[c] for c in S.PARSED_SCHEMA}]


def test_parse_ts_is_utc_datetime() -> None:
    line = log_line(offset_hours=8)
    assert line.startswith("81.2.69.160 - - [14/Sep/2026:16:00:00 +0800]")
    rows, _ = _collect(parse(_lines([line])))
    assert rows.schema[S.TS] == pl.Datetime("us", "UTC")
    assert rows[S.TS].to_list() == [datetime(2026, 9, 14, 8, 0, 0, tzinfo=UTC)]


GOOD = log_line()

REJECT_CASES = [
    pytest.param("combined", "", REASON_BLANK, id="empty-line"),
    pytest.param("combined", "   \t ", REASON_BLANK, id="whitespace-line"),
    pytest.param("common", "", REASON_BLANK, id="empty-line-common"),
    pytest.param("combined", "#Version: 1.0", REASON_COMMENT, id="comment"),
    pytest.param("combined", "  # Fields: date time c-ip", REASON_COMMENT, id="indented-comment"),
    pytest.param("vhost_combined", "# vhost log", REASON_COMMENT, id="comment-vhost"),
    pytest.param("combined", "garbage without any structure", REASON_NO_MATCH, id="junk"),
    pytest.param("common", "this is not a log line", REASON_NO_MATCH, id="junk-common"),
    pytest.param(
        "combined",
        '67.43.156.7 - - [14/Sep/2026:00:01:05 +0000] "GET /favicon.ico HTTP/1.1" 200',
        REASON_NO_MATCH,
        id="cut-after-status",
    ),
    pytest.param(
        "combined",
        '2.136.4.5 - - [14/Sep/2026:02:00:09 +0200] "GET /prod',
        REASON_NO_MATCH,
        id="cut-inside-request",
    ),
    pytest.param(
        "combined",
        '2.136.4.5 - - [14/Sep/2026:02:00:09 +0200] "GET / HTTP/1.1" OK 5 "-" "-"',
        REASON_NO_MATCH,
        id="status-not-a-number",
    ),
    pytest.param(
        "combined",
        '2.136.4.5 - - [14/Sep/2026:02:00:09 +0200] "GET / HTTP/1.1" 200 5 "-" "a"b"',
        REASON_NO_MATCH,
        id="unescaped-quote-in-agent",
    ),
    pytest.param(
        "vhost_combined", log_line("combined"), REASON_NO_MATCH, id="combined-line-as-vhost"
    ),
    pytest.param("common", " " + log_line("common"), REASON_NO_MATCH, id="leading-space"),
    pytest.param(
        "combined",
        '81.2.69.160 - - [32/Foo/2026:08:00:00 +0000] "GET / HTTP/1.1" 200 512 "-" "curl"',
        REASON_BAD_TIME,
        id="day-32-month-foo",
    ),
    pytest.param(
        "combined",
        '81.2.69.160 - - [30/Feb/2026:08:00:00 +0000] "GET / HTTP/1.1" 200 512 "-" "curl"',
        REASON_BAD_TIME,
        id="february-30",
    ),
    pytest.param(
        "common",
        '81.2.69.160 - - [14/Sep/2026:25:00:00 +0000] "GET / HTTP/1.1" 200 512',
        REASON_BAD_TIME,
        id="hour-25",
    ),
    pytest.param(
        "combined",
        '81.2.69.160 - - [14/Sep/2026:08:00:00] "GET / HTTP/1.1" 200 512 "-" "curl"',
        REASON_BAD_TIME,
        id="no-offset",
    ),
    pytest.param(
        "vhost_combined",
        'www.example.org:443 81.2.69.160 - - [] "GET / HTTP/1.1" 200 512 "-" "curl"',
        REASON_BAD_TIME,
        id="empty-brackets",
    ),
    pytest.param(
        "combined",
        '81.2.69.160 - - [2026-09-14T08:00:00Z] "GET / HTTP/1.1" 200 512 "-" "curl"',
        REASON_BAD_TIME,
        id="iso-timestamp",
    ),
]


@pytest.mark.parametrize("position", [1, 2, 3], ids=["first", "middle", "last"])
@pytest.mark.parametrize(("fmt", "bad", "reason"), REJECT_CASES)
def test_rejected_line_has_reason_and_line_no(
    fmt: str, bad: str, reason: str, position: int
) -> None:
    good = log_line(fmt)
    lines = [good, good]
    lines.insert(position - 1, bad)
    rows, rejects = _collect(parse(_lines(lines, "web.log"), fmt=fmt))
    assert rejects.schema == REJECT_SCHEMA
    assert rejects.rows() == [("web.log", position, reason, bad)]
    assert rows[S.LINE_NO].to_list() == [n for n in (1, 2, 3) if n != position]


def test_reason_constants() -> None:
    assert (REASON_BLANK, REASON_COMMENT, REASON_NO_MATCH, REASON_BAD_TIME) == (
        "blank line",
        "comment line",
        "does not match the log format",
        "unreadable timestamp",
    )


# --- fixtures ------------------------------------------------------------------

FIXTURE_CASES = [
    pytest.param(LOGS / "combined.log", "combined", 21, {12: REASON_NO_MATCH}, id="combined"),
    pytest.param(LOGS / "common.log", "common", 10, {7: REASON_NO_MATCH}, id="common"),
    pytest.param(
        LOGS / "vhost_combined.log", "vhost_combined", 10, {7: REASON_NO_MATCH}, id="vhost"
    ),
    pytest.param(
        SAMPLE_LOG,
        "combined",
        400,
        {57: REASON_NO_MATCH, 200: REASON_NO_MATCH, 333: REASON_BLANK},
        id="sample",
    ),
]


@pytest.mark.parametrize(("path", "fmt", "total", "bad"), FIXTURE_CASES)
def test_fixture_log_rejects_exactly_the_documented_lines(
    path: Path, fmt: str, total: int, bad: dict[int, str]
) -> None:
    text = path.read_text(encoding="utf-8").split("\n")
    assert text[-1] == ""
    text = text[:-1]
    rows, rejects = _collect(parse(read_lines([path]), fmt=fmt))
    assert rows.height + rejects.height == total == len(text)
    assert rejects.rows() == [(str(path), n, reason, text[n - 1]) for n, reason in bad.items()]
    assert rows[S.LINE_NO].to_list() == [n for n in range(1, total + 1) if n not in bad]
    assert rows.schema == PARSED_SCHEMA
    # Every accepted row has the fields every format has.
    for col in (S.CLIENT, S.TS, S.UTC_OFFSET, S.REQUEST, S.STATUS):
        assert rows[col].null_count() == 0, col


def test_combined_fixture_special_lines() -> None:
    rows, _ = _collect(parse(read_lines([LOGS / "combined.log"])))
    by_line = {r[S.LINE_NO]: r for r in rows.to_dicts()}
    assert by_line[4][S.CLIENT] == "::ffff:2.136.4.5"
    assert (by_line[4][S.STATUS], by_line[4][S.BYTES]) == (304, None)
    assert (
        by_line[5][S.USER_AGENT]
        == 'Mozilla/5.0 (compatible; "QuotedBot"/1.0; +https://bot.example.com/)'
    )
    assert by_line[7][S.USER] == "alice"
    assert by_line[8][S.TS] == datetime(2026, 9, 14, 0, 0, 40, tzinfo=UTC)
    assert by_line[8][S.UTC_OFFSET] == "-0700"
    assert (by_line[9][S.REQUEST], by_line[9][S.METHOD], by_line[9][S.STATUS]) == ("-", None, 408)
    assert by_line[13][S.REQUEST] == r"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
    assert (by_line[13][S.METHOD], by_line[13][S.PATH], by_line[13][S.BYTES]) == (None, None, 0)
    assert (by_line[19][S.METHOD], by_line[19][S.PATH]) == ("OPTIONS", "*")


# --- line endings through the reader --------------------------------------------


@pytest.mark.parametrize("final", [True, False], ids=["terminated", "unterminated"])
@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("fmt", ["common", "combined", "vhost_combined"])
def test_line_endings(fmt: str, eol: str, final: bool) -> None:
    lines = [
        log_line(fmt, ip="175.167.3.4"),
        "junk",
        "",
        log_line(fmt, ip="2408:8200::1", size="-"),
    ]
    data = (eol.join(lines) + (eol if final else "")).encode()
    batch = LineBatch("crlf.log", 10, data)
    rows, rejects = _collect(parse(batch.to_frame(), fmt=fmt))
    assert rejects.rows() == [
        ("crlf.log", 11, REASON_NO_MATCH, "junk"),
        ("crlf.log", 12, REASON_BLANK, ""),
    ]
    assert rows.select(S.LINE_NO, S.CLIENT, S.BYTES).rows() == [
        (10, "175.167.3.4", 512),
        (13, "2408:8200::1", None),
    ]
    expected = parse(_lines(lines), fmt=fmt).rows.collect()
    assert_frame_equal(rows.drop(S.SOURCE, S.LINE_NO), expected.drop(S.SOURCE, S.LINE_NO))


# --- contracts ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["common", "combined", "vhost_combined"])
def test_empty_input_keeps_the_schemas(fmt: str) -> None:
    rows, rejects = _collect(parse(_lines([]), fmt=fmt))
    assert rows.schema == PARSED_SCHEMA
    assert rejects.schema == REJECT_SCHEMA
    assert (rows.height, rejects.height) == (0, 0)


@pytest.mark.parametrize("fmt", ["common", "combined", "vhost_combined"])
def test_all_rejected_input_keeps_the_schemas(fmt: str) -> None:
    rows, rejects = _collect(parse(_lines(["junk", "", "# c"]), fmt=fmt))
    assert rows.schema == PARSED_SCHEMA
    assert rows.height == 0
    assert rejects.schema == REJECT_SCHEMA
    assert rejects[S.REASON].to_list() == [REASON_NO_MATCH, REASON_BLANK, REASON_COMMENT]


def test_all_null_lines_are_rejected_and_keep_the_schemas() -> None:
    lines = pl.DataFrame(
        {S.SOURCE: ["t.log"] * 2, S.LINE_NO: [1, 2], S.LINE: [None, None]},
        schema={S.SOURCE: pl.String, S.LINE_NO: pl.Int64, S.LINE: pl.String},
    )
    rows, rejects = _collect(parse(lines))
    assert rows.schema == PARSED_SCHEMA
    assert rows.height == 0
    assert rejects.schema == REJECT_SCHEMA
    assert rejects.rows() == [
        ("t.log", 1, REASON_NO_MATCH, None),
        ("t.log", 2, REASON_NO_MATCH, None),
    ]


def test_eager_lazy_and_logformat_inputs_agree() -> None:
    lines = _lines([log_line(), "junk", log_line(ip="2408:8200::1", offset_hours=8)])
    eager = parse(lines)
    lazy = parse(lines.lazy(), fmt="combined")
    by_object = parse(lines, fmt=COMBINED)
    custom = parse(lines, fmt=get_format(f"apache:{COMBINED.template}"))
    for other in (lazy, by_object, custom):
        assert_frame_equal(other.rows.collect(), eager.rows.collect())
        assert_frame_equal(other.rejects.collect(), eager.rejects.collect())
    assert_frame_equal(
        eager.rows.collect(engine="streaming"), eager.rows.collect(engine="in-memory")
    )


def test_parse_lines_then_split_equals_parse() -> None:
    lines = _lines([log_line(), "", log_line("common")])
    frame = parse_lines(lines.lazy(), COMBINED)
    schema = frame.collect_schema()
    # Plus the flag of byte counts out of bounds, which split_parsed drops once counted.
    assert set(S.PARSED_SCHEMA) | {S.REASON, S.LINE, BYTES_INVALID} == set(schema)
    split = split_parsed(frame)
    assert BYTES_INVALID not in split.rows.collect_schema()
    whole = parse(lines)
    assert_frame_equal(split.rows.collect(), whole.rows.collect())
    assert_frame_equal(split.rejects.collect(), whole.rejects.collect())
    assert whole.rejects.collect()[S.REASON].to_list() == [REASON_BLANK, REASON_NO_MATCH]


# --- properties --------------------------------------------------------------------

_VALID = st.sampled_from(
    [log_line(), log_line(ip="2408:8200::1", offset_hours=8), log_line(request="-", size="-")]
)


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(st.one_of(st.text(), _VALID), max_size=25))
def test_every_text_line_is_parsed_or_rejected_once(lines: list[str]) -> None:
    rows, rejects = _collect(parse(_lines(lines)))
    n = len(lines)
    assert rows.height + rejects.height == n
    assert sorted(rows[S.LINE_NO].to_list() + rejects[S.LINE_NO].to_list()) == list(range(1, n + 1))
    assert rejects[S.REASON].null_count() == 0
    assert rows.schema == PARSED_SCHEMA


_VALID_BYTES = _VALID.map(lambda s: s.encode() + b"\n")


@settings(max_examples=150, deadline=None)
@example(chunks=[b"\x1f\x8b", b"\x00\x00"], first=1)  # starts like gzip
@given(
    chunks=st.lists(st.one_of(st.binary(max_size=60), _VALID_BYTES), max_size=12),
    first=st.integers(min_value=1, max_value=10_000),
)
def test_every_byte_line_is_parsed_or_rejected_once(chunks: list[bytes], first: int) -> None:
    data = b"".join(chunks)
    n = data.count(b"\n") + (0 if data == b"" or data.endswith(b"\n") else 1)
    rows, rejects = _collect(parse(LineBatch("rand.log", first, data).to_frame()))
    assert rows.height + rejects.height == n
    assert sorted(rows[S.LINE_NO].to_list() + rejects[S.LINE_NO].to_list()) == list(
        range(first, first + n)
    )
