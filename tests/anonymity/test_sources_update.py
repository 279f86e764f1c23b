"""``loganalyzer sources update``: against a real HTTP server on 127.0.0.1, never the internet."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from loganalyzer.anonymity.update import MANIFEST, REMOTES
from tests.anonymity.test_anonymizers_cli import write_clients_log
from tests.helpers import FIXTURES, log_line, run_cli

ANON = FIXTURES / "anon"
# What the server publishes under each file name ``sources update`` asks for.
SERVED = {
    "torbulkexitlist": ANON / "torbulkexitlist",
    "exit-addresses": ANON / "exit-addresses",
    "ip-ranges.json": ANON / "ip-ranges.json",
    "cloud.json": ANON / "cloud.json",
    "public_ip_ranges.json": ANON / "public_ip_ranges.json",
    "ServiceTags_Public.json": ANON / "ServiceTags_Public_20260907.json",
    "egress-ip-ranges.csv": ANON / "egress-ip-ranges.csv",
    "x4bnet-vpn-ipv4.txt": ANON / "x4bnet-vpn-ipv4.txt",
    "x4bnet-vpn-datacenter-ipv4.txt": ANON / "x4bnet-vpn-datacenter-ipv4.txt",
}
BROKEN: dict[str, tuple[int, bytes]] = {
    "garbage": (200, b"<html><body>Service Unavailable</body></html>\n"),
    "truncated-json": (200, (ANON / "ip-ranges.json").read_bytes()[:150]),
    "empty": (200, b""),
    "wrong-kind": (200, (ANON / "cloud.json").read_bytes()),  # Google's file as AWS's
}
SLOW_SECONDS = 3.0


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        name = self.path.lstrip("/")
        if name == "slow":
            time.sleep(SLOW_SECONDS)
            body, status = b"185.220.101.7\n", 200
        elif name == "short-body":
            # Promises more than it sends: the client sees the connection end early.
            self.send_response(200)
            self.send_header("Content-Length", "5000")
            self.end_headers()
            self.wfile.write(b"185.220.101.7\n")
            return
        elif name in BROKEN:
            status, body = BROKEN[name]
        elif name in SERVED:
            status, body = 200, SERVED[name].read_bytes()
        else:
            status, body = 404, b"not here\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


NO_PROXY = {"no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1", "http_proxy": "", "HTTP_PROXY": ""}


def update(folder: Path, base: str, *args: str):
    return run_cli("sources", "update", str(folder), "--base-url", base, *args, env=NO_PROXY)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_update_fetches_checks_and_records_every_list(tmp_path, server, geo_dbs):
    work = write_clients_log(tmp_path)
    d = tmp_path / "anon"
    r = update(d, server, "--url", f"azure={server}/ServiceTags_Public.json")
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""
    manifest = json.loads((d / MANIFEST).read_text())
    assert sorted(manifest["sources"]) == sorted(x.name for x in REMOTES)
    for remote in REMOTES:
        f = d / remote.filename
        assert f.read_bytes() == SERVED[remote.filename].read_bytes(), remote.name
        entry = manifest["sources"][remote.name]
        assert entry["url"] == f"{server}/{remote.filename}"
        assert entry["http_status"] == 200
        assert entry["sha256"] == sha(SERVED[remote.filename])
        assert entry["size_bytes"] == SERVED[remote.filename].stat().st_size
        assert entry["kind"] == remote.kind
        assert entry["entries"] > 0
        assert entry["terms"] == remote.terms
        assert datetime.fromisoformat(entry["fetched_at"]).tzinfo is not None
        assert remote.filename in r.stdout.decode()
    assert sorted(p.name for p in d.iterdir()) == sorted([MANIFEST, *SERVED])
    # The folder is what --sources-dir reads: a report now has the verdicts.
    rep = run_cli(
        "report", "access.log", "--city-db", str(geo_dbs["city"]), "--sources-dir", str(d),
        "--by", "anonymizer", "-O", "json", cwd=work,
        env={"LOGANALYZER_GEOIP_DIR": str(work / "no-geoip")},
    )  # fmt: skip
    assert rep.returncode == 0, rep.stderr
    doc = json.loads(rep.stdout)
    assert sorted(s["path"] for s in doc["meta"]["sources"]) == sorted(
        str(d / name) for name in SERVED
    )
    got = {x["anonymizer"]: x["requests"] for x in doc["rows"]}
    assert (got["tor_exit"], got["privacy_relay"], got["hosting"]) == (2, 2, 1)


def test_azure_without_a_url_is_skipped_not_failed(tmp_path, server):
    d = tmp_path / "anon"
    tor = f"tor-bulk={server}/torbulkexitlist"
    r = run_cli("sources", "update", str(d), "--only", "azure", "--only", "tor-bulk",
                "--url", tor, env=NO_PROXY)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stderr.decode().splitlines() == [
        "Skipped: azure: no fixed URL; give the current one with --url azure=URL"
    ]
    assert sorted(p.name for p in d.iterdir()) == [MANIFEST, "torbulkexitlist"]
    # With a mirror (--base-url), Azure comes from there like every other list.
    r = update(d, server, "--only", "azure")
    assert r.returncode == 0, r.stderr
    assert (d / "ServiceTags_Public.json").read_bytes() == SERVED[
        "ServiceTags_Public.json"
    ].read_bytes()


@pytest.mark.parametrize(
    ("route", "problem"),
    [
        ("missing", "HTTP 404"),
        ("garbage", "not a usable aws-ranges file"),
        ("truncated-json", "not a usable aws-ranges file"),
        ("empty", "not a usable aws-ranges file"),
        ("wrong-kind", "expected a aws-ranges file, got google-ranges"),
        ("short-body", "the download ended early"),
        ("slow", "no answer within 0.5 s"),
    ],
)
def test_a_failed_download_never_replaces_a_good_file(tmp_path, server, route, problem):
    d = tmp_path / "anon"
    assert update(d, server, "--only", "aws", "--only", "tor-bulk").returncode == 0
    good = (d / "ip-ranges.json").read_bytes()
    before = json.loads((d / MANIFEST).read_text())["sources"]["aws"]
    r = update(
        d, server, "--only", "aws", "--only", "tor-bulk", "--url", f"aws={server}/{route}",
        "--timeout", "0.5",
    )  # fmt: skip
    assert r.returncode == 4
    errors = r.stderr.decode().splitlines()
    assert errors[0].startswith(f"Error: aws: {server}/{route}: {problem}"), errors
    assert errors[0].endswith("(kept the previous ip-ranges.json)")
    assert errors[1:] == ["Error: 1 of 2 sources failed: aws"]
    assert (d / "ip-ranges.json").read_bytes() == good
    assert sorted(p.name for p in d.iterdir()) == sorted(
        [MANIFEST, "ip-ranges.json", "torbulkexitlist"]
    )
    after = json.loads((d / MANIFEST).read_text())["sources"]
    assert {k: v for k, v in after["aws"].items() if k != "last_failure"} == before
    assert after["aws"]["last_failure"]["url"] == f"{server}/{route}"
    assert after["aws"]["last_failure"]["error"].startswith(problem)
    assert "torbulkexitlist" in r.stdout.decode()  # the others are still fetched


def test_sources_info_says_when_and_where_each_file_was_fetched(tmp_path, server):
    d = tmp_path / "anon"
    assert update(d, server, "--only", "aws", "--only", "tor-bulk").returncode == 0
    # A later update of aws fails: the good file stays, and info says so.
    assert update(d, server, "--only", "aws", "--url", f"aws={server}/garbage").returncode == 4
    # The Tor list is edited by hand after its download.
    with (d / "torbulkexitlist").open("a") as f:
        f.write("198.51.100.7\n")

    r = run_cli("sources", "info", "--sources-dir", str(d), "--json")
    assert r.returncode == 0, r.stderr
    got = {x["name"]: x["fetched"] for x in json.loads(r.stdout)["sources"]}
    assert got["aws"]["url"] == f"{server}/ip-ranges.json"
    assert got["aws"]["same_file"] is True
    assert got["aws"]["last_failure"]["url"] == f"{server}/garbage"
    assert got["tor-exits"]["url"] == f"{server}/torbulkexitlist"
    assert got["tor-exits"]["same_file"] is False
    assert "last_failure" not in got["tor-exits"]
    for record in got.values():
        assert datetime.fromisoformat(record["fetched_at"]).tzinfo is not None

    text = run_cli("sources", "info", "--sources-dir", str(d)).stdout.decode()
    assert f"  fetched {got['aws']['fetched_at']} from {server}/ip-ranges.json\n" in text
    assert "/torbulkexitlist (the file has changed since)\n" in text
    assert "  last update failed " in text
    # A list given by hand, with no manifest beside it, has no fetch record.
    plain = run_cli("sources", "info", "--tor-exits", str(ANON / "torbulkexitlist"), "--json")
    assert "fetched" not in json.loads(plain.stdout)["sources"][0]


def test_a_first_failure_leaves_no_file(tmp_path, server):
    d = tmp_path / "anon"
    r = update(d, server, "--only", "google", "--url", f"google={server}/garbage")
    assert r.returncode == 4
    assert sorted(p.name for p in d.iterdir()) == [MANIFEST]
    line = r.stderr.decode().splitlines()[0]
    assert line.startswith(f"Error: google: {server}/garbage: not a usable google-ranges file")
    assert "kept the previous" not in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "nosuch=http://127.0.0.1:9/x"], "Error: --url: unknown source 'nosuch'"),
        (["--url", "aws"], "Error: --url 'aws': write NAME=URL"),
        (["--only", "nosuch"], "Error: --only: unknown source 'nosuch'"),
    ],
)
def test_bad_arguments_are_usage_errors(tmp_path, args, message):
    r = run_cli("sources", "update", str(tmp_path / "anon"), *args, env=NO_PROXY)
    assert r.returncode == 2
    assert r.stderr.decode().splitlines()[-1].startswith(message)
    assert not (tmp_path / "anon").exists()


def test_a_file_mirror_works_like_a_web_one(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name, src in SERVED.items():
        (mirror / name).write_bytes(src.read_bytes())
    d = tmp_path / "anon"
    r = update(d, mirror.as_uri(), "--url", f"azure={mirror.as_uri()}/ServiceTags_Public.json")
    assert r.returncode == 0, r.stderr
    manifest = json.loads((d / MANIFEST).read_text())
    assert sorted(manifest["sources"]) == sorted(x.name for x in REMOTES)
    assert sha(d / "torbulkexitlist") == sha(SERVED["torbulkexitlist"])


def test_a_missing_file_in_a_file_mirror_is_named(tmp_path):
    mirror = tmp_path / "empty-mirror"
    mirror.mkdir()
    r = update(tmp_path / "anon", mirror.as_uri(), "--only", "tor-bulk")
    assert r.returncode == 4
    assert "TypeError" not in r.stderr.decode()
    assert "torbulkexitlist" in r.stderr.decode()


def test_x4bnet_lists_are_fetched_and_judge_as_vpn(tmp_path, server):
    d = tmp_path / "anon"
    r = update(d, server, "--only", "x4bnet-vpn", "--only", "x4bnet-datacenter")
    assert r.returncode == 0, r.stderr
    manifest = json.loads((d / MANIFEST).read_text())["sources"]
    assert manifest["x4bnet-vpn"]["url"] == f"{server}/x4bnet-vpn-ipv4.txt"
    assert datetime.fromisoformat(manifest["x4bnet-datacenter"]["fetched_at"]).tzinfo
    assert manifest["x4bnet-datacenter"]["entries"] == 3
    defaults = {x.name: x.url for x in REMOTES}
    assert defaults["x4bnet-vpn"] == (
        "https://raw.githubusercontent.com/X4BNet/lists_vpn/main/output/vpn/ipv4.txt"
    )
    assert defaults["x4bnet-datacenter"] == (
        "https://raw.githubusercontent.com/X4BNet/lists_vpn/main/output/datacenter/ipv4.txt"
    )
    info = run_cli("sources", "info", "--sources-dir", str(d), "--json")
    categories = {Path(s["path"]).name: s["category"] for s in json.loads(info.stdout)["sources"]}
    assert categories == {
        "x4bnet-vpn-ipv4.txt": "vpn",
        "x4bnet-vpn-datacenter-ipv4.txt": "vpn_or_datacenter",
    }
    log = tmp_path / "access.log"

    log.write_text(
        "".join(log_line(ip=ip) + "\n" for ip in ("192.0.2.5", "203.0.113.5", "8.8.8.8")),
        encoding="utf-8",
    )
    rep = run_cli("report", str(log), "--sources-dir", str(d), "--by", "ip", "-O", "json")
    assert rep.returncode == 0, rep.stderr
    got = {x["client_ip"]: x["anonymizer"] for x in json.loads(rep.stdout)["rows"]}
    assert got == {"192.0.2.5": "vpn", "203.0.113.5": "vpn", "8.8.8.8": "none_known"}
