"""IP2Proxy BIN files: the fixture writer, read back by IP2Location's library, and the verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from loganalyzer import schema as S
from loganalyzer.anonymity.sources import AnonymizerSources
from loganalyzer.anonymity.verdict import classify
from loganalyzer.errors import SourceError
from tests.helpers import FIXTURES, log_line, run_cli

IP2Proxy = pytest.importorskip("IP2Proxy")  # loganalyzer[sources]; the test extra has it

import sys  # noqa: E402

sys.path.insert(0, str(FIXTURES))
from ip2proxy_builder import load_records, write_bin  # noqa: E402

# (address, proxy type, anonymizer, actor_type, provider)
CASES = [
    ("192.0.2.5", "VPN", "vpn", "none_known", "ExampleVPN"),
    ("192.0.2.20", "TOR", "tor_exit", "none_known", None),
    ("192.0.2.40", "DCH", "hosting", "none_known", None),
    ("192.0.2.50", "PUB", "public_proxy", "scanner", None),  # threat SCANNER
    ("192.0.2.70", "WEB", "public_proxy", "none_known", None),
    ("192.0.2.85", "SES", "none_known", "crawler", None),
    ("192.0.2.100", "RES", "residential_proxy", "none_known", "ExampleProxies"),
    ("192.0.2.120", "CPN", "privacy_relay", "none_known", "iCloud Private Relay"),
    ("192.0.2.130", "EPN", "hosting", "none_known", "ExampleCorp Gateway"),
    ("2001:db8:1::5", "VPN", "vpn", "none_known", "ExampleVPN"),
    ("192.0.2.200", "-", "none_known", "none_known", None),
    ("8.8.8.8", "-", "none_known", "none_known", None),
]


@pytest.fixture(scope="module")
def px11(tmp_path_factory) -> Path:
    return write_bin(tmp_path_factory.mktemp("ip2proxy") / "IP2PROXY-PX11.BIN", load_records())


@pytest.mark.parametrize(("ip", "kind", "_a", "_b", "provider"), CASES)
def test_the_official_library_reads_the_fixture(px11, ip, kind, _a, _b, provider):
    with IP2Proxy.IP2Proxy(str(px11)) as db:
        assert db.get_package_version() == "11"
        assert db.get_database_version() == "26.1.15"
        rec = db.get_all(ip)
    assert rec["proxy_type"] == kind
    assert rec["is_proxy"] == (0 if kind == "-" else 2 if kind in ("DCH", "SES") else 1)
    assert (rec["provider"] if rec["provider"] != "-" else None) == provider


@pytest.mark.parametrize("px", [1, 2, 4, 12])
def test_every_px_level_is_read(tmp_path, px):
    path = write_bin(tmp_path / f"PX{px}.BIN", load_records(), px=px)
    sources = AnonymizerSources.load(ip2proxy=[path])
    assert sources.infos[0].kind == f"ip2proxy-px{px}"
    got = classify(pl.DataFrame({S.CLIENT_IP: ["192.0.2.5", "192.0.2.200"]}), sources)
    # PX1 only says "a proxy": public_proxy; from PX2 the type is given.
    assert got[S.ANONYMIZER].to_list() == ["public_proxy" if px == 1 else "vpn", "none_known"]


def test_proxy_types_map_to_categories_and_actor_types(px11):
    sources = AnonymizerSources.load(ip2proxy=[px11])
    info = sources.infos[0]
    assert (info.name, info.kind, info.date) == ("ip2proxy", "ip2proxy-px11", "2026-01-15")
    got = classify(pl.DataFrame({S.CLIENT_IP: [c[0] for c in CASES]}), sources)
    rows = {r[S.CLIENT_IP]: r for r in got.iter_rows(named=True)}
    for ip, _, anonymizer, actor, provider in CASES:
        r = rows[ip]
        assert (r[S.ANONYMIZER], r[S.ACTOR_TYPE], r[S.ANONYMIZER_PROVIDER]) == (
            anonymizer,
            actor,
            provider,
        ), ip
    assert rows["192.0.2.5"][S.ANONYMIZER_CONFIDENCE] == "confirmed"
    assert rows["192.0.2.5"][S.ANONYMIZER_EVIDENCE] == [
        "ip2proxy:VPN (192.0.2.5; PX11 2026-01-15; provider ExampleVPN; usage DCH; "
        "last seen 3 days ago)"
    ]
    assert (
        "ip2proxy:threat SCANNER (192.0.2.50; PX11 2026-01-15)"
        in (rows["192.0.2.50"][S.ANONYMIZER_EVIDENCE])
    )


def test_report_by_provider_names_the_vpn_service(tmp_path, px11):
    log = tmp_path / "access.log"
    log.write_text(
        "".join(log_line(ip=ip) + "\n" for ip, *_ in CASES for _ in range(2)), encoding="utf-8"
    )
    r = run_cli("report", str(log), "--ip2proxy", str(px11), "--by", "provider", "-O", "json")
    assert r.returncode == 0, r.stderr
    rows = {
        (x["anonymizer"], x["anonymizer_provider"]): x["requests"]
        for x in json.loads(r.stdout)["rows"]
    }
    assert rows[("vpn", "ExampleVPN")] == 4  # an IPv4 and an IPv6 exit of the same service
    assert rows[("residential_proxy", "ExampleProxies")] == 2
    assert rows[("privacy_relay", "iCloud Private Relay")] == 2


def test_a_sources_folder_recognises_a_bin_by_its_content(tmp_path, px11):
    folder = tmp_path / "anon"
    folder.mkdir()
    (folder / "data.dat").write_bytes(px11.read_bytes())  # no telling name
    r = run_cli("sources", "info", "--sources-dir", str(folder), "--json")
    assert r.returncode == 0, r.stderr
    (src,) = json.loads(r.stdout)["sources"]
    assert (src["kind"], src["date"]) == ("ip2proxy-px11", "2026-01-15")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"PK\x03\x04zipped", "is a ZIP archive: unpack the IP2Proxy .BIN file from it first"),
        (b'"3232235520","3232235775","VPN"\n', "is not an IP2Proxy BIN file"),
        (b"\x00" * 64, "is not an IP2Proxy BIN file"),
    ],
)
def test_what_is_not_a_bin_is_a_source_error(tmp_path, content, problem):
    bad = tmp_path / "IP2PROXY.BIN"
    bad.write_bytes(content)
    with pytest.raises(SourceError, match=problem):
        AnonymizerSources.load(ip2proxy=[bad])
    r = run_cli("report", str(bad), "--ip2proxy", str(bad))
    assert r.returncode == 4
    assert problem in r.stderr.decode()
