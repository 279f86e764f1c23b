"""``loganalyzer links`` through the real CLI: outputs, escaping and exit codes."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import polars as pl
import pytest
from links_scenario import T0, Scenario, make_scenario

from loganalyzer.analysis.links import CLIENT_SCHEMA
from loganalyzer.errors import ExitCode
from tests.helpers import run_cli

HOSTILE_USER = "=HYPERLINK(1)\x1b[2J"
HOSTILE_IPS = {"81.2.69.70", "2.136.77.7"}


def hostile_lines() -> list[str]:
    """A fourth actor whose user name is a formula with a terminal escape in it."""
    out = []
    for k, ip in enumerate(sorted(HOSTILE_IPS)):
        stamp = (T0 + timedelta(days=2, minutes=k)).strftime("%d/%b/%Y:%H:%M:%S +0000")
        out.append(f'{ip} - {HOSTILE_USER} [{stamp}] "GET / HTTP/1.1" 200 5 "-" "curl/8.5.0"')
    return out


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Scenario:
    return make_scenario(tmp_path_factory.mktemp("links-cli"), extra_lines=hostile_lines())


def links_cli(s: Scenario, geo_dbs, *args: str):
    return run_cli(
        "links",
        str(s.log),
        "--city-db",
        str(geo_dbs["city"]),
        "--asn-db",
        str(geo_dbs["asn"]),
        *s.source_args(),
        *args,
    )


def expected(s: Scenario) -> set[frozenset[str]]:
    return {frozenset(ips) for ips in [*s.actors.values(), HOSTILE_IPS]}


def test_json_follows_the_contract(scenario, geo_dbs):
    r = links_cli(scenario, geo_dbs, "-O", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {frozenset(x["ip"] for x in c["clients"]) for c in doc["clusters"]} == expected(scenario)
    assert [c["id"] for c in doc["clusters"]] == list(range(1, len(doc["clusters"]) + 1))
    client_keys = {"ip", "anonymizer", "confidence", "country_iso", "region_iso", "asn",
                   "requests", "first_seen", "last_seen"}  # fmt: skip
    for c in doc["clusters"]:
        assert {"id", "summary", "clients", "evidence"} <= set(c)
        for x in c["clients"]:
            assert client_keys <= set(x)
        for e in c["evidence"]:
            assert {"kind", "value", "clients", "weight"} <= set(e)
    jdoe = next(c for c in doc["clusters"] if c["summary"].startswith("user j.doe"))
    assert jdoe["evidence"][0] | {"weight": None} == {
        "kind": "user",
        "value": "j.doe",
        "clients": 3,
        "weight": None,
        "detail": None,
        "ips": sorted(scenario.actors["jdoe"]),
    }
    direct = next(x for x in jdoe["clients"] if x["ip"] == "2.136.10.5")
    assert (direct["region_iso"], direct["anonymizer"], direct["asn"]) == (
        "ES-CT",
        "none_known",
        3352,
    )
    assert direct["first_seen"].endswith("Z")
    links = doc["meta"]["links"]
    assert links["clusters_shown"] == len(doc["clusters"])
    assert links["rules"]["gap_minutes"] == 30
    assert any("never a statement of who anyone is" in c for c in links["caveats"])
    hostile = next(c for c in doc["clusters"] if {x["ip"] for x in c["clients"]} == HOSTILE_IPS)
    assert hostile["evidence"][0]["value"] == HOSTILE_USER
    assert "\\u001b" in r.stdout.decode()


def test_csv_has_a_row_per_cluster_and_address_made_safe(scenario, geo_dbs):
    r = links_cli(scenario, geo_dbs, "-O", "csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout.decode())))
    assert list(rows[0]) == list(CLIENT_SCHEMA)
    clusters: dict[str, set[str]] = {}
    for row in rows:
        clusters.setdefault(row["cluster"], set()).add(row["ip"])
    assert {frozenset(v) for v in clusters.values()} == expected(scenario)
    hostile = [row for row in rows if row["ip"] in HOSTILE_IPS]
    # Both sent curl, which no one else did, a minute apart: agent and timing too.
    assert {row["evidence"] for row in hostile} == {
        f"user: {HOSTILE_USER} | agent: curl/8.5.0 | timing: curl/8.5.0"
    }
    assert not [v for row in rows for v in row.values() if v.startswith(("=", "+", "@"))]


def test_table_escapes_the_log_and_fits(scenario, geo_dbs):
    r = links_cli(scenario, geo_dbs, "--width", "120")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "\x1b" not in out
    assert "=HYPERLINK(1)\\x1b[2J" in out
    lines = out.splitlines()
    assert max(len(x) for x in lines) <= 120
    assert "Cluster 1" in out
    assert "never a statement of who anyone is" in out.replace("\n", " ")
    assert "(exit)" in out


def test_markdown_and_parquet(scenario, geo_dbs, tmp_path):
    r = links_cli(scenario, geo_dbs, "-O", "markdown")
    assert r.returncode == 0, r.stderr
    md = r.stdout.decode()
    assert md.startswith("# Linked access")
    assert "## Cluster 1" in md
    assert "\x1b" not in md
    out = tmp_path / "links.parquet"
    r = links_cli(scenario, geo_dbs, "-o", str(out))
    assert r.returncode == 0, r.stderr
    frame = pl.read_parquet(out)
    assert frame.schema == pl.Schema(CLIENT_SCHEMA)
    assert frame.group_by("cluster").agg(pl.col("ip")).height == len(expected(scenario))


def test_nothing_matched_exits_6(scenario, geo_dbs):
    r = links_cli(scenario, geo_dbs, "-O", "json", "--where", "status=599")
    assert r.returncode == ExitCode.NOTHING_MATCHED, r.stderr
    assert json.loads(r.stdout)["clusters"] == []
    assert "no request matched" in r.stderr.decode()


def test_a_key_the_format_lacks_is_a_usage_error(scenario, geo_dbs):
    r = links_cli(scenario, geo_dbs, "--key", "cookie_sid")
    assert r.returncode == ExitCode.USAGE
    err = r.stderr.decode().strip().splitlines()
    assert err[-1].startswith("Error: --key cookie_sid: the log format has no such field")
    assert "Traceback" not in r.stderr.decode()


def test_help_has_examples():
    r = run_cli("links", "--help")
    assert r.returncode == 0
    text = r.stdout.decode()
    assert "Examples:" in text
    assert "loganalyzer links access.log --sources-dir" in text


def test_all_adds_the_background_pairs(scenario, geo_dbs):
    r = links_cli(scenario, geo_dbs, "-O", "json", "--all")
    assert r.returncode == 0, r.stderr
    got = {frozenset(x["ip"] for x in c["clients"]) for c in json.loads(r.stdout)["clusters"]}
    assert got == expected(scenario) | {frozenset(p) for p in scenario.background.values()}
