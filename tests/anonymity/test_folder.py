"""--sources-dir recognises each file by its content, whatever its name; it says what it skipped."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from loganalyzer.anonymity.folder import _scan_dir, recognise
from tests.helpers import FIXTURES, build_anon_dbs, build_fixture_dbs, run_cli

ANON = FIXTURES / "anon"

# (fixture, the name it gets here, the kind recognised or the start of why it is skipped)
CASES = [
    ("ip-ranges.json", "a.json", "cloud ranges"),
    ("cloud.json", "b.json", "cloud ranges"),
    ("ServiceTags_Public_20260907.json", "c.json", "cloud ranges"),
    ("public_ip_ranges.json", "d.json", "cloud ranges"),
    ("onionoo-details.json", "e.json", "tor exits"),
    ("exit-addresses", "f.txt", "tor exits"),
    ("misp-vpn.json", "g.json", "MISP warninglist (vpn)"),
    ("vpn-list.txt", "hosting-ips.list", "plain (hosting)"),
    ("asn-list.csv", "i.csv", "ASN list"),
    ("egress-ip-ranges.csv", "j.csv", "geofeed (privacy_relay)"),
    ("vpn-list.txt", "k.txt", "skip: an address list whose category is not in its name"),
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "anon"
    d.mkdir()
    for src, name, _ in CASES:
        shutil.copy(ANON / src, d / name)
    anon = build_anon_dbs(tmp_path / "built")
    shutil.copy(anon["anonymous-ip"], d / "l.db")
    shutil.copy(build_fixture_dbs(tmp_path / "geo")["city"], d / "m.db")
    (d / "notes.txt").write_text("these are my notes, not a list\n")
    return d


def test_each_file_is_recognised_by_its_content(folder):
    found = _scan_dir(folder)
    kinds = {f.name: kind for f, kind in found.kinds}
    skipped = {f.name: why for f, why in found.skipped}
    for _, name, want in CASES:
        if want.startswith("skip:"):
            assert skipped[name].startswith(want.removeprefix("skip: ")), name
        else:
            assert kinds[name] == want, name
    assert kinds["l.db"] == "anon db"
    assert "an MMDB of type GeoLite2-City, not an anonymizer database" in skipped["m.db"]
    assert skipped["notes.txt"].startswith("not a source")


def test_sources_info_lists_what_was_loaded_and_what_was_skipped(folder):
    r = run_cli("sources", "info", "--sources-dir", str(folder), "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["sources"]
    skipped = {Path(x["path"]).name: x["skipped"] for x in rows if "skipped" in x}
    loaded = {Path(x["path"]).name for x in rows if "skipped" not in x}
    assert set(skipped) == {"k.txt", "m.db", "notes.txt"}
    assert {
        "a.json",
        "e.json",
        "f.txt",
        "g.json",
        "hosting-ips.list",
        "i.csv",
        "j.csv",
        "l.db",
    } <= loaded
    text = run_cli("sources", "info", "--sources-dir", str(folder)).stdout.decode()
    assert "skipped " in text
    assert "k.txt: an address list whose category is not in its name" in text


def test_a_report_says_which_files_it_skipped(folder, tmp_path, city_db, asn_db):
    log = tmp_path / "a.log"
    log.write_text((FIXTURES / "logs" / "combined.log").read_text())
    dbs = ["--city-db", str(city_db), "--asn-db", str(asn_db)]
    r = run_cli("report", str(log), *dbs, "--sources-dir", str(folder))
    assert r.returncode in (0, 3), r.stderr  # the fixture log has a bad line on purpose
    err = r.stderr.decode()
    assert "Skipped source: " in err
    assert "notes.txt: not a source" in err


def test_recognise_needs_no_name(tmp_path):
    path = tmp_path / "x"
    path.write_text("ExitNode 0011\nExitAddress 185.220.101.7 2026-09-14 08:30:00\n")
    assert recognise(path) == "tor_exits"
