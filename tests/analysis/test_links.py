"""Linked access: planted actors found, decoys and background users kept apart."""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from links_scenario import COMMON_AGENTS, Scenario, common_clients, make_scenario

from loganalyzer.analysis.link_graph import (
    LinkRules,
    components,
    link,
    path_evidence,
    rarity,
    timing_evidence,
    value_evidence,
)
from loganalyzer.analysis.links import Links, find_links
from loganalyzer.anonymity.sources import AnonymizerSources
from loganalyzer.errors import UsageError


def sources_of(s: Scenario) -> AnonymizerSources:
    return AnonymizerSources.load(
        ip_lists=(f"vpn={s.vpn_list}",), tor_exits=(str(s.tor_list),), cache_dir=""
    )


def clusters(found: Links) -> list[frozenset[str]]:
    return [frozenset(c.clients["ip"].to_list()) for c in found.clusters]


def run(s: Scenario, geo_dbs: dict[str, Path], log: Path | None = None, **kw) -> Links:
    return find_links(
        [log or s.log], city_db=geo_dbs["city"], asn_db=geo_dbs["asn"], sources=sources_of(s), **kw
    )


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Scenario:
    return make_scenario(tmp_path_factory.mktemp("links"))


@pytest.mark.parametrize("seed", [7, 11, 2026])
def test_each_actor_is_one_cluster_without_decoys(tmp_path, geo_dbs, seed):
    s = make_scenario(tmp_path, seed=seed)
    found = run(s, geo_dbs)
    assert sorted(clusters(found), key=sorted) == sorted(
        (frozenset(ips) for ips in s.actors.values()), key=sorted
    )
    for ips in clusters(found):
        assert sum(bool(ips & actor) for actor in s.actors.values()) == 1, ips  # never merged
    linked = set().union(*clusters(found))
    assert not linked & s.decoys
    assert not linked & set().union(*s.background.values())


def test_every_cluster_holds_anonymized_and_unlisted_addresses(scenario, geo_dbs):
    found = run(scenario, geo_dbs)
    for c in found.clusters:
        verdicts = set(c.clients["anonymizer"].to_list())
        assert verdicts & {"vpn", "tor_exit"}, c.summary
        assert "none_known" in verdicts, c.summary
        assert {ip in scenario.anonymized for ip in c.clients["ip"]} == {True, False}


def test_all_shows_background_users_as_their_own_pairs(scenario, geo_dbs):
    found = run(scenario, geo_dbs, show_all=True)
    got = set(clusters(found))
    for user, pair in scenario.background.items():
        assert frozenset(pair) in got, user
    assert {frozenset(ips) for ips in scenario.actors.values()} <= got
    # Mixed clusters come first.
    assert set(clusters(found)[: len(scenario.actors)]) == {
        frozenset(ips) for ips in scenario.actors.values()
    }
    assert found.meta["links"]["clusters_total"] == len(got)


def test_summary_names_evidence_exits_places_and_dates(scenario, geo_dbs):
    found = run(scenario, geo_dbs)
    by_ips = {frozenset(c.clients["ip"]): c for c in found.clusters}
    jdoe = by_ips[frozenset(scenario.actors["jdoe"])]
    assert jdoe.summary == (
        "user j.doe: 1 Tor exit (DE), 1 VPN exit (GB) and 1 address with no anonymizer "
        "known in Catalonia (ES-CT), 2026-03-01 to 2026-03-09"
    )
    reader = by_ips[frozenset(scenario.actors["reader"])]
    assert reader.summary.startswith("agent Mozilla/5.0 (X11; Linux x86_64; rv:91.0)")
    assert "1 VPN exit (SE) and 2 addresses with no anonymizer known in Liaoning (CN-LN)" in (
        reader.summary
    )
    assert {e["kind"] for e in reader.evidence.iter_rows(named=True)} == {"agent", "paths"}


def test_timing_strengthens_the_switch_with_one_agent(scenario, geo_dbs):
    found = run(scenario, geo_dbs)
    mli = next(c for c in found.clusters if "2.137.44.4" in c.clients["ip"].to_list())
    timing = mli.evidence.filter(pl.col("kind") == "timing").row(0, named=True)
    assert timing["weight"] == pytest.approx(0.4)
    assert timing["value"] == COMMON_AGENTS[2]
    assert sorted(timing["ips"]) == sorted(scenario.actors["mli"])
    assert mli.edges["weight"].to_list() == [pytest.approx(2.4)]
    # A shorter gap than the switch: the link stands on the user name alone.
    found = run(scenario, geo_dbs, gap_minutes=5)
    mli = next(c for c in found.clusters if "2.137.44.4" in c.clients["ip"].to_list())
    assert "timing" not in mli.evidence["kind"].to_list()


def test_clients_carry_verdict_place_network_and_counts(scenario, geo_dbs):
    found = run(scenario, geo_dbs)
    rows = {r["ip"]: r for r in found.rows.iter_rows(named=True)}
    vpn = rows["81.2.69.10"]
    assert (vpn["anonymizer"], vpn["country_iso"], vpn["asn"]) == ("vpn", "GB", 20712)
    direct = rows["2.136.10.5"]
    assert (direct["anonymizer"], direct["region_iso"], direct["region"]) == (
        "none_known",
        "ES-CT",
        "Catalonia",
    )
    assert direct["requests"] == 4
    assert direct["first_seen"] <= direct["last_seen"]
    assert direct["evidence"] == ["user: j.doe"]


def test_without_sources_nothing_is_mixed_and_meta_says_so(scenario, geo_dbs):
    found = find_links([scenario.log], city_db=geo_dbs["city"])
    assert found.clusters == ()
    assert any("no anonymizer sources" in w for w in found.meta["warnings"])
    found = find_links([scenario.log], show_all=True)
    assert frozenset(scenario.actors["jdoe"]) in clusters(found)
    jdoe = next(c for c in found.clusters if "2.136.10.5" in c.clients["ip"].to_list())
    assert "not checked against anonymizer sources" in jdoe.summary


def test_without_a_city_database_places_are_unknown_not_invented(scenario):
    found = find_links([scenario.log], sources=sources_of(scenario), geoip_dir=scenario.log.parent)
    jdoe = next(c for c in found.clusters if "2.136.10.5" in c.clients["ip"].to_list())
    assert jdoe.summary == (
        "user j.doe: 1 Tor exit (country unknown), 1 VPN exit (country unknown) and 1 address "
        "with no anonymizer known in an unknown place, 2026-03-01 to 2026-03-09"
    )


def test_key_field_of_a_custom_format_links(tmp_path):
    fmt = 'apache:%h %l %u %t "%r" %>s %b %{SID}C'
    t = datetime(2026, 3, 1, 8, tzinfo=UTC)
    lines = []
    for k, (ip, sid) in enumerate(
        [("81.2.69.10", "abc"), ("2.136.1.1", "abc"), ("2.136.1.2", "zzz"), ("2.136.1.3", "-")]
    ):
        stamp = (t + timedelta(minutes=k)).strftime("%d/%b/%Y:%H:%M:%S +0000")
        lines.append(f'{ip} - - [{stamp}] "GET / HTTP/1.1" 200 5 {sid}')
    log = tmp_path / "app.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = find_links([log], log_format=fmt, key="cookie_sid", show_all=True)
    assert clusters(found) == [frozenset({"81.2.69.10", "2.136.1.1"})]
    assert found.clusters[0].summary.startswith("cookie_sid abc: ")
    with pytest.raises(UsageError, match="--key cookie_nope: the log format has no such field"):
        find_links([log], log_format=fmt, key="cookie_nope")


def frame(rows: list[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["ip", "value"], orient="row")


@pytest.mark.parametrize(
    ("holders", "weight"),
    [(2, 2.0), (5, 1.6021), (20, 1.0), (21, None)],
)
def test_a_user_weighs_less_the_more_addresses_share_it(holders, weight):
    got = value_evidence(frame([(f"10.0.0.{i}", "u") for i in range(holders)]), "user", 1.0, 20)
    if weight is None:
        assert got.is_empty()
    else:
        assert got.height == holders * (holders - 1) // 2
        assert got["weight"].to_list() == [pytest.approx(weight, abs=1e-4)] * got.height


def test_rarity_is_one_for_two_and_zero_at_the_limit():
    got = pl.select(rarity(pl.Series([2, 3, 5]), 5)).to_series().to_list()
    assert got[0] == 1.0
    assert 0 < got[1] < 1
    assert got[2] == 0.0


def test_one_shared_rare_path_is_no_evidence_two_are():
    rules = LinkRules()
    one = frame([("a", "/x"), ("b", "/x")])
    assert path_evidence(one, rules).is_empty()
    two = frame([("a", "/x"), ("b", "/x"), ("a", "/y"), ("b", "/y"), ("a", "/z")])
    got = path_evidence(two, rules).row(0, named=True)
    # /x and /y weigh 2 (two holders); /z, fetched by a alone, weighs 2 too.
    assert got["weight"] == pytest.approx(4 / 6)
    assert got["value"] == "/x, /y"


def test_timing_never_makes_an_edge_alone():
    t = datetime(2026, 3, 1, 8, tzinfo=UTC)
    spans = pl.DataFrame(
        {
            "ip": ["a", "b"],
            "value": ["common agent", "common agent"],
            "first_seen": [t, t + timedelta(minutes=10)],
            "last_seen": [t + timedelta(minutes=5), t + timedelta(minutes=20)],
        }
    )
    # The agent held by more addresses than its limit: the switch alone, however heavy.
    graph = link({"agent": spans}, LinkRules(timing_weight=5.0, agent_limit=1))
    assert graph.edges.is_empty()
    # With the agent rare, it is evidence, and the switch adds to it.
    graph = link({"agent": spans}, LinkRules())
    assert graph.edges["weight"].to_list() == [pytest.approx(0.6 + 0.4)]


@pytest.mark.parametrize(
    ("a_span", "b_span", "switch"),
    [
        ((0, 10), (25, 40), "15.0"),  # a ends, b starts 15 minutes later
        ((25, 40), (0, 10), "15.0"),  # the other way round
        ((0, 10), (40, 50), "30.0"),  # exactly --gap 30 still counts...
        ((0, 10), (41, 50), None),  # ...31 minutes does not
        ((0, 30), (20, 50), None),  # overlapping spans are not a switch
    ],
)
def test_a_switch_is_one_span_ending_before_the_other_begins(a_span, b_span, switch):
    t = datetime(2026, 3, 1, 8, tzinfo=UTC)

    def at(m: int) -> datetime:
        return t + timedelta(minutes=m)

    spans = pl.DataFrame(
        {
            "ip": ["a", "b"],
            "value": ["agent", "agent"],
            "first_seen": [at(a_span[0]), at(b_span[0])],
            "last_seen": [at(a_span[1]), at(b_span[1])],
        }
    )
    got = timing_evidence(pl.DataFrame({"a": ["a"], "b": ["b"]}), spans, LinkRules())
    want = [] if switch is None else [f"switched addresses within {switch} min, same agent"]
    assert got["detail"].to_list() == want


def test_components_join_chains():
    edges = pl.DataFrame({"a": ["1", "2", "7"], "b": ["2", "3", "8"]})
    got = components(edges)
    by = dict(zip(got["ip"], got["cluster"], strict=True))
    assert by["1"] == by["2"] == by["3"] != by["7"] == by["8"]


def most_common_agent(log: Path) -> str:
    holders: dict[str, set[str]] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        ip, agent = line.split(" ", 1)[0], line.rsplit('"', 2)[-2]
        holders.setdefault(agent, set()).add(ip)
    counts = Counter({a: len(ips) for a, ips in holders.items()})
    return counts.most_common(1)[0][0]


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(count=st.integers(min_value=1, max_value=60), start=st.integers(0, 500))
def test_clients_sharing_only_the_most_common_agent_change_no_cluster(
    scenario, geo_dbs, count, start
):
    before = set(clusters(run(scenario, geo_dbs, show_all=True)))
    extra = common_clients(count, most_common_agent(scenario.log), start=start)
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "more.log"
        log.write_text(scenario.log.read_text(encoding="utf-8") + "\n".join(extra) + "\n")
        after = set(clusters(run(scenario, geo_dbs, log=log, show_all=True)))
    assert after == before
