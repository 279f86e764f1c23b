"""The client behind proxies: --client-ip conn | xff | xff-first with --trusted-proxy."""

from __future__ import annotations

import polars as pl
import pytest

from loganalyzer import schema as S
from loganalyzer.errors import UsageError
from loganalyzer.ingest.detect import parse
from loganalyzer.ingest.parse import ParseOptions

FMT = 'apache:%h %t "%{X-Forwarded-For}i" %>s'
T = "[14/Sep/2026:08:00:01 +0800]"
CONN = "10.0.0.1"


def _client(xff: str, options: ParseOptions, conn: str = CONN) -> tuple[str, str, str | None]:
    line = f'{conn} {T} "{xff}" 200'
    lines = pl.DataFrame({S.SOURCE: ["t.log"], S.LINE_NO: [1], S.LINE: [line]})
    result = parse(lines, fmt=FMT, options=options)
    assert result.rejects.collect().height == 0
    row = result.rows.collect().row(0, named=True)
    return row[S.CLIENT], row[S.CLIENT_CONN], row[S.XFF]


TRUSTED = ("10.0.0.0/8", "2001:db8::/32")

CASES = [
    # (mode, trusted, X-Forwarded-For, expected client)
    ("conn", TRUSTED, "175.167.3.4, 10.0.0.2", CONN),
    ("xff-first", (), "203.0.113.9, 175.167.3.4", "203.0.113.9"),
    ("xff-first", (), "-", CONN),
    ("xff", TRUSTED, "175.167.3.4, 10.0.0.2", "175.167.3.4"),
    # The client can write anything on the left: the right-most untrusted hop wins.
    ("xff", TRUSTED, "1.2.3.4, 175.167.3.4, 10.0.0.2", "175.167.3.4"),
    ("xff", TRUSTED, "81.2.69.160, 10.200.0.1, 10.0.0.2", "81.2.69.160"),
    ("xff", (), "1.2.3.4, 175.167.3.4", "175.167.3.4"),
    # Every hop trusted: the left-most is as far back as the header goes.
    ("xff", TRUSTED, "10.0.0.3, 10.0.0.2", "10.0.0.3"),
    ("xff", TRUSTED, "-", CONN),
    ("xff", TRUSTED, "", CONN),
    ("xff", TRUSTED, " , ", CONN),
    ("xff", TRUSTED, "2408:8200::1, 2001:db8:1::5", "2408:8200::1"),
    ("xff", TRUSTED, "[2408:8200::1]:443, 10.0.0.2", "2408:8200::1"),
    ("xff", TRUSTED, "175.167.3.4:5678, 10.0.0.2:80", "175.167.3.4"),
    ("xff", TRUSTED, "175.167.3.4, ::ffff:10.0.0.2", "175.167.3.4"),
    ("xff", TRUSTED, "175.167.3.4, 2001:0db8:0000::0001", "175.167.3.4"),
    ("xff", TRUSTED, " 175.167.3.4 ,10.0.0.2", "175.167.3.4"),
    ("xff", ("10.0.0.2",), "175.167.3.4, 10.0.0.3, 10.0.0.2", "10.0.0.3"),
    # A hop that is not an address is not trusted: it is reported, and the
    # enrichment files it under invalid_ip.
    ("xff", TRUSTED, "175.167.3.4, unknown", "unknown"),
]


@pytest.mark.parametrize(
    ("mode", "trusted", "xff", "expected"),
    [pytest.param(*c, id=f"{c[0]}:{c[2] or 'empty'}") for c in CASES],
)
def test_client_choice(mode, trusted, xff, expected) -> None:
    client, conn, header = _client(xff, ParseOptions(client_ip=mode, trusted_proxies=trusted))
    assert client == expected
    # Both addresses stay available.
    assert conn == CONN
    assert header == (None if xff == "-" else xff)


def test_xff_mode_on_many_lines_matches_one_by_one() -> None:
    options = ParseOptions(client_ip="xff", trusted_proxies=TRUSTED)
    xffs = [c[2] for c in CASES if c[0] == "xff" and c[1] == TRUSTED] * 50
    lines = pl.DataFrame(
        {
            S.SOURCE: ["t.log"] * len(xffs),
            S.LINE_NO: range(1, len(xffs) + 1),
            S.LINE: [f'{CONN} {T} "{x}" 200' for x in xffs],
        }
    )
    together = parse(lines, fmt=FMT, options=options).rows.collect()[S.CLIENT].to_list()
    assert together == [_client(x, options)[0] for x in xffs]


def test_xff_only_format_takes_the_connection_from_the_last_entry() -> None:
    line = "175.167.3.4, 10.0.0.7 - - [14/Sep/2026:08:00:01 +0800] 200"
    fmt = "nginx:$proxy_add_x_forwarded_for - - [$time_local] $status"
    lines = pl.DataFrame({S.SOURCE: ["t.log"], S.LINE_NO: [1], S.LINE: [line]})
    conn = parse(lines, fmt=fmt).rows.collect().row(0, named=True)
    assert (conn[S.CLIENT], conn[S.CLIENT_CONN]) == ("10.0.0.7", "10.0.0.7")
    options = ParseOptions(client_ip="xff", trusted_proxies=("10.0.0.0/8",))
    real = parse(lines, fmt=fmt, options=options).rows.collect().row(0, named=True)
    assert (real[S.CLIENT], real[S.CLIENT_CONN]) == ("175.167.3.4", "10.0.0.7")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"trusted_proxies": ("10.0.0.0/33",)},
            "--trusted-proxy '10.0.0.0/33' is not an address or CIDR range",
            id="bad-cidr",
        ),
        pytest.param(
            {"client_ip": "first"}, "--client-ip 'first': use conn, xff or xff-first", id="mode"
        ),
        pytest.param(
            {"assume_tz": "Mars/Olympus"},
            "--assume-tz 'Mars/Olympus': use an IANA zone (Europe/Madrid), UTC or an offset "
            "(+08:00)",
            id="zone",
        ),
    ],
)
def test_bad_options_are_usage_errors(kwargs, message) -> None:
    with pytest.raises(UsageError) as excinfo:
        ParseOptions(**kwargs)
    assert str(excinfo.value) == message
