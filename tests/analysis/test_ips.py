"""``loganalyzer ips``: the per-address evidence table, through the real CLI."""

from __future__ import annotations

import csv
import io
import json

import polars as pl
import pytest

from loganalyzer.analysis.ips import IPS_SCHEMA, evidence_rows
from loganalyzer.analysis.meta import NO_ANON_SOURCES
from tests.anonymity.test_anonymizers_cli import (
    CATEGORY,
    CLIENTS,
    cli,
    source_args,
    write_clients_log,
)

REQUESTS = {ip: n for ip, _, n, _, _ in CLIENTS}
REGION = {ip: region for ip, region, _, _, _ in CLIENTS}


@pytest.fixture
def work(tmp_path):
    return write_clients_log(tmp_path)


def ips_json(work, geo_dbs, *args):
    r = cli(work, geo_dbs, "ips", "access.log", "-O", "json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_json_rows_are_keyed_by_the_issues_names(work, geo_dbs, anon_dbs):
    doc = ips_json(work, geo_dbs, *source_args(anon_dbs))
    rows = doc["rows"]
    assert [list(r) for r in rows] == [sorted(IPS_SCHEMA)] * len(rows)
    assert {r["ip"]: r["requests"] for r in rows} == REQUESTS
    counts = [r["requests"] for r in rows]
    assert counts == sorted(counts, reverse=True)
    for r in rows:
        ip = r["ip"]
        assert r["anonymizer"] == CATEGORY.get(ip, "none_known"), ip
        assert r["location_is_exit"] is (ip in CATEGORY), ip
        assert r["region_iso"] == REGION[ip], ip
        assert (r["confidence"] is None) is (ip not in CATEGORY), ip
        assert bool(r["reasons"]) is (ip in CATEGORY), ip
    relay = next(r for r in rows if r["ip"] == "2.137.200.1")
    assert relay["confidence"] == "confirmed"
    assert relay["reasons"] == [
        "icloud-relay:privacy_relay ES ES-MD Madrid (2.137.200.0/24)",
        "ip-list:vpn-list.txt vpn (2.137.200.0/24)",
    ]
    aws = next(r for r in rows if r["ip"] == "216.160.83.57")
    assert (aws["asn"], aws["country_iso"]) == (209, "US")
    assert doc["meta"]["group_by"] == ["ip"]
    assert len(doc["meta"]["sources"]) == 6


def test_where_and_top_come_from_report(work, geo_dbs, anon_dbs):
    doc = ips_json(work, geo_dbs, *source_args(anon_dbs), "--where", "anonymizer=tor")
    assert sorted(r["ip"] for r in doc["rows"]) == ["185.220.101.7", "185.220.101.9"]
    doc = ips_json(work, geo_dbs, *source_args(anon_dbs), "--top", "2")
    assert [r["ip"] for r in doc["rows"]] == ["175.167.1.2", "2.136.4.5"]
    assert doc["meta"]["rows_total"] == len(CLIENTS)


@pytest.fixture
def hostile_asn_list(tmp_path):
    p = tmp_path / "asn-list.csv"
    p.write_text("AS20712,vpn,=1+2\x1b[2J\u202eevil\n", encoding="utf-8")
    return p


def hostile_args(anon_dbs, hostile_asn_list):
    args = source_args(anon_dbs)
    i = args.index("--asn-list")
    return [*args[:i], "--asn-list", str(hostile_asn_list), *args[i + 2 :]]


@pytest.mark.parametrize(
    ("output", "safe", "unsafe"),
    [
        ("csv", "'=1+2", None),
        ("table", "\\x1b[2J\\u202eevil", "\x1b"),
        ("markdown", "\\x1b\\[2J\\u202eevil", "\x1b"),
    ],
)
def test_source_text_is_made_inert(work, geo_dbs, anon_dbs, hostile_asn_list, output, safe, unsafe):
    r = cli(work, geo_dbs, "-q", "ips", "access.log", "-O", output, "--width", "200",
            *hostile_args(anon_dbs, hostile_asn_list))  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert safe in out
    if unsafe:
        assert unsafe not in out
    if output == "csv":
        rows = {x["ip"]: x for x in csv.DictReader(io.StringIO(out))}
        assert rows["81.2.69.5"]["provider"].startswith("'=1+2")
        assert rows["2.137.200.1"]["reasons"] == (
            "icloud-relay:privacy_relay ES ES-MD Madrid (2.137.200.0/24) | "
            "ip-list:vpn-list.txt vpn (2.137.200.0/24)"
        )


def test_parquet_keeps_types(work, geo_dbs, anon_dbs, tmp_path):
    out = tmp_path / "ips.parquet"
    r = cli(work, geo_dbs, "ips", "access.log", "-o", str(out), *source_args(anon_dbs))
    assert r.returncode == 0, r.stderr
    frame = pl.read_parquet(out)
    assert frame.schema == pl.Schema(IPS_SCHEMA)
    tor = frame.filter(pl.col("ip") == "185.220.101.7").row(0, named=True)
    assert tor["reasons"] == ["tor-exits:exit-addresses (2026-09-14 08:30Z)"]
    assert tor["location_is_exit"] is True


def test_table_marks_the_exits_place_and_fits(work, geo_dbs, anon_dbs):
    r = cli(work, geo_dbs, "-q", "ips", "access.log", *source_args(anon_dbs))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert max(len(x) for x in lines) <= 120
    aws = next(x for x in lines if x.startswith(" 216.160.83.57"))
    assert tuple(w for w in ("US-WA (exit)", "hosting", "confirmed") if w in aws) == (
        "US-WA (exit)",
        "hosting",
        "confirmed",
    )
    madrid = next(x for x in lines if x.startswith(" 2.137.0.10"))
    assert "(exit)" not in madrid
    assert [w for w in ("ES-MD", "none_known") if w in madrid] == ["ES-MD", "none_known"]
    assert any("not its user's" in x for x in lines)


def test_without_sources_it_says_so(work, geo_dbs):
    r = cli(work, geo_dbs, "ips", "access.log", "-O", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {x["anonymizer"] for x in doc["rows"]} == {None}
    assert not any(x["location_is_exit"] for x in doc["rows"])
    assert doc["meta"]["anonymizers"] == NO_ANON_SOURCES
    assert f"Note: {NO_ANON_SOURCES}" in r.stderr.decode().splitlines()


def test_help_has_examples():
    from tests.helpers import run_cli

    r = run_cli("ips", "--help")
    assert r.returncode == 0
    text = r.stdout.decode()
    assert "Examples:" in text
    assert "loganalyzer ips access.log" in text
    assert "location_is_exit" in text


@pytest.mark.parametrize(
    ("verdict", "exit_place"),
    [("vpn", True), ("tor_exit", True), ("hosting", True), ("none_known", False), (None, False)],
)
def test_location_is_exit_follows_the_verdict(verdict, exit_place):
    rows = pl.DataFrame(
        {"client_ip": ["1.2.3.4"], "requests": [1], "anonymizer": [verdict]},
        schema_overrides={"anonymizer": pl.String},
    )
    out = evidence_rows(rows)
    assert out.columns == list(IPS_SCHEMA)
    assert out["location_is_exit"].to_list() == [exit_place]
