"""Scanner and crawler verdicts (actor_type) and the lists loganalyzer[sources] ships."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from loganalyzer import schema as S
from loganalyzer.anonymity import builtin
from loganalyzer.anonymity.sources import AnonymizerSources
from loganalyzer.anonymity.verdict import classify
from loganalyzer.settings import ConfigError, load_settings
from tests.helpers import log_line, run_cli

# (address, hosting list?, scanner list?, crawler list?)
LISTED = {
    "192.0.2.10": ("hosting", "scanner"),  # a scanner on a cloud: both verdicts
    "192.0.2.20": ("scanner",),
    "198.51.100.7": ("crawler",),
    "198.51.100.200": ("scanner", "crawler"),  # both lists: scanner outranks crawler
    "203.0.113.5": ("vpn",),
    "203.0.113.99": (),
}


def write_lists(folder: Path) -> list[tuple[str, Path]]:
    nets = {
        "hosting": ["192.0.2.0/24"],
        "scanner": ["192.0.2.16/28", "192.0.2.10", "198.51.100.200"],
        "crawler": ["198.51.100.0/24"],
        "vpn": ["203.0.113.0/28"],
    }
    pairs = []
    for category, listed in nets.items():
        f = folder / f"{category}.txt"
        f.write_text("".join(n + "\n" for n in listed), encoding="utf-8")
        pairs.append((category, f))
    return pairs


@pytest.mark.parametrize("evidence", [True, False])
def test_actor_type_is_a_second_verdict_beside_the_category(tmp_path, evidence):
    sources = AnonymizerSources.load(ip_lists=write_lists(tmp_path))
    frame = pl.DataFrame({S.CLIENT_IP: [*LISTED, None]})
    got = classify(frame, sources, evidence=evidence)
    rows = {r[S.CLIENT_IP]: r for r in got.iter_rows(named=True)}
    expected = {
        "192.0.2.10": ("hosting", "scanner"),
        "192.0.2.20": ("hosting", "scanner"),  # inside the hosting /24 too
        "198.51.100.7": ("none_known", "crawler"),
        "198.51.100.200": ("none_known", "scanner"),
        "203.0.113.5": ("vpn", "none_known"),
        "203.0.113.99": ("none_known", "none_known"),
        None: (None, None),
    }
    assert {ip: (r[S.ANONYMIZER], r[S.ACTOR_TYPE]) for ip, r in rows.items()} == expected
    if evidence:
        shodan_on_cloud = rows["192.0.2.10"][S.ANONYMIZER_EVIDENCE]
        # Every claim stays, the category's first.
        assert shodan_on_cloud == [
            "ip-list:hosting.txt hosting (192.0.2.0/24)",
            "ip-list:scanner.txt scanner (192.0.2.10/32)",
        ]
        # A scanner's claim does not make the category suspected or confirmed.
        assert rows["198.51.100.7"][S.ANONYMIZER_CONFIDENCE] is None
        assert rows["203.0.113.99"][S.ANONYMIZER_EVIDENCE] is None  # no claim, no reasons


@pytest.mark.parametrize(
    ("others", "verdict"),
    [
        ([], ("vpn", "suspected")),  # alone: a VPN, suspected
        ([("hosting", True)], ("hosting", "confirmed")),  # a cloud's own range wins
        ([("hosting", False)], ("hosting", "suspected")),
        ([("vpn", False)], ("vpn", "suspected")),
        ([("tor_exit", True)], ("tor_exit", "confirmed")),
        ([("privacy_relay", True)], ("privacy_relay", "confirmed")),
        ([("scanner", True)], ("vpn", "suspected")),  # an actor type changes nothing
    ],
)
def test_a_vpn_or_datacenter_list_yields_to_a_clouds_own_range(tmp_path, others, verdict):
    from loganalyzer.anonymity.categories import _HIT_SCHEMA, _verdicts

    claims = [("vpn_or_datacenter", False), *others]
    hits = pl.DataFrame(
        [(0, c, f"{c} claim", None, ok) for c, ok in claims], schema=_HIT_SCHEMA, orient="row"
    )
    got = _verdicts(hits).row(0, named=True)
    assert (got[S.ANONYMIZER], got[S.ANONYMIZER_CONFIDENCE]) == verdict
    assert sorted(got[S.ANONYMIZER_EVIDENCE]) == sorted(f"{c} claim" for c, _ in claims)


def write_log(folder: Path) -> Path:
    # Requests per address: 1, 2, 3, ... in LISTED order.
    lines = [
        log_line(ip=ip, request=f"GET /{k} HTTP/1.1")
        for n, ip in enumerate(LISTED, 1)
        for k in range(n)
    ]
    log = folder / "access.log"
    log.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    return log


def list_args(folder: Path) -> list[str]:
    return [arg for c, f in write_lists(folder) for arg in ("--ip-list", f"{c}={f}")]


def test_report_by_actor_type_counts_scanners_and_crawlers(tmp_path):
    log = write_log(tmp_path)
    r = run_cli("report", str(log), "--by", "actor_type", "-O", "json", *list_args(tmp_path))
    assert r.returncode == 0, r.stderr
    rows = {x["actor_type"]: x for x in json.loads(r.stdout)["rows"]}
    assert {k: v["requests"] for k, v in rows.items()} == {
        "scanner": 1 + 2 + 4,
        "crawler": 3,
        "none_known": 5 + 6,
    }
    assert rows["scanner"]["requests_scanner"] == 7
    assert rows["scanner"]["requests_hosting"] == 3
    assert rows["none_known"]["requests_vpn"] == 5


@pytest.mark.parametrize(
    "args",
    [
        ["--exclude", "scanner,crawler"],
        ["--exclude", "scanner", "--exclude", "crawler"],
        ["--where", "actor_type=none_known"],
    ],
)
def test_people_only_reports(tmp_path, args):
    log = write_log(tmp_path)
    r = run_cli("report", str(log), "--by", "ip", "-O", "json", *list_args(tmp_path), *args)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert sorted(x["client_ip"] for x in doc["rows"]) == ["203.0.113.5", "203.0.113.99"]
    assert {x["requests_scanner"] + x["requests_crawler"] for x in doc["rows"]} == {0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--exclude", "scanners"], "Error: --exclude: unknown kind 'scanners'; use one of"),
        (["--where", "actor_type=bot"], "Error: --where actor_type: unknown 'bot'; use one of"),
    ],
)
def test_unknown_kinds_are_usage_errors(tmp_path, args, message):
    log = write_log(tmp_path)
    r = run_cli("report", str(log), *list_args(tmp_path), *args)
    assert r.returncode == 2
    assert r.stderr.decode().startswith(message)


@pytest.mark.parametrize(
    ("name", "category", "provider", "confirmed"),
    [
        ("vpn-ipv4", "vpn_or_datacenter", None, False),
        ("vpn-ipv6", "vpn_or_datacenter", None, False),
        ("amazon-aws", "hosting", "Amazon AWS", True),
        ("zscaler", "hosting", "Zscaler", True),
        ("shodan-nt-scanning", "scanner", "Shodan", True),
        ("censys-scanning", "scanner", "Censys", True),
        ("tenable-cloud-ipv4", "scanner", "Tenable", True),
        ("shadowserver", "scanner", "Shadowserver", True),
        ("googlebot", "crawler", "Googlebot", True),
        ("openai-gptbot", "crawler", "OpenAI GPTBot", True),
        ("public-dns-v4", None, None, None),
        ("rfc1918", None, None, None),
    ],
)
def test_how_each_list_maps(name, category, provider, confirmed):
    use = builtin.list_use(name)
    if category is None:
        assert use is None
    else:
        assert use == builtin.ListUse(category, provider, confirmed)


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ({}, True),
        ({"LOGANALYZER_BUILTIN_SOURCES": "off"}, False),
        ({"LOGANALYZER_BUILTIN_SOURCES": "yes"}, True),
    ],
)
def test_the_setting(env, value):
    got = load_settings(env={"XDG_CONFIG_HOME": "/nonexistent", **env})
    assert got.get("builtin_sources") is value


def test_a_setting_that_is_not_true_or_false_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="builtin_sources must be true or false"):
        load_settings(env={"XDG_CONFIG_HOME": "/x", "LOGANALYZER_BUILTIN_SOURCES": "maybe"})
    config = tmp_path / "config.toml"
    config.write_text("builtin_sources = false\n", encoding="utf-8")
    assert load_settings(config).get("builtin_sources") is False


# --- the real lists of the installed package (CI installs the extra) ----------------------

needs_extra = pytest.mark.skipif(
    not builtin.available(), reason="loganalyzer[sources] (pymispwarninglists) not installed"
)


def first_address(name: str) -> str:
    """An address inside the first network of one of the package's lists."""
    import ipaddress

    lists = builtin._lists_dir()
    assert lists is not None
    doc = json.loads((lists / name / "list.json").read_text(encoding="utf-8"))
    return str(ipaddress.ip_network(doc["list"][0], strict=False)[0])


@needs_extra
def test_installed_lists_judge_with_no_file_given(tmp_path):
    vpn, scanner, crawler = (
        first_address(n) for n in ("vpn-ipv4", "shodan-nt-scanning", "googlebot")
    )
    nobody = "192.0.2.1"  # documentation range: on no list
    log = tmp_path / "access.log"
    log.write_text(
        "".join(log_line(ip=ip) + "\n" for ip in (vpn, scanner, crawler, nobody)),
        encoding="utf-8",
    )
    env = {"LOGANALYZER_BUILTIN_SOURCES": "on", "LOGANALYZER_GEOIP_DIR": str(tmp_path)}
    r = run_cli("ips", str(log), "--output", "json", env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    rows = {x["ip"]: x for x in doc["rows"]}
    assert rows[vpn]["anonymizer"] == "vpn"
    assert rows[vpn]["confidence"] == "suspected"
    version = json.loads(
        (builtin._lists_dir() / "vpn-ipv4" / "list.json").read_text(encoding="utf-8")
    )["version"]
    assert any(r.startswith(f"misp:vpn-ipv4 v{version} vpn (") for r in rows[vpn]["reasons"])
    assert rows[scanner]["actor_type"] == "scanner"
    assert any(r.startswith("misp:shodan-nt-scanning ") for r in rows[scanner]["reasons"])
    assert rows[crawler]["actor_type"] == "crawler"
    # Googlebot's ranges are Google's own, though vpn-ipv4 holds them too.
    assert (rows[crawler]["anonymizer"], rows[crawler]["provider"]) == ("hosting", "Google")
    assert (rows[nobody]["anonymizer"], rows[nobody]["actor_type"]) == ("none_known", "none_known")
    assert rows[nobody]["reasons"] in (None, [])
    listed = {s["name"]: s for s in doc["meta"]["sources"]}
    assert listed["misp:vpn-ipv4"]["date"] == str(version)
    assert listed["misp:vpn-ipv4"]["package"].startswith("pymispwarninglists ")
    # Read back from the cache, the second run says the same.
    again = run_cli("ips", str(log), "--output", "json", env=env)
    assert json.loads(again.stdout)["rows"] == doc["rows"]
    # Turned off, nothing judges.
    off = run_cli("ips", str(log), "--output", "json", "--no-builtin-sources", env=env)
    assert {x["anonymizer"] for x in json.loads(off.stdout)["rows"]} == {None}


@needs_extra
def test_sources_info_names_each_list_with_its_version():
    r = run_cli("sources", "info", "--json", env={"LOGANALYZER_BUILTIN_SOURCES": "1"})
    assert r.returncode == 0, r.stderr
    names = {s["name"]: s for s in json.loads(r.stdout)["sources"]}
    assert {"misp:vpn-ipv4", "misp:vpn-ipv6", "misp:amazon-aws", "misp:googlebot"} <= set(names)
    assert all(s["date"] for s in names.values())
    text = run_cli("sources", "info", env={"LOGANALYZER_BUILTIN_SOURCES": "1"}).stdout.decode()
    assert "misp:vpn-ipv4" in text
    assert "built in (pymispwarninglists" in text


def test_the_table_shows_scanners_and_crawlers_when_some_are_listed(tmp_path):
    log = write_log(tmp_path)
    r = run_cli("report", str(log), "--by", "anonymizer", *list_args(tmp_path))
    assert r.returncode == 0, r.stderr
    header = next(ln for ln in r.stdout.decode().splitlines() if "anonymized" in ln)
    assert header.split()[:8] == [
        "anonymizer", "confidence", "requests", "none", "known", "anonymized", "scanners",
        "crawlers",
    ]  # fmt: skip
    assert "--exclude scanner,crawler leaves them out" in r.stdout.decode().replace("\n", " ")
    # No list of scanners or crawlers: no such columns.
    vpn_only = run_cli(
        "report", str(log), "--by", "anonymizer", "--ip-list", f"vpn={tmp_path / 'vpn.txt'}"
    )
    assert "scanners" not in vpn_only.stdout.decode()


# The CLI as run where loganalyzer[sources] is not installed: the package hidden from imports.
_WITHOUT_EXTRA = """
import importlib.abc, sys

class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pymispwarninglists", "IP2Proxy"):
            raise ModuleNotFoundError(name)
        return None

sys.meta_path.insert(0, Hide())
from loganalyzer.cli import run
sys.argv = ["loganalyzer", *sys.argv[1:]]
run()
"""


def test_without_the_extra_the_note_says_how_to_get_the_lists(tmp_path):
    import os
    import subprocess
    import sys

    log = tmp_path / "access.log"
    log.write_text(log_line(ip="192.0.2.1") + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGANALYZER_")}
    env.update(
        LOGANALYZER_BUILTIN_SOURCES="on",
        LOGANALYZER_GEOIP_DIR=str(tmp_path),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        XDG_CONFIG_HOME=str(tmp_path / "no-config"),
    )

    def without_extra(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-c", _WITHOUT_EXTRA, *args],
            capture_output=True,
            env=env,
            timeout=120,
            check=False,
        )

    r = without_extra("report", str(log), "--by", "ip")
    assert r.returncode == 0, r.stderr
    assert (
        "Note: pip install 'loganalyzer[sources]' adds built-in VPN/datacenter, cloud, "
        "scanner and crawler lists, used with no file given"
    ) in r.stderr.decode().splitlines()
    info = without_extra("sources", "info")
    assert info.returncode == 0, info.stderr
    assert "or pip install 'loganalyzer[sources]' for built-in lists" in info.stdout.decode()
    if not builtin.available():
        return
    # With the extra, no such note.
    with_extra = run_cli(
        "report", str(log), "--by", "ip", env={"LOGANALYZER_BUILTIN_SOURCES": "on"}
    )
    assert "adds built-in" not in with_extra.stderr.decode()
