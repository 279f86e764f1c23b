"""`lookup`: every field for single addresses, expected values read from the JSON fixtures."""

from __future__ import annotations

import csv
import io
import ipaddress
import json
from pathlib import Path

import polars as pl
import pytest

from loganalyzer import schema as S
from loganalyzer.analysis.lookup import LOOKUP_SCHEMA, lookup_addresses, lookup_log_clients
from loganalyzer.geo.databases import GeoDatabases
from tests.helpers import log_line, run_cli


@pytest.fixture(scope="module")
def dbs(city_db, asn_db) -> GeoDatabases:
    return GeoDatabases.open(city=city_db, asn=asn_db, search=False)


def _network_of(records: dict[str, dict], ip: str) -> str:
    addr = ipaddress.ip_address(ip)
    return next(n for n in records if addr in ipaddress.ip_network(n))


def _expected(ip: str, city_records, asn_records) -> dict:
    """What every column should say for a public address, from the JSON fixtures."""
    cnet, anet = _network_of(city_records, ip), _network_of(asn_records, ip)
    rec, asn = city_records[cnet], asn_records[anet]
    cc = rec["country"]["iso_code"]
    subs = rec.get("subdivisions", [])
    loc = rec["location"]
    return {
        "network": cnet,
        S.CONTINENT: rec["continent"]["code"],
        S.COUNTRY_ISO: cc,
        S.COUNTRY: rec["country"]["names"]["en"],
        S.REGION_ISO: f"{cc}-{subs[0]['iso_code']}" if subs else None,
        S.REGION: subs[0]["names"]["en"] if subs else None,
        S.SUBREGION_ISO: f"{cc}-{subs[1]['iso_code']}" if len(subs) > 1 else None,
        S.SUBREGION: subs[1]["names"]["en"] if len(subs) > 1 else None,
        S.CITY: rec.get("city", {}).get("names", {}).get("en"),
        S.LATITUDE: loc.get("latitude"),
        S.LONGITUDE: loc.get("longitude"),
        S.ACCURACY_RADIUS: loc.get("accuracy_radius"),
        S.TIME_ZONE: loc.get("time_zone"),
        S.REGISTERED_COUNTRY_ISO: rec["registered_country"]["iso_code"],
        S.REGISTERED_COUNTRY: rec["registered_country"]["names"]["en"],
        S.ASN: asn["autonomous_system_number"],
        S.AS_ORG: asn["autonomous_system_organization"],
        "asn_network": anet,
    }


@pytest.mark.parametrize(
    "ip",
    ["175.167.1.2", "2408:8200::1", "2.136.4.5", "2.137.0.9", "81.2.69.160", "2a02:9000::5"],
)
def test_every_field_of_a_found_address(dbs, city_records, asn_records, ip):
    row = lookup_addresses([ip], dbs).row(0, named=True)
    assert row["input"] == ip
    assert row["status"] == "ok"
    assert row[S.CLIENT_IP] == ip
    assert row[S.IP_CLASS] == "public"
    expected = _expected(ip, city_records, asn_records)
    assert {k: row[k] for k in expected} == expected


def test_city_and_asn_networks_can_differ(dbs):
    # The ASN fixture covers 2.136.0.0/15; the City one splits it into two /16s.
    row = lookup_addresses(["2.137.0.9"], dbs).row(0, named=True)
    assert (row["network"], row["asn_network"]) == ("2.137.0.0/16", "2.136.0.0/15")


@pytest.mark.parametrize(
    ("given", "status", "ip_class", "client_ip"),
    [
        ("10.1.2.3", "not_public", "private", "10.1.2.3"),
        ("127.0.0.1", "not_public", "loopback", "127.0.0.1"),
        ("100.64.0.1", "not_public", "cgnat", "100.64.0.1"),
        ("2001:db8::1", "not_public", "documentation", "2001:db8::1"),
        ("8.8.8.8", "not_found", "public", "8.8.8.8"),
        ("not-an-ip", "invalid_ip", "invalid", None),
        ("999.1.1.1", "invalid_ip", "invalid", None),
        ("[2408:8200::1]:443", "ok", "public", "2408:8200::1"),
        ("175.167.1.2:5678", "ok", "public", "175.167.1.2"),
        ("::ffff:81.2.69.160", "ok", "public", "81.2.69.160"),
    ],
)
def test_status_of_every_kind_of_input(dbs, given, status, ip_class, client_ip):
    row = lookup_addresses([given], dbs).row(0, named=True)
    assert (row["input"], row["status"], row[S.IP_CLASS], row[S.CLIENT_IP]) == (
        given,
        status,
        ip_class,
        client_ip,
    )
    if status != "ok":
        assert row[S.COUNTRY_ISO] is None
        assert row[S.ASN] is None


def test_rows_keep_input_order_and_duplicates(dbs):
    given = ["81.2.69.160", "junk", "81.2.69.160", "10.0.0.1"]
    rows = lookup_addresses(given, dbs)
    assert rows["input"].to_list() == given
    assert rows["status"].to_list() == ["ok", "invalid_ip", "ok", "not_public"]
    assert list(rows.schema) == list(LOOKUP_SCHEMA)


def test_names_in_another_language_fall_back_to_english(dbs, city_records):
    # Milton (216.160.83.56/29) has no Chinese name; its country has one.
    rows = lookup_addresses(["175.167.1.2", "216.160.83.57"], dbs, lang="zh-CN")
    cn, us = rows.row(0, named=True), rows.row(1, named=True)
    rec, milton = city_records["175.167.0.0/16"], city_records["216.160.83.56/29"]
    assert "zh-CN" not in milton["city"]["names"]
    assert cn[S.CITY] == rec["city"]["names"]["zh-CN"]
    assert cn[S.REGION] == rec["subdivisions"][0]["names"]["zh-CN"]
    assert us[S.CITY] == milton["city"]["names"]["en"]
    assert us[S.COUNTRY] == milton["country"]["names"]["zh-CN"]


def test_asn_database_alone(asn_db, asn_records):
    only_asn = GeoDatabases.open(asn=asn_db, search=False)
    row = lookup_addresses(["81.2.69.160"], only_asn).row(0, named=True)
    assert row["status"] == "ok"
    assert row[S.COUNTRY_ISO] is None
    assert row[S.ASN] == asn_records["81.2.69.0/24"]["autonomous_system_number"]


ANON = Path(__file__).resolve().parents[2] / "fixtures" / "anon"


def _listed(name: str) -> list[str]:
    """The entries of a fixture list: one address or network a line, # comments."""
    text = (ANON / name).read_text(encoding="utf-8")
    return [ln.split("#")[0].strip() for ln in text.splitlines() if ln.split("#")[0].strip()]


def test_verdicts_from_sources(dbs):
    from loganalyzer.anonymity.sources import AnonymizerSources

    sources = AnonymizerSources.load(
        tor_exits=[ANON / "torbulkexitlist"], ip_lists=[("vpn", ANON / "vpn-list.txt")]
    )
    tor_ip = _listed("torbulkexitlist")[0]
    vpn_net = ipaddress.ip_network(_listed("vpn-list.txt")[0])
    vpn_ip = str(vpn_net.network_address + 5)
    given = [tor_ip, vpn_ip, "175.167.1.2", "10.0.0.1", "junk", tor_ip]
    rows = lookup_addresses(given, dbs, sources=sources)
    assert rows["input"].to_list() == given
    got = rows.select("anonymizer", "anonymizer_confidence").rows()
    assert got == [
        ("tor_exit", "confirmed"),
        ("vpn", "suspected"),
        ("none_known", None),  # public but listed nowhere: not known, which is not "clean"
        (None, None),
        (None, None),
        ("tor_exit", "confirmed"),
    ]
    assert rows["anonymizer_evidence"][1].to_list() == [f"ip-list:vpn-list.txt vpn ({vpn_net})"]
    assert lookup_addresses(given, dbs).columns == list(LOOKUP_SCHEMA)


def test_cli_shows_the_verdict_and_its_evidence(tmp_path, city_db):
    tor_ip = _listed("torbulkexitlist")[0]
    args = ["lookup", tor_ip, "175.167.1.2", "--city-db", str(city_db)]
    args += ["--tor-exits", str(ANON / "torbulkexitlist")]
    r = _cli(tmp_path, *args)
    assert r.returncode == 0, r.stderr
    blocks = r.stdout.decode().split("\n\n")
    assert "  anonymizer   tor_exit (confirmed, Tor)" in blocks[0].splitlines()
    assert "  evidence     tor-exits:bulk-list" in blocks[0].splitlines()
    assert "  anonymizer   not listed (no source claims it; not proof of clean)" in blocks[1]
    c = _cli(tmp_path, *args, "-O", "csv")
    rows = list(csv.DictReader(io.StringIO(c.stdout.decode())))
    assert [(x["anonymizer"], x["anonymizer_evidence"]) for x in rows] == [
        ("tor_exit", "tor-exits:bulk-list"),
        ("none_known", ""),
    ]


def test_lookup_log_clients_busiest_first(tmp_path, dbs):
    lines = [log_line(ip="81.2.69.160")] * 3 + [log_line(ip="175.167.1.2")] * 5
    lines += [log_line(ip="not-an-address")] * 2
    (tmp_path / "a.log").write_text("\n".join(lines) + "\n")
    a = lookup_log_clients([str(tmp_path / "a.log")], dbs)
    got = a.rows.select("input", "status", "requests").rows()
    assert got == [("175.167.1.2", "ok", 5), ("81.2.69.160", "ok", 3)]
    assert a.meta["invalid_clients"] == {"requests": 2}
    assert a.meta["lines"]["parsed"] == 10


# --- the command --------------------------------------------------------------------------


def _cli(tmp_path, *args, stdin=None):
    (tmp_path / "no-geoip").mkdir(exist_ok=True)
    return run_cli(
        *args, stdin=stdin, cwd=tmp_path, env={"LOGANALYZER_GEOIP_DIR": str(tmp_path / "no-geoip")}
    )


def test_cli_table(tmp_path, city_db, asn_db):
    r = _cli(
        tmp_path, "lookup", "175.167.1.2", "10.0.0.1", "--city-db", str(city_db), "--asn-db",
        str(asn_db),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""
    out = r.stdout.decode()
    blocks = out.split("\n\n")
    assert blocks[0].splitlines()[0] == "175.167.1.2"
    assert "  region       CN-LN Liaoning" in blocks[0].splitlines()
    assert "  asn          AS4837 CHINA UNICOM China169 Backbone" in blocks[0].splitlines()
    assert blocks[1].splitlines() == ["10.0.0.1", "  status       not_public (private)"]


def test_cli_json_and_csv_agree_with_the_library(tmp_path, city_db, asn_db, dbs):
    given = ["2.136.4.5", "8.8.8.8", "=cmd|' /C calc'!A0"]
    expected = lookup_addresses(given, dbs).to_dicts()
    args = ["lookup", *given, "--city-db", str(city_db), "--asn-db", str(asn_db)]
    j = _cli(tmp_path, *args, "-O", "json")
    assert j.returncode == 3
    assert json.loads(j.stdout)["rows"] == expected
    c = _cli(tmp_path, *args, "-O", "csv")
    rows = list(csv.DictReader(io.StringIO(c.stdout.decode())))
    assert [r["status"] for r in rows] == ["ok", "not_found", "invalid_ip"]
    # The formula an attacker put in a log never runs in a spreadsheet.
    assert rows[2]["input"] == "'" + given[2]


def test_cli_invalid_input_is_a_row_and_exit_3(tmp_path, city_db):
    r = _cli(tmp_path, "lookup", "81.2.69.160", "bad\x1b[31m", "--city-db", str(city_db))
    assert r.returncode == 3
    out = r.stdout.decode()
    assert "bad\\x1b[31m\n  status       invalid_ip\n" in out
    assert "\x1b" not in out
    assert r.stderr.decode() == (
        "Error: 1 of 2 inputs not an IP address (first: 'bad\\\\x1b[31m'); "
        "their rows say status invalid_ip\n"
    )


def test_cli_reads_stdin_skipping_blanks_and_comments(tmp_path, city_db):
    stdin = b"# clients\n81.2.69.160\n\n  175.167.1.2  \n"
    r = _cli(tmp_path, "lookup", "--city-db", str(city_db), "-O", "csv", stdin=stdin)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout.decode())))
    assert [(x["input"], x["country_iso"]) for x in rows] == [
        ("81.2.69.160", "GB"),
        ("175.167.1.2", "CN"),
    ]


def test_cli_from_log_sample(tmp_path):
    from loganalyzer import analyze, sample_paths

    s = sample_paths()
    r = _cli(tmp_path, "lookup", "--sample", "--from-log", str(s.log), "-O", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    by_ip = analyze([s.log], city_db=s.city_db, asn_db=s.asn_db, by=["ip"]).rows
    by_ip = by_ip.filter(pl.col(S.CLIENT_IP).is_not_null())
    assert [(x["client_ip"], x["requests"]) for x in rows] == by_ip.select(
        S.CLIENT_IP, S.REQUESTS
    ).rows()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lookup", "--sample", "1.2.3.4", "--from-log", "x.log"], "not both"),
        (["lookup", "--city-db", "missing.mmdb", "1.2.3.4"], "no such database file"),
    ],
)
def test_cli_usage_and_database_errors(tmp_path, args, message):
    r = _cli(tmp_path, *args)
    assert r.returncode == (4 if "database" in message else 2)
    assert message in r.stderr.decode()
