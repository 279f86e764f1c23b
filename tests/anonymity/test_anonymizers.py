"""Anonymizer sources and verdicts: loaders, precedence, Tor windows, ranges, errors."""

from __future__ import annotations

import importlib
import ipaddress
import json
import re
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from loganalyzer import schema as S
from loganalyzer.anonymity import ip_lists as ip_lists_module
from loganalyzer.anonymity import networks as anonymizers
from loganalyzer.anonymity import sources as sources_module
from loganalyzer.anonymity.asn_list import load_asn_list
from loganalyzer.anonymity.categories import ACTOR_TYPES, CATEGORIES
from loganalyzer.anonymity.cloud import load_cloud
from loganalyzer.anonymity.ip_lists import load_ip_list
from loganalyzer.anonymity.maxmind import load_mmdb
from loganalyzer.anonymity.networks import _show as _show  # the display form of a network
from loganalyzer.anonymity.networks import address_keys
from loganalyzer.anonymity.sources import AnonymizerSources, stale_sources
from loganalyzer.anonymity.tor import load_tor
from loganalyzer.anonymity.verdict import classify
from loganalyzer.errors import ExitCode, SourceError
from tests.helpers import FIXTURES, make_mmdb

ANON = FIXTURES / "anon"
T0 = datetime(2026, 9, 14, 8, 0, tzinfo=UTC)


def verdicts(sources: AnonymizerSources, ips: list[str], **columns) -> dict[str, dict]:
    frame = pl.DataFrame({S.CLIENT_IP: ips, **columns}, schema_overrides={S.CLIENT_IP: pl.String})
    out = classify(frame, sources)
    return {r[S.CLIENT_IP]: r for r in out.iter_rows(named=True)}


# --- loaders -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loader", "file", "name", "kind", "entries", "category"),
    [
        (load_tor, "exit-addresses", "tor-exits", "tordnsel", 3, "tor_exit"),
        (load_tor, "torbulkexitlist", "tor-exits", "tor-bulk-list", 2, "tor_exit"),
        # invented1: one exit address and two other OR addresses; guardonly is no exit.
        (load_tor, "onionoo-details.json", "tor-exits", "onionoo", 3, "tor_exit"),
        (
            lambda p: load_ip_list(p, category="vpn"),
            "vpn-list.txt",
            "ip-list",
            "cidr-list",
            4,
            "vpn",
        ),
        (load_ip_list, "misp-vpn.json", "misp", "misp-warninglist", 2, "vpn"),
        (
            lambda p: load_ip_list(p, category="relay"),
            "egress-ip-ranges.csv",
            "icloud-relay",
            "geofeed",
            2,
            "privacy_relay",
        ),
        (load_cloud, "ip-ranges.json", "aws", "aws-ranges", 4, "hosting"),
        (load_cloud, "cloud.json", "google", "google-ranges", 2, "hosting"),
        (load_cloud, "ServiceTags_Public_20260907.json", "azure", "azure-ranges", 2, "hosting"),
        (load_cloud, "public_ip_ranges.json", "oracle", "oracle-ranges", 1, "hosting"),
        (load_asn_list, "asn-list.csv", "asn-list", "asn-csv", 2, None),
    ],
)
def test_loaders_describe_their_source(loader, file, name, kind, entries, category):
    src = loader(ANON / file)
    info = src.info
    assert (info.name, info.kind, info.entries, info.category) == (name, kind, entries, category)
    assert info.path == str(ANON / file)
    assert info.size_bytes == (ANON / file).stat().st_size
    assert len(info.sha256) == 64


def test_mmdb_loader_reads_type_and_build_date(anon_dbs):
    info = load_mmdb(anon_dbs["anonymous-ip"]).info
    assert (info.name, info.kind, info.date) == (
        "maxmind-anon",
        "GeoIP2-Anonymous-IP",
        "2026-01-01",
    )


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tor_exits": ["{missing}"]}, "{missing}: no such source file"),
        (
            {"tor_exits": ["{tmp}"]},
            "{tmp}: is a directory; use --sources-dir for a folder of sources",
        ),
        (
            {"ip_lists": [("vpn", "{binary}")]},
            "{binary}: is not a text file; expected an address/CIDR list, MISP JSON or geofeed CSV",
        ),
        (
            {"ip_lists": [("vpn", "{badline}")]},
            "{badline}: line 3: 'not-an-ip' is not an address or network (CIDR)",
        ),
        (
            {"ip_lists": [("vpn", "{otherdigits}")]},
            "{otherdigits}: line 2: '١.٢.٣.٤/24' is not an address or network (CIDR)",
        ),
        (
            {"ip_lists": [("sneaky", "{badline}")]},
            "{badline}: unknown category 'sneaky'; use one of "
            + ", ".join((*CATEGORIES, *ACTOR_TYPES)),
        ),
        (
            {"ip_lists": ["{badline}"]},
            "{badline}: give the list's category, e.g. --ip-list vpn=FILE",
        ),
        (
            {"cloud_ranges": ["{otherjson}"]},
            "{otherjson}: is not a cloud ranges file; expected AWS ip-ranges.json, Google "
            "cloud.json, Azure ServiceTags or Oracle JSON",
        ),
        ({"cloud_ranges": ["{badline}"]}, "{badline}: is not valid JSON (Expecting value, line 1)"),
        (
            {"asn_list": "{badasn}"},
            "{badasn}: line 2: unknown category 'cdn'; use one of "
            + ", ".join((*CATEGORIES, *ACTOR_TYPES)),
        ),
        (
            {"tor_exits": ["{badline}"]},
            "{badline}: line 3: 'not-an-ip' is not an address; expected a Tor exit list",
        ),
        (
            {"anon_db": ["{city}"]},
            "{city}: is a 'GeoLite2-City' database, but --anon-db needs GeoIP2-Anonymous-IP, "
            "GeoIP-Anonymous-Plus or GeoIP-Residential-Proxy",
        ),
    ],
    ids=[
        "missing",
        "directory",
        "binary-list",
        "bad-line",
        "other-scripts-digits",
        "bad-category",
        "no-category",
        "other-json",
        "not-json",
        "asn-category",
        "tor-bad-line",
        "city-as-anon",
    ],
)
def test_bad_sources_raise_source_error(tmp_path, city_db, kwargs, message):
    paths = {
        "missing": str(tmp_path / "nope.txt"),
        "tmp": str(tmp_path),
        "binary": str(write(tmp_path, "x.mmdb", b"\x00\x01\xffMaxMind")),
        "badline": str(write(tmp_path, "list.txt", "# c\n1.2.3.4\nnot-an-ip\n")),
        "otherdigits": str(write(tmp_path, "digits.txt", "1.2.3.0/24\n١.٢.٣.٤/24\n")),
        "otherjson": str(write(tmp_path, "other.json", '{"hello": []}')),
        "badasn": str(write(tmp_path, "asn.csv", "AS1,vpn,x\nAS2,cdn,y\n")),
        "city": str(city_db),
    }
    filled = {
        k: (
            [
                tuple(x.format(**paths) for x in v) if isinstance(v, tuple) else v.format(**paths)
                for v in val
            ]
            if isinstance(val, list)
            else val.format(**paths)
        )
        for k, val in kwargs.items()
    }
    with pytest.raises(SourceError) as info:
        AnonymizerSources.load(**filled)
    assert str(info.value) == message.format(**paths)
    assert info.value.exit_code == ExitCode.GEO_DB


# --- verdicts ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def everything(anon_dbs) -> AnonymizerSources:
    return AnonymizerSources.load(
        anon_db=[anon_dbs["anonymous-plus"], anon_dbs["anonymous-ip"]],
        tor_exits=[
            ANON / "exit-addresses",
            ANON / "torbulkexitlist",
            ANON / "onionoo-details.json",
        ],
        ip_lists=[f"vpn={ANON / 'vpn-list.txt'}", ("relay", ANON / "egress-ip-ranges.csv")],
        cloud_ranges=[ANON / "ip-ranges.json", ANON / "ServiceTags_Public_20260907.json"],
        asn_list=ANON / "asn-list.csv",
    )


@pytest.mark.parametrize(
    ("ip", "asn", "category", "confidence", "provider", "evidence"),
    [
        # MaxMind: one claim per flag, the strongest wins, all are kept.
        (
            "81.2.69.200",
            20712,
            "tor_exit",
            "confirmed",
            "Andrews & Arnold (invented VPN label)",
            [
                "maxmind-anon:is_tor_exit_node (81.2.69.192/28; GeoIP2-Anonymous-IP 2026-01-01)",
                "asn-list:AS20712 vpn (Andrews & Arnold (invented VPN label); whole AS)",
                "ip-list:vpn-list.txt vpn (81.2.69.128/25)",
                "maxmind-anon:is_public_proxy (81.2.69.192/28; GeoIP2-Anonymous-IP 2026-01-01)",
            ],
        ),
        # Anonymous Plus carries provider, confidence and last seen.
        (
            "2.136.250.9",
            None,
            "vpn",
            "confirmed",
            "ExampleVPN",
            [
                "maxmind-anon:is_anonymous_vpn (2.136.250.0/24; GeoIP-Anonymous-Plus 2026-01-01; "
                "provider ExampleVPN; confidence 99; last seen 2026-09-01)",
                "maxmind-anon:is_anonymous_vpn (2.136.250.0/24; GeoIP2-Anonymous-IP 2026-01-01)",
            ],
        ),
        # An empty record is "not listed", not a verdict.
        ("175.167.99.1", None, "none_known", None, None, None),
        # iCloud Private Relay is a relay even though the VPN list has it too.
        (
            "2.137.200.1",
            None,
            "privacy_relay",
            "confirmed",
            "iCloud Private Relay",
            [
                "icloud-relay:privacy_relay ES ES-MD Madrid (2.137.200.0/24)",
                "ip-list:vpn-list.txt vpn (2.137.200.0/24)",
            ],
        ),
        # Most specific network wins: EC2's /30 inside AMAZON's /29.
        (
            "216.160.83.57",
            None,
            "hosting",
            "confirmed",
            "AWS",
            ["aws:hosting us-west-2 EC2 (216.160.83.56/30)"],
        ),
        # Residential proxy outranks the hosting of the enclosing AWS network.
        (
            "216.160.83.61",
            None,
            "residential_proxy",
            "confirmed",
            "AWS",
            [
                "maxmind-anon:is_residential_proxy "
                "(216.160.83.60/30; GeoIP2-Anonymous-IP 2026-01-01)",
                "aws:hosting us-west-2 AMAZON (216.160.83.56/29)",
            ],
        ),
        # Azure: the regional tag names the same network as AzureCloud.
        (
            "175.45.177.3",
            None,
            "hosting",
            "confirmed",
            "Azure",
            ["azure:hosting koreacentral AzureCloud.koreacentral (175.45.177.0/24)"],
        ),
        # A whole AS in the ASN list alone is only suspected.
        (
            "81.2.69.5",
            20712,
            "vpn",
            "suspected",
            "Andrews & Arnold (invented VPN label)",
            ["asn-list:AS20712 vpn (Andrews & Arnold (invented VPN label); whole AS)"],
        ),
        # IPv6: a list network, a geofeed relay and a Tor OR address (suspected).
        (
            "2a02:9000:bb::1",
            None,
            "vpn",
            "suspected",
            None,
            ["ip-list:vpn-list.txt vpn (2a02:9000:bb::/48)"],
        ),
        (
            "2a02:9000:cc::1",
            None,
            "privacy_relay",
            "confirmed",
            "iCloud Private Relay",
            ["icloud-relay:privacy_relay ES ES-AN Seville (2a02:9000:cc::/48)"],
        ),
        (
            "2a02:9000:aa::30",
            None,
            "tor_exit",
            "suspected",
            "Tor",
            [
                "tor-exits:onionoo or_address of an exit relay "
                "(relay invented1, seen 2026-09-01..2026-09-14)"
            ],
        ),
        (
            "2408:8200:ff::9",
            None,
            "public_proxy",
            "confirmed",
            None,
            ["maxmind-anon:is_public_proxy (2408:8200:ff::/48; GeoIP2-Anonymous-IP 2026-01-01)"],
        ),
        ("185.220.101.20", None, "tor_exit", "confirmed", "Tor", ["tor-exits:bulk-list"]),
        (
            "185.220.101.31",
            None,
            "tor_exit",
            "confirmed",
            "Tor",
            ["tor-exits:onionoo exit_address (relay invented1, seen 2026-09-01..2026-09-14)"],
        ),
        # A relay that is not an exit is not a Tor exit.
        ("185.220.101.40", None, "none_known", None, None, None),
        ("175.167.1.2", 4837, "none_known", None, None, None),
    ],
)
def test_verdict_precedence_confidence_and_evidence(
    everything, ip, asn, category, confidence, provider, evidence
):
    row = verdicts(
        everything,
        [ip],
        **{S.ASN: pl.Series([asn], dtype=pl.Int64), S.FIRST_SEEN: [T0], S.LAST_SEEN: [T0]},
    )[ip]
    assert row[S.ANONYMIZER] == category
    assert row[S.ANONYMIZER_CONFIDENCE] == confidence
    assert row[S.ANONYMIZER_PROVIDER] == provider
    assert row[S.ANONYMIZER_EVIDENCE] == evidence


def test_ipv4_mapped_and_plain_addresses_get_the_same_verdict(everything):
    out = verdicts(
        everything,
        ["2.137.200.1", "::ffff:2.137.200.1"],
        **{S.FIRST_SEEN: [T0] * 2, S.LAST_SEEN: [T0] * 2},
    )
    a, b = out["2.137.200.1"], out["::ffff:2.137.200.1"]
    assert a[S.ANONYMIZER] == b[S.ANONYMIZER] == "privacy_relay"
    assert a[S.ANONYMIZER_EVIDENCE] == b[S.ANONYMIZER_EVIDENCE]


@pytest.mark.parametrize(
    ("first", "last", "is_tor"),
    [
        (T0 - timedelta(days=3), T0 - timedelta(days=2), False),  # before the window
        (T0, T0 + timedelta(hours=1), True),  # 30 min from the measurement
        (T0 + timedelta(days=1, hours=9), T0 + timedelta(days=1, hours=10), False),  # 25 h after
        (T0 - timedelta(days=5), T0 + timedelta(days=5), True),  # spans it
    ],
    ids=["before", "inside", "after", "spanning"],
)
def test_tordnsel_counts_only_near_the_measured_time(first, last, is_tor):
    sources = AnonymizerSources.load(tor_exits=[ANON / "exit-addresses"])
    row = verdicts(sources, ["185.220.101.7"], **{S.FIRST_SEEN: [first], S.LAST_SEEN: [last]})[
        "185.220.101.7"
    ]
    assert (row[S.ANONYMIZER] == "tor_exit") is is_tor
    if is_tor:
        assert row[S.ANONYMIZER_EVIDENCE] == ["tor-exits:exit-addresses (2026-09-14 08:30Z)"]


def test_tor_slack_is_configurable():
    narrow = AnonymizerSources.load(
        tor_exits=[ANON / "exit-addresses"], tor_slack=timedelta(minutes=10)
    )
    at = T0 + timedelta(minutes=45)
    row = verdicts(narrow, ["185.220.101.7"], **{S.FIRST_SEEN: [at], S.LAST_SEEN: [at]})
    assert row["185.220.101.7"][S.ANONYMIZER] == "none_known"


def test_list_comments_blank_lines_and_trailing_text(tmp_path):
    p = write(
        tmp_path,
        "l.txt",
        "\n# header\n   \n175.167.5.5   # one host\n2408:8200:1::/48 some label\n",
    )
    sources = AnonymizerSources.load(ip_lists=[("proxy", p)])
    assert sources.infos[0].entries == 2
    out = verdicts(sources, ["175.167.5.5", "175.167.5.6", "2408:8200:1::7"])
    assert [out[ip][S.ANONYMIZER] for ip in out] == ["public_proxy", "none_known", "public_proxy"]


def test_misp_category_from_its_name_or_from_the_user(tmp_path):
    assert load_ip_list(ANON / "misp-vpn.json").info.category == "vpn"
    assert load_ip_list(ANON / "misp-vpn.json", category="hosting").info.category == "hosting"
    other = write(tmp_path, "aws.json", json.dumps({"name": "Amazon AWS", "list": ["1.2.3.0/24"]}))
    with pytest.raises(SourceError, match="give its category"):
        load_ip_list(other)


def test_sources_dir_finds_files_by_their_usual_names(tmp_path, anon_dbs, city_db):
    for name in ("exit-addresses", "ip-ranges.json", "egress-ip-ranges.csv", "asn-list.csv"):
        shutil.copy(ANON / name, tmp_path / name)
    shutil.copy(anon_dbs["anonymous-ip"], tmp_path / "GeoIP2-Anonymous-IP.mmdb")
    shutil.copy(city_db, tmp_path / "GeoLite2-City.mmdb")  # not a source: ignored
    (tmp_path / "lists" / "vpn").mkdir(parents=True)
    shutil.copy(ANON / "vpn-list.txt", tmp_path / "lists" / "vpn" / "x4b.txt")
    sources = AnonymizerSources.load(sources_dir=tmp_path)
    assert sorted((i.name, i.category) for i in sources.infos) == [
        ("asn-list", None),
        ("aws", "hosting"),
        ("icloud-relay", "privacy_relay"),
        ("ip-list", "vpn"),
        ("maxmind-anon", None),
        ("tor-exits", "tor_exit"),
    ]
    assert sources.needs_asn


def test_no_sources_no_verdicts():
    sources = AnonymizerSources.load()
    assert not sources
    out = verdicts(sources, ["2.137.200.1", "junk"])
    assert out["2.137.200.1"][S.ANONYMIZER] is None
    assert out["junk"][S.ANONYMIZER_EVIDENCE] is None


def test_stale_source_warns(tmp_path):
    sources = AnonymizerSources.load(tor_exits=[ANON / "exit-addresses"])
    last_year = datetime(2025, 9, 1, tzinfo=UTC)
    (warning,) = stale_sources(sources, last_year, last_year + timedelta(days=1))
    assert warning.startswith(f"{ANON / 'exit-addresses'}: its data (2026-09-14) is 377 days after")
    assert stale_sources(sources, T0, T0) == []


# --- the range join against a naive scan ----------------------------------------------------


def _networks() -> st.SearchStrategy[list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    v4 = st.builds(
        lambda a, n: ipaddress.ip_network(f"{ipaddress.IPv4Address(a)}/{n}", strict=False),
        st.integers(0, 2**32 - 1),
        st.integers(0, 32),
    )
    v6 = st.builds(
        lambda a, n: ipaddress.ip_network(f"{ipaddress.IPv6Address(a)}/{n}", strict=False),
        st.integers(0, 2**128 - 1),
        st.integers(1, 128),
    )
    return st.lists(st.one_of(v4, v6), min_size=1, max_size=25, unique=True)


@settings(max_examples=60, deadline=None)
@given(
    nets=_networks(),
    picks=st.lists(
        st.tuples(st.integers(0, 24), st.integers(0, 2**128 - 1)), min_size=1, max_size=30
    ),
    randoms=st.lists(st.integers(0, 2**32 - 1), max_size=10),
)
def test_range_join_equals_naive_most_specific_scan(tmp_path_factory, nets, picks, randoms):
    path = tmp_path_factory.mktemp("prop") / "nets.txt"
    path.write_text("".join(f"{n}\n" for n in nets), encoding="utf-8")
    sources = AnonymizerSources.load(ip_lists=[("vpn", path)])
    ips: list[str] = []
    for i, offset in picks:  # addresses inside (and at the edges of) the networks
        net = nets[i % len(nets)]
        ips.append(str(net.network_address + offset % net.num_addresses))
        ips.append(str(net.broadcast_address))
    ips += [str(ipaddress.IPv4Address(r)) for r in randoms]
    ips = sorted(set(ips))
    got = verdicts(sources, ips)

    # IPv4 lives in the IPv4-mapped IPv6 space (::ffff:a.b.c.d), whichever way it is written.
    def span(n):
        lo, hi = int(n.network_address), int(n.broadcast_address)
        return (lo | 0xFFFF << 32, hi | 0xFFFF << 32) if n.version == 4 else (lo, hi)

    def key(a):
        return int(a) | 0xFFFF << 32 if a.version == 4 else int(a)

    for ip in ips:
        k = key(ipaddress.ip_address(ip))
        holding = [n for n in nets if span(n)[0] <= k <= span(n)[1]]
        if not holding:
            assert got[ip][S.ANONYMIZER_EVIDENCE] is None, ip
            continue
        # Most specific first; the same span written twice: the first evidence by sort.
        labels = sorted(
            (span(n)[1] - span(n)[0], f"ip-list:nets.txt vpn ({_show(n)})") for n in holding
        )
        assert got[ip][S.ANONYMIZER_EVIDENCE] == [labels[0][1]], ip


def test_address_keys_put_ipv4_in_the_mapped_space():
    keys = address_keys(
        pl.Series(["0.0.0.0", "255.255.255.255", "::ffff:1.2.3.4", "::", "x", None])
    )
    assert keys.to_list() == [
        0xFFFF << 32,
        (0xFFFF << 32) | 0xFFFFFFFF,
        (0xFFFF << 32) | 0x01020304,
        0,
        None,
        None,
    ]


def test_residential_proxy_database_lists_only_residential_proxies(anon_dbs):
    records = json.loads((ANON / "residential-proxy.json").read_text())
    ((cidr, record),) = records.items()
    sources = AnonymizerSources.load(anon_db=[anon_dbs["residential-proxy"]])
    inside = str(ipaddress.ip_network(cidr).network_address + 9)
    out = verdicts(sources, [inside, "2.137.67.1"])
    assert out[inside][S.ANONYMIZER] == "residential_proxy"
    assert out[inside][S.ANONYMIZER_PROVIDER] == record["provider_name"]
    assert out[inside][S.ANONYMIZER_EVIDENCE] == [
        f"maxmind-anon:residential_proxy ({cidr}; GeoIP-Residential-Proxy 2026-01-01; "
        f"provider {record['provider_name']}; confidence {record['anonymizer_confidence']}; "
        f"last seen {record['network_last_seen']})"
    ]
    assert out["2.137.67.1"][S.ANONYMIZER] == "none_known"


def test_notebook_aggregate_groups_enriched_rows_by_verdict(everything):
    from loganalyzer.analysis.aggregate import aggregate

    rows = pl.DataFrame(
        {
            S.CLIENT: ["2.137.200.1", "2.137.200.1", "175.167.1.2"],
            S.CLIENT_IP: ["2.137.200.1", "2.137.200.1", "175.167.1.2"],
            S.TS: [T0, T0, T0],
            S.STATUS: [200, 200, 404],
            S.BYTES: [1, 2, 3],
        }
    )
    enriched = classify(rows, everything)
    out = aggregate(enriched, by=["anonymizer"])
    got = {
        r[S.ANONYMIZER]: (
            r[S.REQUESTS],
            r[S.REQUESTS_DIRECT],
            r[S.REQUESTS_ANONYMIZED],
            r["requests_privacy_relay"],
            r["requests_vpn"],
        )
        for r in out.iter_rows(named=True)
    }
    assert got == {"privacy_relay": (2, 0, 2, 2, 0), "none_known": (1, 1, 0, 0, 0)}


def test_parsed_sources_are_cached_by_content(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    src = write(tmp_path, "list.txt", "175.167.5.0/24\n")
    first = AnonymizerSources.load(ip_lists=[("vpn", src)], cache_dir=cache)
    (entry,) = cache.glob("*.parquet")
    assert entry.name.startswith(first.infos[0].sha256)
    # The same file copied elsewhere: read from the cache, described as the copy.
    (tmp_path / "copy").mkdir()
    other = write(tmp_path / "copy", "list.txt", src.read_text())
    monkeypatch.setenv("LOGANALYZER_CACHE_DIR", str(cache))
    again = AnonymizerSources.load(ip_lists=[("vpn", other)])
    assert list(cache.glob("*.parquet")) == [entry]
    assert again.infos[0].path == str(other)
    assert again.loaded[0].ranges.equals(first.loaded[0].ranges)
    # The cached table is what is used: prove it by planting a different one. The
    # verdicts merged from it (made on another thread, then kept beside it) are
    # removed first: they are keyed by the entries' names, which planting keeps.
    verdicts(again, ["175.167.5.1"])  # waits for that thread
    for merged in cache.rglob("*.parquet"):
        if merged.parent != cache:
            merged.unlink()
    planted = first.loaded[0].ranges.with_columns(pl.lit("planted").alias("evidence"))
    meta = pl.read_parquet_metadata(entry)
    planted.write_parquet(entry, metadata=meta)
    hit = AnonymizerSources.load(ip_lists=[("vpn", other)])
    assert verdicts(hit, ["175.167.5.1"])["175.167.5.1"][S.ANONYMIZER_EVIDENCE] == ["planted"]
    # An edited file has another hash, so it is parsed afresh.
    other.write_text("175.167.6.0/24\n", encoding="utf-8")
    fresh = AnonymizerSources.load(ip_lists=[("vpn", other)])
    assert verdicts(fresh, ["175.167.6.1"])["175.167.6.1"][S.ANONYMIZER] == "vpn"
    assert len(list(cache.glob("*.parquet"))) == 2


def test_merged_verdicts_are_made_ahead_on_another_thread(tmp_path, monkeypatch):
    vpn = write(tmp_path, "vpn.txt", "175.167.5.0/24\n2408:8200::/32\n")
    exits = write(tmp_path, "torbulkexitlist", "175.167.5.9\n")
    ips = ["175.167.5.1", "175.167.5.9", "2408:8200::1", "8.8.8.8", "x"]
    ahead = AnonymizerSources.load(ip_lists=[("vpn", vpn)], tor_exits=[exits])
    assert ahead._ahead is not None  # made while the log is read
    got = verdicts(ahead, ips)
    assert ahead._ahead is None
    in_place = AnonymizerSources(ahead.loaded)  # built directly: made when first needed
    assert in_place._ahead is None
    assert verdicts(in_place, ips) == got
    assert got["175.167.5.9"][S.ANONYMIZER] == "tor_exit"

    def broken(sources):
        raise RuntimeError("made ahead, and failed")

    # What goes wrong on the other thread is raised where the verdicts are needed.
    monkeypatch.setattr(sources_module, "_make_merged", broken)
    failing = AnonymizerSources.load(ip_lists=[("vpn", vpn)])
    with pytest.raises(RuntimeError, match="made ahead, and failed"):
        verdicts(failing, ips)


def test_sources_read_two_at_a_time_come_in_order_and_the_first_error_wins(tmp_path):
    # Sources are read on two threads: what is loaded, and which error is
    # raised when several files are bad, is as when they were read in turn.
    good = [write(tmp_path, f"good{i}.txt", f"175.167.{i}.0/24\n") for i in range(5)]
    bad = [write(tmp_path, f"bad{i}.txt", "175.167.9.0/24\nnot-an-ip\n") for i in range(2)]
    loaded = AnonymizerSources.load(ip_lists=[("vpn", p) for p in good])
    assert [i.path for i in loaded.infos] == [str(p) for p in good]
    for order in ([good[0], bad[1], good[1], bad[0]], [bad[0], *good, bad[1]]):
        with pytest.raises(SourceError) as caught:
            AnonymizerSources.load(ip_lists=[("vpn", p) for p in order])
        first_bad = next(p for p in order if p in bad)
        assert (
            str(caught.value)
            == f"{first_bad}: line 2: 'not-an-ip' is not an address or network (CIDR)"
        )


def test_merged_verdicts_are_kept_once_the_lists_come_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    vpn = write(tmp_path, "vpn.txt", "175.167.5.0/24\n2408:8200::/32\n")
    hosting = write(tmp_path, "hosting.txt", "175.167.0.0/16\n")
    exits = write(tmp_path, "torbulkexitlist", "175.167.5.9\n")

    def load(cache_dir: Path | str = cache) -> AnonymizerSources:
        return AnonymizerSources.load(
            ip_lists=[("vpn", vpn), ("hosting", hosting)], tor_exits=[exits], cache_dir=cache_dir
        )

    ips = ["175.167.5.1", "175.167.5.9", "175.167.9.9", "2408:8200::1", "8.8.8.8", "x"]
    merged = cache / "merged"
    first = verdicts(load(), ips)  # the lists are parsed: nothing merged is kept
    assert not merged.exists()
    assert verdicts(load(), ips) == first  # the lists from the cache: kept
    (kept,) = merged.glob("*.parquet")
    assert verdicts(load(), ips) == first  # and read back
    assert verdicts(load(""), ips) == first
    # What is kept is what is used: prove it by planting another verdict.
    table = pl.read_parquet(kept)
    table.with_columns(pl.lit(["planted"]).alias(S.ANONYMIZER_EVIDENCE)).write_parquet(kept)
    assert verdicts(load(), ips)["175.167.9.9"][S.ANONYMIZER_EVIDENCE] == ["planted"]
    # A damaged entry is made again; another version of a list has its own.
    kept.write_bytes(b"not parquet")
    assert verdicts(load(), ips) == first
    assert pl.read_parquet(kept).equals(table)
    hosting.write_text("8.8.8.0/24\n", encoding="utf-8")
    assert verdicts(load(), ips)["8.8.8.8"][S.ANONYMIZER] == "hosting"  # parsed afresh
    assert verdicts(load(), ips)["8.8.8.8"][S.ANONYMIZER] == "hosting"  # kept anew
    assert len(list(merged.glob("*.parquet"))) == 2


def test_tordnsel_file_without_exits_is_empty_not_an_error(tmp_path):
    p = write(tmp_path, "exit-addresses", "@type tordnsel 1.0\nDownloaded 2026-09-14 12:00:00\n")
    src = load_tor(p)
    assert (src.info.kind, src.info.entries) == ("tordnsel", 0)


def test_anon_db_of_home_made_types_still_gives_verdicts(tmp_path):
    # provider_name as a number: MaxMind's schema cannot decode it, so the
    # vectorised pre-filter gives up and every address goes to the reference reader.
    records = {
        "81.2.69.0/24": {"provider_name": 7},
        "2.136.0.0/16": {"note": "a field of its own"},
        "175.167.99.0/24": {},
    }
    odd = make_mmdb(tmp_path / "odd.mmdb", "GeoIP-Residential-Proxy", records)
    records["81.2.69.0/24"] = {"provider_name": "seven"}
    usual = make_mmdb(tmp_path / "usual.mmdb", "GeoIP-Residential-Proxy", records)
    ips = ["81.2.69.5", "2.136.9.9", "2.136.200.1", "175.167.99.1", "8.8.8.8"]
    for db, provider in ((odd, "7"), (usual, "seven")):
        out = verdicts(AnonymizerSources.load(anon_db=[db]), ips)
        assert out["81.2.69.5"][S.ANONYMIZER] == "residential_proxy"
        assert out["81.2.69.5"][S.ANONYMIZER_PROVIDER] == provider
        # A record of unknown fields still says "listed"; two clients of one
        # network get that network's evidence, each on its own row.
        for ip in ("2.136.9.9", "2.136.200.1"):
            assert out[ip][S.ANONYMIZER] == "residential_proxy"
            assert out[ip][S.ANONYMIZER_EVIDENCE][0].startswith(
                "maxmind-anon:residential_proxy (2.136.0.0/16; GeoIP-Residential-Proxy"
            )
        # An empty record lists nothing, and neither does a miss.
        assert out["175.167.99.1"][S.ANONYMIZER] == "none_known"
        assert out["8.8.8.8"][S.ANONYMIZER] == "none_known"


# --- networks read quickly ----------------------------------------------------------------

_anon_module = importlib.import_module("loganalyzer.anonymity.networks")


def _by_ipaddress(text: str):
    net = _anon_module._network(text)
    return (*_anon_module._net_range(net), _anon_module._show(net))


# Plain IPv4 networks as lists write them, and near misses.
_V4_TEXTS = st.builds(
    lambda ip, p, form: form(ip, p),
    st.ip_addresses(v=4),
    st.integers(min_value=0, max_value=32),
    st.sampled_from(
        [
            lambda ip, p: f"{ip}/{p}",
            lambda ip, p: str(ip),
            lambda ip, p: f" {ip}/{p}\t",
            lambda ip, p: f"{ip}/0{p}",
            lambda ip, p: f"0{ip}/{p}",
            lambda ip, p: f"{ip}/{p + 1}",
        ]
    ),
)


@given(
    st.one_of(
        _V4_TEXTS,
        st.ip_addresses(v=6).map(str),
        st.text(alphabet="0123456789./:abcdef ", max_size=20),
    )
)
def test_plain_ipv4_networks_read_as_ipaddress_reads_them(text):
    try:
        want = _by_ipaddress(text)
    except ValueError as exc:
        # Not a network: the same error, from ipaddress itself.
        with pytest.raises(ValueError, match=re.escape(str(exc))):
            _anon_module._cidr(text)
        return
    assert _anon_module._cidr(text) == want


_NETWORK_TEXTS = st.one_of(
    _V4_TEXTS,
    st.ip_addresses(v=6).map(str),
    # IPv6 networks as lists write them: compressed, exploded, upper case, with
    # prefixes short, long, zero-padded and too long; IPv4-mapped ones.
    st.deferred(
        lambda: st.tuples(
            st.lists(_HEXTET, min_size=8, max_size=8),
            st.sampled_from(["short", "exploded", "upper"]),
            st.one_of(st.none(), st.integers(0, 140), st.sampled_from(["064", "0", "00128"])),
        ).map(_v6_network_text)
    ),
    st.sampled_from(["::ffff:102:300/120", "::ffff:0:0/95", "2001:db8::/129", " 2001:db8::/32 "]),
    st.sampled_from(["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3", "١.٢.٣.٤"]),
    # Prefixes and addresses at the edge of the plain forms.
    st.sampled_from(
        [
            *("1.2.3.4/08", "1.2.3.4/00", "1.2.3.4/+8", "1.2.3.4/", "1.2.3.4/5/6", "1.2.3.4/33"),
            *("1::1.2.3.4", "::ffff:1.2.3.4/128", "::ffff:0:0/96", "::1.2.3.4", "1.2.3.4\x00"),
            *("\u20001.2.3.4", "1.2.3.4/ 8"),
        ]
    ),
    st.text(alphabet="0123456789./:abcdef", min_size=1, max_size=20),
)


@pytest.mark.parametrize("native_on", ["1", "0"])
@settings(max_examples=300, deadline=None)
@given(texts=st.lists(_NETWORK_TEXTS, max_size=30))
def test_networks_read_all_at_once_as_one_by_one(native_on, texts):
    # _cidrs reads plain networks all at once (with or without the native
    # module, which reads IPv6 too), the rest with _cidr.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOGANALYZER_NATIVE", native_on)
        _networks_read_all_at_once_as_one_by_one(texts)


def _networks_read_all_at_once_as_one_by_one(texts):
    want, bad = [], None
    for i, text in enumerate(texts):
        try:
            want.append(_anon_module._cidr(text))
        except ValueError:
            bad = i
            break
    if bad is not None:
        with pytest.raises(_anon_module._NotANetwork) as caught:
            _anon_module._cidrs(texts)
        assert caught.value.index == bad
        return
    got = _anon_module._cidrs(texts)
    assert list(got.iter_rows()) == want


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(_NETWORK_TEXTS, st.sampled_from(["vpn", "tor"]), st.integers(0, 2)),
        max_size=30,
    )
)
def test_flattening_a_frame_is_the_sweep(items):
    entries = []
    for text, cat, rank in items:
        try:
            lo, hi, shown = _anon_module._cidr(text)
        except ValueError:
            continue
        entries.append(_anon_module._Entry(lo, hi, cat, f"{cat} ({shown})", None, rank == 1, rank))
    frame = pl.DataFrame(
        [tuple(e.__dict__[c] for c in _anon_module._ENTRY_COLUMNS) for e in entries],
        schema={
            "start": pl.UInt128,
            "end": pl.UInt128,
            "category": pl.String,
            "evidence": pl.String,
            "provider": pl.String,
            "confirmed": pl.Boolean,
            "rank": pl.Int64,
        },
        orient="row",
    )
    assert_frame_equal(_anon_module._flatten_frame(frame), _flatten_model(entries))
    assert_frame_equal(_anon_module._flatten(entries), _flatten_model(entries))


def _flatten_model(entries: Iterable[Any]) -> pl.DataFrame:
    """The sweep written plainly, over entries: the model of ``_flatten_frame``."""
    best: dict[tuple[int, int], Any] = {}
    for e in entries:
        key = (e.start, e.end)
        if key not in best or (e.rank, e.evidence) < (best[key].rank, best[key].evidence):
            best[key] = e
    ordered = sorted(best.values(), key=lambda e: (e.start, -e.end))
    out: list[tuple[int, int, Any]] = []
    stack: list[Any] = []
    cursor = 0

    def close_until(limit: int | None) -> None:
        nonlocal cursor
        while stack and (limit is None or stack[-1].end < limit):
            top = stack.pop()
            if cursor <= top.end:
                out.append((cursor, top.end, top))
            cursor = top.end + 1

    for e in ordered:
        close_until(e.start)
        if stack and cursor < e.start:
            out.append((cursor, e.start - 1, stack[-1]))
        stack.append(e)
        cursor = e.start
    close_until(None)
    return pl.DataFrame(
        {
            "start": [a for a, _, _ in out],
            "end": [b for _, b, _ in out],
            "category": [e.category for _, _, e in out],
            "evidence": [e.evidence for _, _, e in out],
            "provider": [e.provider for _, _, e in out],
            "confirmed": [e.confirmed for _, _, e in out],
        },
        schema=_anon_module._RANGE_SCHEMA,
    )


_NETS = st.one_of(
    st.tuples(st.integers(0, 255), st.sampled_from([16, 20, 22, 24, 28, 32])).map(
        lambda t: str(ipaddress.ip_network(f"10.0.{t[0]}.0/{t[1]}", strict=False))
    ),
    st.sampled_from(["::/0", "0.0.0.0/0", "2001:db8::/32", "10.0.0.0/8"]),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(_NETS, min_size=1, max_size=8), min_size=1, max_size=3),
    st.lists(st.integers(0, 255).map(lambda n: f"10.0.{n}.{n % 7}"), max_size=6),
    st.lists(
        st.sampled_from(
            [
                "10.0.1.1",
                "10.0.1.0",
                "10.0.255.255",
                "10.1.0.0",
                "8.8.8.8",
                "::1",
                "2001:db8::5",
                "10.0.3.3",
                "0.0.0.0",
                "-",
                "x",
            ]
        )
        | st.integers(0, 255).map(lambda n: f"10.0.{n}.{(n * 37) % 256}"),
        min_size=1,
        max_size=25,
    ),
)
def test_the_verdict_of_each_piece_is_that_of_each_address(lists, exits, clients):
    """A run with only lists and undated exits judges from pieces made once (_merged);
    an ASN list that lists nothing sends the same clients through every source instead.
    Asked for the category alone, both give the same."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # An actor type among them: its verdict beside the category, not instead.
        cats = ["vpn", "scanner", "hosting", "crawler"]
        pairs = []
        for i, nets in enumerate(lists):
            pairs.append((cats[i], write(folder, f"l{i}.txt", "\n".join(nets) + "\n")))
        tor = write(folder, "torbulkexitlist", "".join(f"{x}\n" for x in exits + exits[:1]))
        asn = write(folder, "asn-list.csv", "64512,hosting,nobody\n")
        quick = AnonymizerSources.load(ip_lists=pairs, tor_exits=[tor] if exits else [])
        every = AnonymizerSources.load(
            ip_lists=pairs, tor_exits=[tor] if exits else [], asn_list=asn
        )
        frame = pl.DataFrame({S.CLIENT_IP: [None if c in "-x" else c for c in clients]})
        got = classify(frame, quick)
        assert quick._merged is not None
        assert every._merged is None
        assert_frame_equal(got, classify(frame, every))
        # The category alone (a report by place) is the same verdict, by either way.
        for sources in (quick, every):
            alone = classify(frame, sources, evidence=False)
            assert alone.columns == [S.CLIENT_IP, S.ANONYMIZER, S.ACTOR_TYPE]
            assert_frame_equal(alone, got.select(S.CLIENT_IP, S.ANONYMIZER, S.ACTOR_TYPE))
        # A source added after a verdict is not left out by the pieces made before.
        extra = write(folder, "extra.txt", "0.0.0.0/0\n::/0\n")
        quick.loaded.append(load_ip_list(extra, category="privacy_relay"))
        fresh = AnonymizerSources.load(
            ip_lists=[*pairs, ("privacy_relay", extra)], tor_exits=[tor] if exits else []
        )
        assert_frame_equal(classify(frame, quick), classify(frame, fresh))


def _v6_network_text(parts: tuple[list[int], str, int | str | None]) -> str:
    groups, form, prefix = parts
    address = ipaddress.IPv6Address(sum(g << (112 - 16 * i) for i, g in enumerate(groups)))
    text = address.exploded if form == "exploded" else str(address)
    text = text.upper() if form == "upper" else text
    return text if prefix is None else f"{text}/{prefix}"


_HEXTET = st.one_of(st.just(0), st.just(0), st.integers(0, 15), st.integers(0, 0xFFFF))


@settings(max_examples=500)
@given(
    st.one_of(
        st.text(alphabet="0123456789abcdefABCDEF:/ ", max_size=45),
        st.tuples(
            st.lists(_HEXTET, min_size=8, max_size=8),
            st.sampled_from(["short", "exploded", "upper"]),
            st.one_of(st.none(), st.integers(0, 140), st.sampled_from(["064", "0", "00128"])),
        ).map(_v6_network_text),
    )
)
@example("::ffff:102:300/120")  # IPv4-mapped: shown as 1.2.3.0/24
@example("0:0:0:0:0:FFFF:0102:0304")
@example("::ffff:0:0/95")
@example("2001:db8::/129")
@example("1:0:0:2:0:0:0:3/128")
def test_plain_ipv6_networks_read_without_ipaddress_as_with_it(text: str) -> None:
    # Lists hold thousands of IPv6 networks, which ipaddress reads at 37 us
    # each: plain ones are read with inet_pton and written as ipaddress writes
    # them; anything the fast way declines still goes to ipaddress.
    fast = anonymizers._v6_cidr(text)
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        assert fast is None
        return
    if fast is not None:
        assert fast == (*anonymizers._net_range(net), _show(net))
    assert anonymizers._cidr(text) == (*anonymizers._net_range(net), _show(net))


@settings(max_examples=500)
@given(
    st.one_of(
        st.tuples(st.integers(0, (1 << 128) - 1), st.integers(0, 128)),
        # IPv4-mapped networks and their edges, which _show writes as IPv4.
        st.tuples(
            st.integers(0, (1 << 32) - 1).map(lambda v: 0xFFFF << 32 | v), st.integers(90, 128)
        ),
    )
)
@example((0xFFFF << 32 | 0x01020300, 120))
@example((0xFFFF << 32, 96))
@example((0xFFFF << 32, 95))
@example((0, 0))
def test_an_ipv6_network_is_written_as_ipaddress_writes_it(net: tuple[int, int]) -> None:
    # --anon-db writes the network of every listed IPv6 client into its evidence.
    value, length = net
    network = ipaddress.IPv6Network((value, length), strict=False)
    assert anonymizers._v6_shown(int(network.network_address), length) == _show(network)


_LIST_PIECES = st.sampled_from(
    ["175.167.5.0/24", "10.0.0.1", "2408:8200::/32", "::ffff:1.2.3.0/120", "not-an-ip",
     "1.2.3.4,CN", " ", "\t", "#", "# note", "\n", "\r\n", "\r", "\x0b", "\x1c", "\x1f", ",",
     "é", "\u2028"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_LIST_PIECES, max_size=25).map("".join))
def test_plain_lists_split_by_polars_as_by_python(tmp_path_factory, text):
    # Lines are split in Polars when Python would split them the same (ASCII,
    # spaces and tabs, LF or CRLF); anything else takes the Python way.
    path = tmp_path_factory.mktemp("lists") / "list.txt"
    path.write_bytes(text.encode())

    def outcome():
        try:
            loaded = load_ip_list(path, category="vpn")
        except SourceError as exc:
            return str(exc)
        return loaded.info.entries, loaded.info.kind, loaded.ranges.rows()

    fast = outcome()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ip_lists_module, "_kept_lines", lambda text: None)
        assert fast == outcome()
