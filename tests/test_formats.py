"""Log formats: presets, ``apache:`` templates, and the regex each compiles to."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime

import polars as pl
import pytest

from loganalyzer import schema as S
from loganalyzer.errors import UsageError
from loganalyzer.formats import COMBINED, COMMON, PRESETS, VHOST_COMBINED, LogFormat, get_format
from loganalyzer.parse import parse


def _parse_one(line: str, fmt: str | LogFormat) -> dict[str, object]:
    lines = pl.DataFrame({S.SOURCE: ["t.log"], S.LINE_NO: [1], S.LINE: [line]})
    result = parse(lines, fmt=fmt)
    rejects = result.rejects.collect()
    assert rejects.height == 0, rejects.to_dicts()
    rows = result.rows.collect().to_dicts()
    assert len(rows) == 1
    return rows[0]


def test_presets_are_exactly_the_documented_three() -> None:
    assert list(PRESETS) == ["common", "combined", "vhost_combined"]
    assert PRESETS["common"] is COMMON
    assert PRESETS["combined"] is COMBINED
    assert PRESETS["vhost_combined"] is VHOST_COMBINED


@pytest.mark.parametrize(
    ("name", "columns"),
    [
        pytest.param(
            "common",
            ("client", "ident", "user", "_time", "request", "status", "bytes_sent"),
            id="common",
        ),
        pytest.param(
            "combined",
            (
                "client", "ident", "user", "_time", "request", "status", "bytes_sent",
                "referer", "user_agent",
            ),
            id="combined",
        ),
        pytest.param(
            "vhost_combined",
            (
                "vhost", "port", "client", "ident", "user", "_time", "request", "status",
                "bytes_sent", "referer", "user_agent",
            ),
            id="vhost_combined",
        ),
    ],
)  # fmt: skip
def test_preset_compiles_to_one_named_group_per_column(name: str, columns: tuple) -> None:
    fmt = PRESETS[name]
    assert fmt.name == name
    assert fmt.columns == columns
    compiled = re.compile(fmt.regex)
    assert tuple(compiled.groupindex) == columns
    assert compiled.fullmatch(fmt.example) is not None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "common",
            {
                "client": "175.167.3.4",
                "ident": None,
                "user": None,
                "ts": datetime(2026, 9, 14, 0, 1, 2, tzinfo=UTC),
                "utc_offset": "+0800",
                "request": "GET / HTTP/1.1",
                "method": "GET",
                "path": "/",
                "protocol": "HTTP/1.1",
                "status": 200,
                "bytes_sent": 512,
                "referer": None,
                "user_agent": None,
                "vhost": None,
                "port": None,
            },
            id="common",
        ),
        pytest.param(
            "combined",
            {
                "client": "2.136.4.5",
                "ident": None,
                "user": None,
                "ts": datetime(2026, 9, 14, 0, 1, 2, tzinfo=UTC),
                "utc_offset": "+0200",
                "request": "GET /login HTTP/1.1",
                "method": "GET",
                "path": "/login",
                "protocol": "HTTP/1.1",
                "status": 200,
                "bytes_sent": 1043,
                "referer": "https://example.org/",
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
                "vhost": None,
                "port": None,
            },
            id="combined",
        ),
        pytest.param(
            "vhost_combined",
            {
                "client": "81.2.69.160",
                "ident": None,
                "user": None,
                "ts": datetime(2026, 9, 14, 0, 1, 2, tzinfo=UTC),
                "utc_offset": "+0100",
                "request": "GET / HTTP/1.1",
                "method": "GET",
                "path": "/",
                "protocol": "HTTP/1.1",
                "status": 200,
                "bytes_sent": 512,
                "referer": None,
                "user_agent": "curl/8.5.0",
                "vhost": "www.example.org",
                "port": 443,
            },
            id="vhost_combined",
        ),
    ],
)
def test_preset_example_parses_into_expected_fields(name: str, expected: dict) -> None:
    row = _parse_one(PRESETS[name].example, name)
    assert row == {S.SOURCE: "t.log", S.LINE_NO: 1, **expected}


@pytest.mark.parametrize("name", ["common", "combined", "vhost_combined"])
def test_get_format_returns_the_preset_object(name: str) -> None:
    assert get_format(name) is PRESETS[name]


def test_get_format_passes_a_logformat_through() -> None:
    fmt = LogFormat(name="mine", template="%h %t")
    assert get_format(fmt) is fmt


def test_logformat_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        COMMON.regex = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("template", "columns"),
    [
        pytest.param('%h %l %u %t "%r" %>s %b', COMMON.columns, id="same-as-common"),
        pytest.param(
            '%a %t "%r" %s %B "%{User-Agent}i"',
            ("client", "_time", "request", "status", "bytes_sent", "user_agent"),
            id="a-s-B-agent",
        ),
        pytest.param(
            '%V %h %t "%r" %>s %O',
            ("vhost", "client", "_time", "request", "status", "bytes_sent"),
            id="V-O",
        ),
        pytest.param(
            '%h %t "%r" %>s %b "%{Referer}i"',
            ("client", "_time", "request", "status", "bytes_sent", "referer"),
            id="referer-only",
        ),
    ],
)
def test_apache_template_compiles(template: str, columns: tuple) -> None:
    fmt = get_format(f"apache:{template}")
    assert fmt.name == "custom"
    assert fmt.template == template
    assert fmt.columns == columns


@pytest.mark.parametrize(
    ("template", "line", "expected"),
    [
        pytest.param(
            '%a %t "%r" %s %B "%{User-Agent}i"',
            '10.0.0.7 [14/Sep/2026:00:00:01 +0000] "GET /x HTTP/1.1" 404 17 "curl/8.5.0"',
            {
                "client": "10.0.0.7",
                "request": "GET /x HTTP/1.1",
                "path": "/x",
                "status": 404,
                "bytes_sent": 17,
                "user_agent": "curl/8.5.0",
                "referer": None,
                "vhost": None,
            },
            id="a-s-B-agent",
        ),
        pytest.param(
            '%V %h %t "%r" %>s %O',
            'shop.example.com 10.0.0.7 [14/Sep/2026:00:00:01 +0000] "GET / HTTP/1.1" 200 0',
            {
                "client": "10.0.0.7",
                "request": "GET / HTTP/1.1",
                "path": "/",
                "status": 200,
                "bytes_sent": 0,
                "user_agent": None,
                "referer": None,
                "vhost": "shop.example.com",
            },
            id="V-O",
        ),
        pytest.param(
            '%h %t "%r" %>s %b',
            '10.0.0.7   [14/Sep/2026:00:00:01 +0000]  "GET / HTTP/1.1"  200   5',
            {
                "client": "10.0.0.7",
                "request": "GET / HTTP/1.1",
                "path": "/",
                "status": 200,
                "bytes_sent": 5,
                "user_agent": None,
                "referer": None,
                "vhost": None,
            },
            id="padded-with-runs-of-spaces",
        ),
    ],
)
def test_apache_template_parses_a_line(template: str, line: str, expected: dict) -> None:
    row = _parse_one(line, f"apache:{template}")
    assert {k: row[k] for k in expected} == expected
    assert row[S.TS] == datetime(2026, 9, 14, 0, 0, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("template", "directive"),
    [
        pytest.param("%h %D", "%D", id="D-duration"),
        pytest.param('%h %t "%r" %>s %b %T', "%T", id="T-seconds"),
        pytest.param("%h %{X-Forwarded-For}i", "%{X-Forwarded-For}i", id="other-header"),
        pytest.param("%h %{SSL_PROTOCOL}e", "%{SSL_PROTOCOL}e", id="env-var"),
        pytest.param("%h %{Location}o", "%{Location}o", id="response-header"),
        pytest.param(
            '%h %{%d/%b/%Y:%H:%M:%S %z}t "%r"', "%{%d/%b/%Y:%H:%M:%S %z}t", id="custom-time"
        ),
        pytest.param("%{remote}p %h", "%{remote}p", id="braced-port"),
    ],
)
def test_unsupported_directive_is_a_usage_error(template: str, directive: str) -> None:
    with pytest.raises(UsageError) as excinfo:
        get_format(f"apache:{template}")
    assert type(excinfo.value) is UsageError
    assert str(excinfo.value) == f"log format directive {directive} is not supported yet"


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param("nginx", id="unknown-name"),
        pytest.param("Combined", id="wrong-case"),
        pytest.param("", id="empty"),
        pytest.param('%h %l %u %t "%r" %>s %b', id="template-without-apache-prefix"),
    ],
)
def test_unknown_preset_is_a_usage_error_listing_presets(spec: str) -> None:
    with pytest.raises(UsageError) as excinfo:
        get_format(spec)
    assert type(excinfo.value) is UsageError
    assert str(excinfo.value) == (
        f"unknown log format {spec!r}; use one of common, combined, vhost_combined, "
        "or 'apache:<LogFormat string>'"
    )
    assert excinfo.value.exit_code == 2


@pytest.mark.parametrize(
    ("vhost_port", "vhost", "port"),
    [
        pytest.param("www.example.org:443", "www.example.org", 443, id="host-443"),
        pytest.param("shop.example.com:8080", "shop.example.com", 8080, id="host-8080"),
        pytest.param("localhost:80", "localhost", 80, id="short-name"),
        pytest.param("www.example.org:-", "www.example.org", None, id="port-dash"),
    ],
)
def test_vhost_and_port_are_split(vhost_port: str, vhost: str, port: int | None) -> None:
    line = (
        f'{vhost_port} 81.2.69.160 - - [14/Sep/2026:00:00:01 +0000] "GET / HTTP/1.1" 200 5 '
        '"-" "curl/8.5.0"'
    )
    row = _parse_one(line, "vhost_combined")
    assert (row[S.VHOST], row[S.PORT], row[S.CLIENT]) == (vhost, port, "81.2.69.160")


@pytest.mark.parametrize(
    ("template", "columns"),
    [
        pytest.param("%h %h", ("client", "client_2"), id="h-twice"),
        pytest.param("%h %a %h", ("client", "client_2", "client_3"), id="h-a-h"),
        pytest.param(
            "%h %t %>s %s", ("client", "_time", "status", "status_2"), id="final-and-first-status"
        ),
        pytest.param(
            "%h %t %b %O %B",
            ("client", "_time", "bytes_sent", "bytes_sent_2", "bytes_sent_3"),
            id="three-sizes",
        ),
    ],
)
def test_duplicate_directives_get_suffixed_columns(template: str, columns: tuple) -> None:
    fmt = get_format(f"apache:{template}")
    assert fmt.columns == columns
    assert tuple(re.compile(fmt.regex).groupindex) == columns


def test_duplicate_directive_columns_are_kept_as_extra_text_columns() -> None:
    fmt = get_format('apache:%h %a %t "%r" %>s %s')
    line = '10.0.0.1 81.2.69.160 [14/Sep/2026:00:00:01 +0000] "GET / HTTP/1.1" 200 404'
    lines = pl.DataFrame({S.SOURCE: ["t.log"], S.LINE_NO: [1], S.LINE: [line]})
    rows = parse(lines, fmt=fmt).rows.collect()
    assert rows.schema == pl.Schema(
        {**S.PARSED_SCHEMA, "client_2": pl.String, "status_2": pl.String}
    )
    row = rows.row(0, named=True)
    assert (row["client"], row["client_2"], row["status"], row["status_2"]) == (
        "10.0.0.1",
        "81.2.69.160",
        200,
        "404",
    )
