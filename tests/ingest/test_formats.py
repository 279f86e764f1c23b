"""Log formats: presets, ``apache:`` templates, and the regex each compiles to."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime

import polars as pl
import pytest

from loganalyzer import schema as S
from loganalyzer.errors import UsageError
from loganalyzer.ingest.detect import parse
from loganalyzer.ingest.formats import LogFormat
from loganalyzer.ingest.presets import COMBINED, COMMON, PRESETS, VHOST_COMBINED, get_format


def _parse_one(line: str, fmt: str | LogFormat) -> dict[str, object]:
    lines = pl.DataFrame({S.SOURCE: ["t.log"], S.LINE_NO: [1], S.LINE: [line]})
    result = parse(lines, fmt=fmt)
    rejects = result.rejects.collect()
    assert rejects.height == 0, rejects.to_dicts()
    rows = result.rows.collect().to_dicts()
    assert len(rows) == 1
    return rows[0]


PRESET_NAMES = [
    "common", "combined", "vhost_combined", "common_vhost", "combined_vhost", "nginx_main",
    "npm_proxy",
    "npm_standard", "icecast", "haproxy",
    "aws_alb", "aws_elb", "aws_s3", "cloudfront", "w3c", "caddy", "traefik", "cloudflare", "json",
    "vsftpd", "xferlog",
]  # fmt: skip


def test_presets_are_exactly_the_documented_ones() -> None:
    assert list(PRESETS) == PRESET_NAMES
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
    conn = {S.CLIENT_CONN: expected[S.CLIENT], S.XFF: None}
    assert row == {S.SOURCE: "t.log", S.LINE_NO: 1, **expected, **conn}


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
        pytest.param("%h %j", "%j", id="unknown-letter"),
        pytest.param("%h %{x}Z", "%{x}Z", id="unknown-braced-letter"),
        pytest.param("%h %{nonsense}p", "%{nonsense}p", id="unknown-port-kind"),
        pytest.param("%h %{fortnights}T", "%{fortnights}T", id="unknown-duration-unit"),
    ],
)
def test_unsupported_directive_is_a_usage_error(template: str, directive: str) -> None:
    with pytest.raises(UsageError) as excinfo:
        get_format(f"apache:{template}")
    assert type(excinfo.value) is UsageError
    assert str(excinfo.value) == f"log format directive {directive} is not supported yet"


def test_unsupported_strftime_conversion_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as excinfo:
        get_format("apache:%h %{%Y %Q}t")
    assert str(excinfo.value) == "log format time conversion %Q is not supported yet"


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param("lighttpd", id="unknown-name"),
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
        f"unknown log format {spec!r}; use auto, one of {', '.join(PRESET_NAMES)}, "
        "or 'apache:<LogFormat>', 'nginx:<log_format>', 'json:<column=path,...>'"
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


# --- every preset: its example line, read field by field ----------------------------------


def _t(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# (preset, client, ts, utc_offset, method, path, status, bytes_sent, user_agent)
PRESET_EXAMPLES = [
    ("common", "175.167.3.4", _t(2026, 9, 14, 0, 1, 2), "+0800", "GET", "/", 200, 512, None),
    ("combined", "2.136.4.5", _t(2026, 9, 14, 0, 1, 2), "+0200", "GET", "/login", 200, 1043,
     "Mozilla/5.0 (X11; Linux x86_64)"),
    ("vhost_combined", "81.2.69.160", _t(2026, 9, 14, 0, 1, 2), "+0100", "GET", "/", 200, 512,
     "curl/8.5.0"),
    ("common_vhost", "2.136.4.5", _t(2026, 9, 14, 0, 1, 2), "+0200", "GET", "/", 200, 512, None),
    ("combined_vhost", "2.136.4.5", _t(2026, 9, 14, 0, 1, 2), "+0200", "GET", "/", 200, 512,
     "curl/8.5.0"),
    ("nginx_main", "10.0.0.5", _t(2026, 9, 14, 0, 1, 2), "+0800", "GET", "/api", 200, 88,
     "curl/8.5.0"),
    ("npm_proxy", "175.167.3.4", _t(2026, 9, 14, 0, 1, 2), "+0800", "GET", "/login", 200, 1043,
     "curl/8.5.0"),
    ("npm_standard", "2.136.4.5", _t(2026, 9, 14, 0, 1, 2), "+0800", "GET", "/old", 301, 0,
     "curl/8.5.0"),
    ("icecast", "81.2.69.160", _t(2026, 9, 14, 9, 0, 0), "+0000", "GET", "/stream.mp3", 200,
     7340032, "VLC/3.0.20 LibVLC/3.0.20"),
    ("haproxy", "175.167.3.4", datetime(2026, 9, 14, 8, 1, 2, 345000, tzinfo=UTC), None, "GET",
     "/login", 200, 1043, None),
    ("aws_alb", "175.167.3.4", datetime(2026, 9, 14, 0, 1, 2, 123456, tzinfo=UTC), "+0000",
     "GET", "https://www.example.org:443/", 200, 1043, "curl/8.5.0"),
    ("aws_elb", "2.136.4.5", datetime(2026, 9, 14, 0, 1, 2, 123456, tzinfo=UTC), "+0000", "GET",
     "https://www.example.org:443/", 200, 1043, "curl/8.5.0"),
    ("aws_s3", "81.2.69.160", _t(2026, 9, 14, 0, 1, 2), "+0000", "GET",
     "/example-bucket/photos/cat.jpg", 200, 1043, "curl/8.5.0"),
    ("cloudfront", "2.136.4.5", _t(2026, 9, 14, 0, 1, 2), "+0000", "GET", "/index.html", 200,
     1043, "Mozilla/5.0 (X11; Linux x86_64)"),
    ("w3c", "81.2.69.160", _t(2026, 9, 14, 0, 1, 2), "+0000", "GET", "/login", 200, None,
     "Mozilla/5.0 (Windows NT 10.0)"),
    ("caddy", "175.167.3.4", datetime(2026, 9, 14, 0, 1, 2, 500000, tzinfo=UTC), None, "GET",
     "/login", 200, 1043, "curl/8.5.0"),
    ("traefik", "81.2.69.160", datetime(2026, 9, 14, 0, 1, 2, 123456, tzinfo=UTC), "+0000",
     "GET", "/login", 200, 1043, "curl/8.5.0"),
    ("cloudflare", "2.136.4.5", _t(2026, 9, 14, 0, 1, 2), None, "GET", "/login", 200, 1043,
     "curl/8.5.0"),
    ("json", "175.167.3.4", _t(2026, 9, 14, 0, 1, 2), "+0800", "GET", "/login", 200, 1043,
     "curl/8.5.0"),
    ("vsftpd", "81.2.69.160", _t(2026, 9, 14, 8, 1, 2), None, "OK DOWNLOAD", "/pub/file.iso",
     None, 1043, None),
    ("xferlog", "2.136.4.5", _t(2026, 9, 14, 8, 1, 2), None, None, "/pub/file.iso", None, 1043,
     None),
]  # fmt: skip


def test_every_preset_has_an_example_case() -> None:
    assert [case[0] for case in PRESET_EXAMPLES] == PRESET_NAMES


@pytest.mark.parametrize(
    ("name", "client", "ts", "offset", "method", "path", "status", "size", "agent"),
    [pytest.param(*case, id=case[0]) for case in PRESET_EXAMPLES],
)
def test_preset_example_line_parses(
    name, client, ts, offset, method, path, status, size, agent
) -> None:
    row = _parse_one(PRESETS[name].example, name)
    got = (row[S.CLIENT], row[S.TS], row[S.UTC_OFFSET], row[S.METHOD], row[S.PATH])
    assert got == (client, ts, offset, method, path)
    assert (row[S.STATUS], row[S.BYTES], row[S.USER_AGENT]) == (status, size, agent)


# Which presets read each example: the looser ones of the same family only
# (detection then prefers the one with more fields).
READERS = {
    "common": {"common"},
    "combined": {"common", "combined"},
    "vhost_combined": {"vhost_combined", "common_vhost", "combined_vhost"},
    "common_vhost": {"common_vhost"},
    "combined_vhost": {"combined_vhost", "common_vhost"},
    "nginx_main": {"common", "combined", "nginx_main"},
    "icecast": {"common", "combined", "icecast"},
    "cloudfront": {"cloudfront", "w3c"},
}


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_example_is_read_only_by_its_family(name: str) -> None:
    lines = pl.DataFrame({S.SOURCE: ["t.log"], S.LINE_NO: [1], S.LINE: [PRESETS[name].example]})
    readers = {other for other in PRESET_NAMES if parse(lines, fmt=other).rows.collect().height}
    assert readers == READERS.get(name, {name})


# --- Apache directives, one by one --------------------------------------------------------

T0 = "[14/Sep/2026:08:00:01 +0800]"
TS0 = datetime(2026, 9, 14, 0, 0, 1, tzinfo=UTC)

APACHE_DIRECTIVES = [
    ("%h %t %a", f"81.2.69.160 {T0} 10.0.0.1", {"client": "81.2.69.160", "client_2": "10.0.0.1"}),
    ("%a %t", f"2001:218::1 {T0}", {"client": "2001:218::1"}),
    ("%{c}a %t", f"10.0.0.9 {T0}", {"client": "10.0.0.9"}),
    ("%{c}a %a %t", f"10.0.0.9 175.167.3.4 {T0}",
     {"client": "175.167.3.4", "peer_ip": "10.0.0.9"}),
    ("%h %l %u %t", f"81.2.69.160 ident1 alice {T0}", {"ident": "ident1", "user": "alice"}),
    ('%h %t "%r"', f'81.2.69.160 {T0} "POST /a?b=1 HTTP/2.0"',
     {"request": "POST /a?b=1 HTTP/2.0", "method": "POST", "path": "/a?b=1",
      "protocol": "HTTP/2.0"}),
    ("%h %t %m %U%q %H", f"81.2.69.160 {T0} GET /search?q=x HTTP/1.1",
     {"method": "GET", "path": "/search?q=x", "protocol": "HTTP/1.1",
      "request": "GET /search?q=x HTTP/1.1"}),
    ("%h %t %m %U%q %H", f"81.2.69.160 {T0} GET /plain HTTP/1.1",
     {"path": "/plain", "request": "GET /plain HTTP/1.1"}),
    ("%h %t %>s %<s", f"81.2.69.160 {T0} 404 200", {"status": 404, "status_2": "200"}),
    ("%h %t %s", f"81.2.69.160 {T0} 503", {"status": 503}),
    ("%h %t %b", f"81.2.69.160 {T0} -", {"bytes_sent": None}),
    ("%h %t %B", f"81.2.69.160 {T0} 0", {"bytes_sent": 0}),
    ("%h %t %O %I %S", f"81.2.69.160 {T0} 900 300 1200",
     {"bytes_sent": 900, "bytes_received": "300", "bytes_transferred": "1200"}),
    ("%h %t %D %T", f"81.2.69.160 {T0} 1234567 1", {"duration_us": "1234567", "duration_s": "1"}),
    ("%h %t %{ms}T %{us}T", f"81.2.69.160 {T0} 12 12345",
     {"duration_ms": "12", "duration_us": "12345"}),
    ("%h %t %v %V %p", f"81.2.69.160 {T0} www.example.org example.org 8443",
     {"vhost": "www.example.org", "vhost_2": "example.org", "port": 8443}),
    ("%h %t %{remote}p %{local}p", f"81.2.69.160 {T0} 51234 443",
     {"client_port": "51234", "port": 443}),
    ('%h %t "%{Referer}i" "%{User-agent}i"',
     f'81.2.69.160 {T0} "https://example.org/" "curl/8.5.0"',
     {"referer": "https://example.org/", "user_agent": "curl/8.5.0"}),
    ('%h %t "%{X-Forwarded-For}i"', f'10.0.0.1 {T0} "175.167.3.4, 10.0.0.2"',
     {"xff": "175.167.3.4, 10.0.0.2"}),
    ("%h %t %{X-Forwarded-For}i %>s", f"10.0.0.1 {T0} 175.167.3.4, 10.0.0.2 200",
     {"xff": "175.167.3.4, 10.0.0.2", "status": 200}),
    ('%h %t "%{Accept-Language}i" %{Location}o', f'81.2.69.160 {T0} "zh-CN,zh" /next',
     {"req_accept_language": "zh-CN,zh", "resp_location": "/next"}),
    ("%h %t %{SSL_PROTOCOL}e %{session}C %{ratio}n", f"81.2.69.160 {T0} TLSv1.3 abc 77",
     {"env_ssl_protocol": "TLSv1.3", "cookie_session": "abc", "note_ratio": "77"}),
    ("%h %t %X %k %P %A %L %R %f", f"81.2.69.160 {T0} + 3 4242 10.0.0.1 Zx9 php /var/www/i.php",
     {"connection_status": "+", "keepalive_requests": "3", "pid": "4242",
      "server_ip": "10.0.0.1", "log_id": "Zx9", "handler": "php",
      "filename": "/var/www/i.php"}),
    ("%h %t 100%% %>s", f"81.2.69.160 {T0} 100% 200", {"status": 200}),
    ('%h %t %400,501{User-agent}i %!200,304{Referer}i', f"81.2.69.160 {T0} - -",
     {"user_agent": None, "referer": None}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("template", "line", "expected"),
    [pytest.param(*case, id=case[0]) for case in APACHE_DIRECTIVES],
)
def test_apache_directive(template: str, line: str, expected: dict) -> None:
    row = _parse_one(line, f"apache:{template}")
    assert {k: row[k] for k in expected} == expected
    assert row[S.TS] == TS0


# Apache's %{format}t: epoch forms and strftime, with or without a zone.
APACHE_TIMES = [
    ("%h %{sec}t", "81.2.69.160 1789344001", TS0, None),
    ("%h %{msec}t", "81.2.69.160 1789344001000", TS0, None),
    ("%h %{usec}t", "81.2.69.160 1789344001000000", TS0, None),
    ("%h %{end:sec}t", "81.2.69.160 1789344001", TS0, None),
    ("%h [%{%d/%b/%Y:%H:%M:%S %z}t]", "81.2.69.160 [14/Sep/2026:08:00:01 +0800]", TS0, "+0800"),
    ("%h %{%Y-%m-%d %H:%M:%S}t", "81.2.69.160 2026-09-14 00:00:01", TS0, None),
    ("%h %{%Y-%m-%dT%H:%M:%S%z}t", "81.2.69.160 2026-09-14T02:00:01+0200", TS0, "+0200"),
]


@pytest.mark.parametrize(
    ("template", "line", "ts", "offset"), [pytest.param(*c, id=c[0]) for c in APACHE_TIMES]
)
def test_apache_time_directives(template: str, line: str, ts: datetime, offset) -> None:
    row = _parse_one(line, f"apache:{template}")
    assert (row[S.TS], row[S.UTC_OFFSET]) == (ts, offset)


# --- nginx log_format variables -----------------------------------------------------------

TL = "14/Sep/2026:08:00:01 +0800"
NGINX_VARS = [
    ("$remote_addr [$time_local]", f"175.167.3.4 [{TL}]", {"client": "175.167.3.4"}),
    ("$remote_addr - $remote_user [$time_local]", f"175.167.3.4 - bob [{TL}]", {"user": "bob"}),
    ("$remote_addr $time_iso8601", "175.167.3.4 2026-09-14T08:00:01+08:00",
     {"utc_offset": "+0800"}),
    ("$remote_addr $msec", "175.167.3.4 1789344001.000", {"utc_offset": None}),
    ('$remote_addr [$time_local] "$request" $status $body_bytes_sent $bytes_sent',
     f'175.167.3.4 [{TL}] "GET /x HTTP/1.1" 200 5 300',
     {"request": "GET /x HTTP/1.1", "status": 200, "bytes_sent": 5, "bytes_total": "300"}),
    ('$remote_addr [$time_local] "$http_referer" "$http_user_agent" "$http_x_forwarded_for"',
     f'10.0.0.1 [{TL}] "-" "curl/8.5.0" "175.167.3.4"',
     {"referer": None, "user_agent": "curl/8.5.0", "xff": "175.167.3.4"}),
    ("$remote_addr [$time_local] $request_time $upstream_response_time",
     f"175.167.3.4 [{TL}] 0.012 0.010, 0.002",
     {"request_time": "0.012", "upstream_response_time": "0.010, 0.002"}),
    ("$host $server_name $scheme $server_port $remote_addr [$time_local]",
     f"www.example.org example.org https 443 175.167.3.4 [{TL}]",
     {"vhost": "www.example.org", "vhost_2": "example.org", "scheme": "https", "port": 443}),
    ("$remote_addr [$time_local] $request_method $request_uri $server_protocol",
     f"175.167.3.4 [{TL}] GET /a?b=1 HTTP/2.0",
     {"method": "GET", "path": "/a?b=1", "protocol": "HTTP/2.0",
      "request": "GET /a?b=1 HTTP/2.0"}),
    ("$remote_addr [$time_local] $request_method $uri?$args",
     f"175.167.3.4 [{TL}] GET /a?b=1", {"path": "/a?b=1"}),
    ("$proxy_add_x_forwarded_for - - [$time_local] $status",
     f"175.167.3.4, 10.0.0.1 - - [{TL}] 200",
     {"xff": "175.167.3.4, 10.0.0.1", "status": 200, "client": "10.0.0.1"}),
    ("${remote_addr} [$time_local] $ssl_protocol $geoip2_country_code $http_x_request_id",
     f"175.167.3.4 [{TL}] TLSv1.3 CN abc-123",
     {"ssl_protocol": "TLSv1.3", "geoip2_country_code": "CN", "http_x_request_id": "abc-123"}),
    ('$remote_addr [$time_local] "$http_x_custom"', f'175.167.3.4 [{TL}] "a \\"b\\" c"',
     {"http_x_custom": 'a \\"b\\" c'}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("template", "line", "expected"), [pytest.param(*c, id=c[0]) for c in NGINX_VARS]
)
def test_nginx_variable(template: str, line: str, expected: dict) -> None:
    row = _parse_one(line, f"nginx:{template}")
    assert {k: row[k] for k in expected} == expected
    assert row[S.TS] == TS0


def test_nginx_main_is_the_stock_log_format() -> None:
    fmt = get_format(
        "nginx:"
        '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
        '"$http_referer" "$http_user_agent" "$http_x_forwarded_for"'
    )
    assert (fmt.regex, fmt.columns) == (PRESETS["nginx_main"].regex, PRESETS["nginx_main"].columns)
    assert get_format("nginx") is PRESETS["nginx_main"]
    assert get_format("iis") is PRESETS["w3c"]


# --- JSON lines ----------------------------------------------------------------------------


def test_json_field_mapping_reads_nested_and_dashed_keys() -> None:
    fmt = get_format("json:client_ip=peer.addr,ts=when,status=code,agent=hdr.User-Agent[0]")
    line = (
        '{"peer":{"addr":"81.2.69.160"},"when":1789344001,"code":"404",'
        '"hdr":{"User-Agent":["curl/8.5.0"]}}'
    )
    row = _parse_one(line, fmt)
    assert (row[S.CLIENT], row[S.TS], row[S.STATUS], row["agent"]) == (
        "81.2.69.160",
        TS0,
        404,
        "curl/8.5.0",
    )


@pytest.mark.parametrize("bad", ["client_ip", "=x", "ts="])
def test_json_field_mapping_needs_pairs(bad: str) -> None:
    with pytest.raises(UsageError) as excinfo:
        get_format(f"json:{bad}")
    assert str(excinfo.value) == f"--json-field {bad!r}: use COLUMN=PATH, e.g. ts=time"


@pytest.mark.parametrize(
    ("line", "prefix"),
    [
        pytest.param(PRESETS["caddy"].example, "", id="plain"),
        pytest.param(PRESETS["caddy"].example, "caddy  | ", id="docker-compose-prefix"),
    ],
)
def test_json_line_after_a_prefix(line: str, prefix: str) -> None:
    assert _parse_one(prefix + line, "caddy")[S.CLIENT] == "175.167.3.4"


# --- each preset's documented quirks --------------------------------------------------------

QUIRKS = [
    # (preset, line, expected fields)
    ("haproxy",
     "2026-09-14T08:01:02.345678+08:00 lb1 haproxy[1234]: 175.167.3.4:51234 "
     "[14/Sep/2026:08:01:02.345] www~ app/web1 0/0/1/12/13 200 1043 - - ---- 3/3/0/0/0 0/0 "
     '"GET / HTTP/1.1"',
     {"client": "175.167.3.4", "status": 200}),
    ("haproxy",
     "<134>Sep 14 08:01:02 lb1 haproxy[1234]: 2001:218::1:51234 [14/Sep/2026:08:01:02.345] "
     "www~ app/<NOSRV> -1/-1/-1/-1/0 -1 +0 - - CR-- 1/1/0/0/0 0/0 \"<BADREQ>\"",
     {"client": "2001:218::1", "client_port": "51234", "status": None, "bytes_sent": 0,
      "request": "<BADREQ>", "method": None}),
    ("haproxy",
     "81.2.69.160:51234 [14/Sep/2026:08:01:02.345] www/1: SSL handshake failure",
     {"client": "81.2.69.160", "connection_error": "www/1: SSL handshake failure",
      "request": None, "status": None}),
    ("haproxy",
     "175.167.3.4:51234 [14/Sep/2026:08:01:02.345] www~ app/web1 0/0/1/12/13 200 1043 - - "
     '---- 3/3/0/0/0 0/0 {curl/8.5.0|www.example.org} {} "GET / HTTP/1.1"',
     {"captured_request_headers": "curl/8.5.0|www.example.org", "path": "/"}),
    ("aws_alb",
     'h2 2026-09-14T00:01:02.123456Z app/my-alb/50dc 2001:218::1:51234 - -1 -1 -1 460 - 120 0 '
     '"GET https://www.example.org:443/ HTTP/2.0" "curl/8.5.0" ECDHE-RSA-AES128-GCM-SHA256 '
     'TLSv1.2 - "Root=1-58337262-36d228ad5d99923122bbe354" "www.example.org" "-" 0',
     {"client": "2001:218::1", "status": 460, "bytes_sent": 0, "target": "-",
      "vhost": "www.example.org", "protocol": "HTTP/2.0"}),
    ("aws_elb",
     '2026-09-14T00:01:02.123456Z my-elb 2.136.4.5:51234 10.0.0.1:80 0.001 0.0003 0.0004 - - '
     '82 305 "- - - " "-" - -',
     {"client": "2.136.4.5", "status": None, "request": "- - - ", "method": None,
      "bytes_sent": 305, "user_agent": None}),
    ("aws_elb",
     '2026-09-14T00:01:02.123456Z my-elb 2.136.4.5:51234 10.0.0.1:80 0.001 0.0003 0.0004 200 '
     '200 0 57 "GET http://www.example.org:80/ HTTP/1.1"',
     {"client": "2.136.4.5", "status": 200, "user_agent": None}),
    ("aws_s3",
     "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be example-bucket "
     "[14/Sep/2026:00:01:02 +0000] - svc:lifecycle 3E57427F33A59F07 S3.EXPIRE.OBJECT "
     "old/cat.jpg - 204 - - 1043 - - - - -",
     {"client": "-", "request": None, "status": 204, "bytes_sent": None, "user_agent": None,
      "operation": "S3.EXPIRE.OBJECT"}),
    ("vsftpd", 'Mon Sep 14 08:01:02 2026 [pid 4242] CONNECT: Client "::ffff:81.2.69.160"',
     {"client": "::ffff:81.2.69.160", "user": None, "method": "CONNECT", "path": None}),
    ("vsftpd",
     'Mon Sep  7 08:01:02 2026 [pid 4242] [alice] FAIL LOGIN: Client "2.136.4.5"',
     {"client": "2.136.4.5", "user": "alice", "method": "FAIL LOGIN"}),
    ("xferlog",
     "Mon Sep  7 08:01:02 2026 12 2.136.4.5 1043 /pub/my file.iso b _ i r alice ftp 0 * i",
     {"client": "2.136.4.5", "path": "/pub/my file.iso", "direction": "i",
      "completion": "i", "user": "alice"}),
    ("caddy",
     '{"ts":1789344062.5,"logger":"http.log.access","request":{"remote_ip":"2.136.4.5",'
     '"method":"GET","uri":"/"},"status":200,"size":5}',
     {"client": "2.136.4.5", "remote_ip": "2.136.4.5", "path": "/", "user_agent": None}),
    ("traefik",
     '{"ClientHost":"2408:8200::1","DownstreamStatus":"404","DownstreamContentSize":"19",'
     '"RequestMethod":"GET","RequestPath":"/x","StartUTC":"2026-09-14T00:01:02Z",'
     '"ClientUsername":"-"}',
     {"client": "2408:8200::1", "status": 404, "bytes_sent": 19, "user": None}),
    ("json",
     '{"@timestamp":"2026-09-14T00:01:02.5Z","clientip":"81.2.69.160","status":"301",'
     '"request":"GET /old HTTP/1.1"}',
     {"client": "81.2.69.160", "status": 301, "path": "/old", "protocol": "HTTP/1.1"}),
    ("icecast",
     '81.2.69.160 - - [14/Sep/2026:09:00:00 +0000] "SOURCE /live HTTP/1.0" 200 0 "-" '
     '"butt 0.1.34" 86400',
     {"method": "SOURCE", "duration_s": "86400"}),
    ("nginx_main",
     '10.0.0.5 - - [14/Sep/2026:08:01:02 +0800] "GET / HTTP/2.0" 499 0 "-" "curl/8.5.0" '
     '"175.167.3.4, 10.0.0.4"',
     {"client": "10.0.0.5", "xff": "175.167.3.4, 10.0.0.4", "status": 499}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "line", "expected"),
    [pytest.param(*q, id=f"{q[0]}-{i}") for i, q in enumerate(QUIRKS)],
)
def test_preset_quirks(name: str, line: str, expected: dict) -> None:
    row = _parse_one(line, name)
    assert {k: row[k] for k in expected} == expected
