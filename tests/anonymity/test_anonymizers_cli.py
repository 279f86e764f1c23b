"""Anonymizers end to end: the real CLI on a log with Tor, VPN, cloud, relay and direct clients."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from loganalyzer import schema as S
from loganalyzer.analysis.meta import NO_ANON_SOURCES
from loganalyzer.analysis.pipeline import analyze
from loganalyzer.anonymity.sources import AnonymizerSources
from loganalyzer.errors import UsageError
from tests.helpers import FIXTURES, log_line, run_cli

ANON = FIXTURES / "anon"
T0 = datetime(2026, 9, 14, 8, 0, tzinfo=UTC)

# (address, region, requests, time of its requests, anonymized?)
CLIENTS = [
    ("175.167.1.2", "CN-LN", 3, T0, False),
    ("2408:8200::1", "CN-LN", 1, T0, False),
    ("2.136.4.5", "ES-CT", 2, T0, False),
    ("2.136.250.9", "ES-CT", 1, T0, True),  # MaxMind: anonymous VPN
    ("2.137.0.10", "ES-MD", 1, T0, False),
    ("2.137.200.1", "ES-MD", 2, T0, True),  # iCloud Private Relay (and a VPN list)
    ("185.220.101.7", "DE-BE", 1, T0, True),  # Tor, measured 30 min later
    ("185.220.101.9", "DE-BE", 1, T0, True),  # Tor, measured 23 h earlier
    ("185.220.101.8", "DE-BE", 1, T0 + timedelta(days=3), False),  # exit 3 days before
    ("81.2.69.5", "GB-ENG", 1, T0, True),  # its whole AS is on the ASN list
    ("216.160.83.57", "US-WA", 1, T0, True),  # AWS EC2
]

# The category each anonymized client above gets from source_args' files.
CATEGORY = {
    "2.136.250.9": "vpn",
    "2.137.200.1": "privacy_relay",
    "185.220.101.7": "tor_exit",
    "185.220.101.9": "tor_exit",
    "81.2.69.5": "vpn",
    "216.160.83.57": "hosting",
}


def write_clients_log(folder: Path) -> Path:
    """``folder/access.log`` with the requests of CLIENTS, and an empty ``no-geoip``."""
    lines = [
        log_line(ip=ip, ts=ts + timedelta(seconds=i), request=f"GET /{i} HTTP/1.1")
        for ip, _, n, ts, _ in CLIENTS
        for i in range(n)
    ]
    (folder / "access.log").write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    (folder / "no-geoip").mkdir()
    return folder


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return write_clients_log(tmp_path)


def source_args(anon_dbs: dict[str, Path]) -> list[str]:
    return [
        "--anon-db",
        str(anon_dbs["anonymous-ip"]),
        "--tor-exits",
        str(ANON / "exit-addresses"),
        "--ip-list",
        f"vpn={ANON / 'vpn-list.txt'}",
        "--ip-list",
        f"relay={ANON / 'egress-ip-ranges.csv'}",
        "--cloud-ranges",
        str(ANON / "ip-ranges.json"),
        "--asn-list",
        str(ANON / "asn-list.csv"),
    ]


def cli(work: Path, geo_dbs: dict[str, Path], *args: str):
    return run_cli(
        *args,
        "--city-db",
        str(geo_dbs["city"]),
        "--asn-db",
        str(geo_dbs["asn"]),
        cwd=work,
        env={"LOGANALYZER_GEOIP_DIR": str(work / "no-geoip")},
    )


def test_report_shows_direct_and_anonymized_per_watched_region(work, geo_dbs, anon_dbs):
    r = cli(
        work,
        geo_dbs,
        "report",
        "access.log",
        "--watch",
        "CN-LN",
        "--watch",
        "ES",
        "-O",
        "json",
        *source_args(anon_dbs),
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    rows = {row["region_iso"]: row for row in doc["rows"]}
    for region in {c[1] for c in CLIENTS}:
        mine = [c for c in CLIENTS if c[1] == region]
        row = rows[region]
        assert row["requests"] == sum(c[2] for c in mine), region
        assert row["requests_anonymized"] == sum(c[2] for c in mine if c[4]), region
        assert row["unique_ips_anonymized"] == sum(1 for c in mine if c[4]), region
        assert row["requests_direct"] == sum(c[2] for c in mine if not c[4]), region
        for cat in S.ANON_CATEGORIES:
            want = sum(c[2] for c in mine if CATEGORY.get(c[0]) == cat)
            assert row[f"requests_{cat}"] == want, (region, cat)
    assert all(rows[r]["watched"] for r in ("CN-LN", "ES-CT", "ES-MD"))
    assert rows["CN-LN"]["requests_anonymized"] == 0
    kinds = sorted(s["kind"] for s in doc["meta"]["sources"])
    assert kinds == [
        "GeoIP2-Anonymous-IP",
        "asn-csv",
        "aws-ranges",
        "cidr-list",
        "geofeed",
        "tordnsel",
    ]
    assert all(len(s["sha256"]) == 64 and s["entries"] > 0 for s in doc["meta"]["sources"])
    stderr = r.stderr.decode()
    assert f"Source: {ANON / 'exit-addresses'} (tordnsel, 3 entries)" in stderr


def test_table_has_direct_and_anonymized_columns(work, geo_dbs, anon_dbs):
    r = cli(work, geo_dbs, "-q", "report", "access.log", "--watch", "ES", *source_args(anon_dbs))
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    header = next(line for line in out.splitlines() if "region code" in line)
    assert header.split()[-8:] == [
        "requests",
        "none",
        "known",
        "anonymized",
        "share",
        "unique",
        "IPs",
        "bytes",
    ]
    madrid = next(line for line in out.splitlines() if "ES-MD" in line)
    numbers = [t for t in madrid.split() if t.isdigit()]
    assert numbers[:3] == ["3", "1", "2"]  # requests, direct, anonymized
    # Per-category counts are for CSV, JSON and Parquet; the table keeps to 120 columns.
    assert "relay" not in header
    assert "tor" not in header
    assert max(len(line) for line in out.splitlines()) <= 120
    assert "not proof of a direct user" in out


def test_by_anonymizer_and_provider(work, geo_dbs, anon_dbs):
    r = cli(
        work,
        geo_dbs,
        "report",
        "access.log",
        "--by",
        "anonymizer",
        "-O",
        "json",
        *source_args(anon_dbs),
    )
    assert r.returncode == 0, r.stderr
    got = {
        (x["anonymizer"], x["anonymizer_confidence"]): x["requests"]
        for x in json.loads(r.stdout)["rows"]
    }
    assert got == {
        ("none_known", None): 8,
        ("tor_exit", "confirmed"): 2,
        ("privacy_relay", "confirmed"): 2,
        ("vpn", "confirmed"): 1,
        ("vpn", "suspected"): 1,
        ("hosting", "confirmed"): 1,
    }
    r = cli(
        work,
        geo_dbs,
        "report",
        "access.log",
        "--by",
        "provider",
        "-O",
        "csv",
        *source_args(anon_dbs),
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0].startswith("anonymizer,anonymizer_provider,requests,")
    assert "privacy_relay,iCloud Private Relay,2," in r.stdout.decode()
    assert "hosting,AWS,1," in r.stdout.decode()


@pytest.mark.parametrize("category", ["tor_exit", "tor"])  # the short name is an alias
def test_where_on_the_verdict(work, geo_dbs, anon_dbs, category):
    r = cli(
        work,
        geo_dbs,
        "report",
        "access.log",
        "--by",
        "ip",
        "--where",
        f"anonymizer={category}",
        "-O",
        "json",
        *source_args(anon_dbs),
    )
    assert r.returncode == 0, r.stderr
    assert sorted(x["client_ip"] for x in json.loads(r.stdout)["rows"]) == [
        "185.220.101.7",
        "185.220.101.9",
    ]


def test_enrich_writes_the_verdict_and_evidence_per_request(work, geo_dbs, anon_dbs):
    r = cli(work, geo_dbs, "enrich", "access.log", "-o", "out.parquet", *source_args(anon_dbs))
    assert r.returncode == 0, r.stderr
    frame = pl.read_parquet(work / "out.parquet")
    assert frame.height == sum(c[2] for c in CLIENTS)
    by_ip = {row[S.CLIENT_IP]: row for row in frame.iter_rows(named=True)}
    assert by_ip["185.220.101.7"][S.ANONYMIZER_EVIDENCE] == [
        "tor-exits:exit-addresses (2026-09-14 08:30Z)"
    ]
    assert by_ip["185.220.101.8"][S.ANONYMIZER] == "none_known"
    assert by_ip["81.2.69.5"][S.ANONYMIZER_EVIDENCE] == [
        "asn-list:AS20712 vpn (Andrews & Arnold (invented VPN label); whole AS)"
    ]
    assert by_ip["216.160.83.57"][S.ANONYMIZER_EVIDENCE] == [
        "aws:hosting us-west-2 EC2 (216.160.83.56/30)"
    ]
    assert by_ip["2.137.200.1"][S.ANONYMIZER] == "privacy_relay"
    for ip, _, _, _, anonymized in CLIENTS:
        assert (by_ip[ip][S.ANONYMIZER] != "none_known") is anonymized, ip


def test_sources_info_lists_what_is_loaded(work, anon_dbs):
    r = run_cli("sources", "info", *source_args(anon_dbs), "--json", cwd=work)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["sources"]
    assert [x["name"] for x in rows] == [
        "maxmind-anon",
        "tor-exits",
        "ip-list",
        "icloud-relay",
        "aws",
        "asn-list",
    ]
    r = run_cli("sources", "info", cwd=work)
    assert r.returncode == 0
    assert r.stdout.decode().startswith("no anonymizer sources given")
    r = run_cli("sources", "info", "--tor-exits", str(ANON / "exit-addresses"), cwd=work)
    assert (
        "tor-exits     tordnsel tor_exit: 3 entries, data of 2026-09-14T08:30:00Z"
        in r.stdout.decode()
    )


def test_sources_dir_from_the_environment(work, geo_dbs, tmp_path):
    d = tmp_path / "anon-sources"
    d.mkdir()
    (d / "exit-addresses").write_bytes((ANON / "exit-addresses").read_bytes())
    r = run_cli(
        "report",
        "access.log",
        "--city-db",
        str(geo_dbs["city"]),
        "--by",
        "anonymizer",
        "-O",
        "json",
        cwd=work,
        env={"LOGANALYZER_SOURCES_DIR": str(d), "LOGANALYZER_GEOIP_DIR": str(work / "no-geoip")},
    )
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    assert {x["anonymizer"]: x["requests"] for x in rows} == {"none_known": 13, "tor_exit": 2}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--ip-list", "vpn=missing.txt"], 4, "Error: missing.txt: no such source file"),
        (["--by", "anonymizer"], 2, "Error: anonymizer columns need sources"),
        (
            ["--asn-list", str(ANON / "asn-list.csv")],
            4,
            "Error: --asn-list needs an ASN database",
        ),
    ],
    ids=["missing-source", "anonymizer-without-sources", "asn-list-without-asn-db"],
)
def test_source_errors_exit_codes(work, geo_dbs, args, code, message):
    base = ["report", "access.log", "--city-db", str(geo_dbs["city"])]
    r = run_cli(*base, *args, cwd=work, env={"LOGANALYZER_GEOIP_DIR": str(work / "no-geoip")})
    assert r.returncode == code, r.stderr
    assert r.stderr.decode().splitlines()[-1].startswith(message)


def test_no_sources_means_no_anonymizer_columns(work, geo_dbs):
    a = analyze([work / "access.log"], city_db=geo_dbs["city"], asn_db=geo_dbs["asn"])
    assert not set(S.ANON_COUNT_COLUMNS) & set(a.rows.columns)
    assert a.meta["sources"] == []
    assert a.meta["anonymizers"] == NO_ANON_SOURCES
    with pytest.raises(UsageError):
        analyze([work / "access.log"], city_db=geo_dbs["city"], by=["anonymizer"])


def test_library_api_matches_the_cli(work, geo_dbs, anon_dbs):
    sources = AnonymizerSources.load(tor_exits=[ANON / "exit-addresses"])
    a = analyze(
        [work / "access.log"],
        city_db=geo_dbs["city"],
        by=["region"],
        watch=["DE-BE"],
        sources=sources,
    )
    row = a.rows.filter(pl.col(S.REGION_ISO) == "DE-BE").row(0, named=True)
    assert (row[S.REQUESTS], row[S.REQUESTS_ANONYMIZED], row[S.UNIQUE_IPS_ANONYMIZED]) == (3, 2, 2)


def test_by_ip_is_the_per_address_evidence_table(work, geo_dbs, anon_dbs):
    r = cli(
        work, geo_dbs, "report", "access.log", "--by", "ip", "-O", "csv", *source_args(anon_dbs)
    )
    assert r.returncode == 0, r.stderr
    rows = {
        row["client_ip"]: row
        for row in pl.read_csv(r.stdout, infer_schema=False).iter_rows(named=True)
    }
    assert rows["2.137.200.1"]["anonymizer"] == "privacy_relay"
    assert rows["2.137.200.1"]["anonymizer_evidence"] == (
        "icloud-relay:privacy_relay ES ES-MD Madrid (2.137.200.0/24) | "
        "ip-list:vpn-list.txt vpn (2.137.200.0/24)"
    )
    assert rows["175.167.1.2"]["anonymizer"] == "none_known"
    assert rows["175.167.1.2"]["requests_anonymized"] == "0"
    r = cli(work, geo_dbs, "-q", "report", "access.log", "--by", "ip", *source_args(anon_dbs))
    line = next(x for x in r.stdout.decode().splitlines() if "216.160.83.57" in x)
    assert line.split()[:2] == ["216.160.83.57", "hosting"]


@pytest.mark.parametrize(
    ("with_sources", "output"),
    [(False, "table"), (False, "json"), (False, "markdown"), (True, "table"), (True, "json")],
)
def test_a_report_without_sources_says_so(work, geo_dbs, anon_dbs, with_sources, output):
    args = ["report", "access.log", "-O", output]
    r = cli(work, geo_dbs, *args, *(source_args(anon_dbs) if with_sources else []))
    assert r.returncode == 0, r.stderr
    note = f"Note: {NO_ANON_SOURCES}"
    assert (note in r.stderr.decode().splitlines()) is not with_sources
    if output == "json":
        meta = json.loads(r.stdout)["meta"]
        assert (meta["anonymizers"] == NO_ANON_SOURCES) is not with_sources
        assert ("requests_direct" in json.loads(r.stdout)["rows"][0]) is with_sources
    if output == "markdown":
        assert "- Anonymizers: no anonymizer sources loaded" in r.stdout.decode()
    quiet = cli(work, geo_dbs, "-q", *args)
    assert quiet.stderr == b""


def test_tor_window_and_staleness_are_options(tmp_path, geo_dbs):
    # 185.220.101.7 was measured as an exit at 2026-09-14 08:30 UTC: soon.log has its
    # one request 23.5 hours later; later.log starts six days after the list's data.
    exit_time = datetime(2026, 9, 14, 8, 30, tzinfo=UTC)
    soon = log_line(ip="185.220.101.7", ts=exit_time + timedelta(hours=23, minutes=30))
    later = log_line(ip="81.2.69.160", ts=exit_time + timedelta(days=6))
    (tmp_path / "soon.log").write_text(soon + "\n", encoding="utf-8")
    (tmp_path / "later.log").write_text(later + "\n", encoding="utf-8")

    def report(log: str, *extra: str) -> dict:
        r = run_cli(
            "report", log, "--city-db", str(geo_dbs["city"]),
            "--tor-exits", str(ANON / "exit-addresses"), "--by", "ip", "-O", "json", *extra,
            cwd=tmp_path,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def verdict(doc: dict) -> str:
        return next(x for x in doc["rows"] if x["client_ip"] == "185.220.101.7")["anonymizer"]

    default = report("soon.log")
    assert verdict(default) == "tor_exit"  # within the default 24 hours
    assert default["meta"]["anonymizer_settings"] == {
        "tor_window_hours": 24.0,
        "stale_after_days": 30,
    }
    narrow = report("soon.log", "--tor-window", "12")
    assert verdict(narrow) == "none_known"
    assert narrow["meta"]["anonymizer_settings"]["tor_window_hours"] == 12.0

    assert report("later.log")["meta"]["warnings"] == []  # 6 days: within 30
    (warning,) = report("later.log", "--stale-after", "3")["meta"]["warnings"]
    assert "exit-addresses: its data (2026-09-14) is 6 days before the log's time range" in (
        warning
    )


def test_the_command_caches_parsed_lists_in_the_users_cache_folder(work, geo_dbs, tmp_path):
    lists = [
        "--ip-list",
        f"vpn={ANON / 'vpn-list.txt'}",
        "--cloud-ranges",
        str(ANON / "ip-ranges.json"),
    ]
    base = ("report", "access.log", "--by", "anonymizer", "-O", "csv", *lists)
    home = tmp_path / "xdg-cache"
    cache = home / "loganalyzer" / "sources"
    first = run_cli(*base, cwd=work, env={"XDG_CACHE_HOME": str(home)})
    assert first.returncode == 0, first.stderr
    entries = sorted(p.name for p in cache.glob("*.parquet"))
    assert len(entries) == 2
    again = run_cli(*base, cwd=work, env={"XDG_CACHE_HOME": str(home)})
    assert (again.returncode, again.stdout) == (0, first.stdout)
    assert sorted(p.name for p in cache.glob("*.parquet")) == entries
    # LOGANALYZER_CACHE_DIR wins; set but empty, nothing is kept.
    other = tmp_path / "elsewhere"
    run_cli(*base, cwd=work, env={"XDG_CACHE_HOME": str(home), "LOGANALYZER_CACHE_DIR": str(other)})
    assert len(list(other.glob("*.parquet"))) == 2
    none = tmp_path / "none-home"
    off = run_cli(*base, cwd=work, env={"XDG_CACHE_HOME": str(none), "LOGANALYZER_CACHE_DIR": ""})
    assert (off.returncode, off.stdout) == (0, first.stdout)
    assert not none.exists()
    assert not list(work.glob("*.parquet"))


def test_cache_entries_unread_for_a_month_are_pruned(tmp_path):
    import os
    import time

    cache = tmp_path / "cache"
    one = tmp_path / "one.txt"
    one.write_text("175.167.5.0/24\n", encoding="utf-8")
    AnonymizerSources.load(ip_lists=[("vpn", one)], cache_dir=cache)
    (kept,) = cache.glob("*.parquet")
    stale = cache / "0000-list-vpn-old-v2.parquet"
    stale.write_bytes(kept.read_bytes())
    month_ago = time.time() - 31 * 86400
    for p in (kept, stale):
        os.utime(p, (month_ago, month_ago))
    # Reading an entry marks it in use; writing a new one prunes the unused.
    AnonymizerSources.load(ip_lists=[("vpn", one)], cache_dir=cache)
    two = tmp_path / "two.txt"
    two.write_text("175.167.6.0/24\n", encoding="utf-8")
    AnonymizerSources.load(ip_lists=[("vpn", two)], cache_dir=cache)
    names = {p.name for p in cache.glob("*.parquet")}
    assert kept.name in names
    assert stale.name not in names
    assert len(names) == 2
