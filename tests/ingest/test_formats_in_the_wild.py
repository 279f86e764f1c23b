"""Logs as servers and attackers really leave them: empty nginx fields, binary junk, vhosts.

Each case runs the installed CLI on a fixture (or on bytes written here, for the
binary lines, which a text fixture cannot hold) and reads the JSON meta: which
format each file was read as, and how many lines parsed and were rejected.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from tests.helpers import run_cli

LOGS = Path(__file__).resolve().parents[2] / "fixtures" / "logs"


@pytest.fixture
def dbs(city_db, asn_db) -> list[str]:
    return ["--city-db", str(city_db), "--asn-db", str(asn_db)]


HONEYPOT = (
    'nginx:$server_addr $remote_addr - $remote_user [$time_local] "$request" $status '
    '$body_bytes_sent "$http_referer" "$http_user_agent" $host'
)
COMBINED_LINES = [
    '175.167.3.4 - - [14/Sep/2026:08:01:02 +0800] "GET /upload/a HTTP/1.1" 200 512 "-" "curl/8"',
    '2.136.4.5 - - [14/Sep/2026:02:03:04 +0200] "GET / HTTP/1.1" 200 1043 "-" "Mozilla/5.0"',
    '81.2.69.160 - - [14/Sep/2026:01:05:06 +0100] "GET /.env HTTP/1.1" 404 162 "-" "zgrab/0.x"',
]


def _binary_junk(tmp_path: Path) -> Path:
    """Raw bytes scanners sent, as some servers log them, around a few good lines."""
    rng = random.Random(7)
    junk = [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + rng.randbytes(40) for _ in range(30)]
    junk = [line.replace(b"\n", b" ").replace(b"\r", b" ") for line in junk]
    lines = junk[:20] + [line.encode() for line in COMBINED_LINES] + junk[20:]
    path = tmp_path / "attacked.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _report(dbs: list[str], *args: str) -> dict:
    r = run_cli("report", *args, *dbs, "-O", "json", "--by", "country")
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)


@pytest.mark.parametrize(
    ("make", "extra", "fmt", "parsed", "rejected"),
    [
        pytest.param(
            lambda tmp: LOGS / "combined_vhost.log", [], "combined_vhost", 3, 0,
            id="vhost-without-port-keeps-agents",
        ),
        pytest.param(
            lambda tmp: LOGS / "nginx_empty_fields.log", ["--log-format", HONEYPOT], "custom", 3, 0,
            id="nginx-empty-variables",
        ),
        pytest.param(_binary_junk, [], "combined", 3, 30, id="binary-lines-do-not-vote"),
    ],
)  # fmt: skip
def test_real_world_lines(tmp_path, dbs, make, extra, fmt, parsed, rejected):
    log = make(tmp_path)
    meta = _report(dbs, str(log), *extra)["meta"]
    (f,) = meta["files"]
    assert f["format"] == fmt
    assert f["lines"]["parsed"] == parsed
    assert f["lines"]["rejected"] == rejected


def test_a_vhost_without_port_is_read_with_its_agents(dbs):
    r = run_cli(
        "report", str(LOGS / "combined_vhost.log"), *dbs, "--by", "user_agent",
        "-O", "csv",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr.decode()
    assert "Mozilla/5.0 (X11; Linux x86_64)" in r.stdout.decode()
    assert "Wget/1.21" in r.stdout.decode()


def test_empty_nginx_fields_leave_the_client_in_place(dbs):
    r = run_cli(
        "report", str(LOGS / "nginx_empty_fields.log"), "--log-format", HONEYPOT,
        *dbs, "--by", "ip", "-O", "csv",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    for ip in ("175.167.3.4", "2.136.4.5", "81.2.69.160"):
        assert f"{ip}," in out or f",{ip}," in out
    assert "10.0.0.1" not in out  # the server's own address is not a client


def test_a_file_of_only_binary_junk_is_not_called_a_format(tmp_path, dbs):
    path = tmp_path / "junk.log"
    path.write_bytes(b"\n".join(os.urandom(50).replace(b"\n", b" ") for _ in range(20)) + b"\n")
    r = run_cli("report", str(path), *dbs)
    # Nothing readable: no request is reported as if the file were understood.
    assert "0 requests" in r.stdout.decode() or r.returncode != 0
