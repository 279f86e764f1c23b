"""The linked-access swimlanes and the briefing section made from them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from links_scenario import T0, Scenario, make_scenario

from loganalyzer.analysis.links import Links, find_links
from loganalyzer.anonymity.sources import AnonymizerSources
from loganalyzer.outputs.briefing_sections import links_section
from loganalyzer.outputs.charts.links import plot_links
from tests.helpers import run_cli

HOSTILE = "<script>alert(1)</script>"


def hostile_lines() -> list[str]:
    out = []
    for k, ip in enumerate(["81.2.69.71", "2.136.78.8"]):
        stamp = (T0 + timedelta(days=3, minutes=k)).strftime("%d/%b/%Y:%H:%M:%S +0000")
        out.append(f'{ip} - {HOSTILE} [{stamp}] "GET / HTTP/1.1" 200 5 "-" "curl/8.5.0"')
    return out


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Scenario:
    return make_scenario(tmp_path_factory.mktemp("links-chart"), extra_lines=hostile_lines())


@pytest.fixture(scope="module")
def found(scenario, geo_dbs) -> Links:
    sources = AnonymizerSources.load(
        ip_lists=(f"vpn={scenario.vpn_list}",), tor_exits=(str(scenario.tor_list),), cache_dir=""
    )
    return find_links(
        [scenario.log],
        city_db=geo_dbs["city"],
        asn_db=geo_dbs["asn"],
        sources=sources,
        activity=True,
    )


def test_one_lane_per_address_grouped_by_cluster(found):
    fig = plot_links(found, watch=["ES-CT"])
    assert list(fig.get_size_inches() * fig.dpi) == [1600, 900]
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == sum(c.clients.height for c in found.clusters)
    assert [lab.split()[0] for lab in labels] == [
        f"#{c.id}" for c in found.clusters for _ in range(c.clients.height)
    ]
    watched = [lab for lab in labels if lab.endswith("[watched]")]
    assert "#1  2.136.10.5 · none known · ES-CT [watched]" in watched
    assert {lab.split()[1] for lab in watched} == {"2.136.10.5", "2.136.78.8"}


def test_activity_marks_each_hour(found):
    assert found.activity is not None
    hours = found.activity.filter(found.activity["ip"] == "2.136.10.5")
    assert hours.height == 1
    assert hours["requests"].to_list() == [4]


def test_an_empty_result_says_so(scenario):
    empty = find_links([scenario.log], activity=True)  # no sources: nothing mixed
    fig = plot_links(empty)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "No cluster of linked addresses to draw." in texts


def test_the_briefing_section_holds_each_cluster(found):
    section = links_section(found, watch=["ES-CT"])
    assert (section.id, section.heading) == ("links", "Linked access")
    summaries = [p for p in section.paragraphs if p.startswith("Cluster ")]
    assert summaries == [f"Cluster {c.id}: {c.summary}." for c in found.clusters]
    assert any("never a statement of who anyone is" in p for p in section.paragraphs)
    ((_, header, body),) = section.tables
    assert header[:2] == ["cluster", "address"]
    assert len(body) == sum(c.clients.height for c in found.clusters)
    assert len(section.images) == 1
    assert section.images[0][1].startswith(b"\x89PNG")
    assert links_section(found, charts=False).images == ()


@pytest.mark.parametrize("suffix", ["html", "md"])
def test_brief_links_adds_the_section_escaped(scenario, geo_dbs, tmp_path, suffix):
    out = tmp_path / f"briefing.{suffix}"
    r = run_cli(
        "brief", str(scenario.log), "--links", "--watch", "ES-CT", "-o", str(out),
        "--city-db", str(geo_dbs["city"]), "--asn-db", str(geo_dbs["asn"]),
        *scenario.source_args(),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    text = out.read_text(encoding="utf-8")
    assert HOSTILE not in text
    assert "Linked access" in text
    assert "Cluster 1: user j.doe" in text
    if suffix == "html":
        assert '<section id="links">' in text
        assert "user &lt;script&gt;alert(1)&lt;/script&gt;" in text
    else:
        assert "## Linked access" in text
        assert (tmp_path / "briefing_files").is_dir()


def test_a_briefing_without_links_has_no_such_section(scenario, geo_dbs, tmp_path):
    out = tmp_path / "briefing.html"
    r = run_cli(
        "brief", str(scenario.log), "-o", str(out), "--city-db", str(geo_dbs["city"]),
        *scenario.source_args(),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "Linked access" not in out.read_text(encoding="utf-8")


def test_plot_kind_links_through_the_cli(scenario, geo_dbs, tmp_path):
    out = tmp_path / "links.png"
    r = run_cli(
        "plot", str(scenario.log), "--kind", "links", "--watch", "ES", "-o", str(out),
        "--city-db", str(geo_dbs["city"]), "--asn-db", str(geo_dbs["asn"]),
        *scenario.source_args(),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert out.read_bytes().startswith(b"\x89PNG")
    assert "Wrote links chart to" in r.stderr.decode()


def test_a_table_lists_the_first_clusters_and_says_how_many_more(tmp_path):
    from loganalyzer.outputs.links import MAX_SHOWN, render_links

    lines = [
        f'{net}.0.{u}.1 - user{u} [01/Mar/2026:08:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "a"'
        for u in range(MAX_SHOWN + 3)
        for net in (10, 11)
    ]
    log = tmp_path / "users.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = find_links([log], show_all=True)
    assert len(found.clusters) == MAX_SHOWN + 3
    text = render_links(found, "table", width=120)
    assert isinstance(text, str)
    assert text.count("Cluster ") == MAX_SHOWN
    assert "3 more clusters not listed here" in text
    assert found.rows.height == 2 * (MAX_SHOWN + 3)
