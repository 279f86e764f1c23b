"""Briefings: findings say the report's numbers, the file stands alone, hostile text stays text."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from loganalyzer import schema as S
from loganalyzer.analysis.pipeline import analyze, sample_paths
from loganalyzer.outputs.briefing import GEO_CAVEATS, briefing, briefing_format
from tests.helpers import load_records, log_line, make_mmdb, run_cli

pytest.importorskip("matplotlib")

SECTIONS = ("findings", "charts", "regions", "networks", "paths", "agents", "provenance", "caveats")


@pytest.fixture(scope="module")
def sample_html(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("brief") / "briefing.html"
    proc = run_cli(
        "brief",
        "--sample",
        "--watch",
        "CN-LN",
        "--watch",
        "ES",
        "--watch",
        "FR",
        "--tz",
        "Asia/Shanghai",
        "-o",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert f"Wrote html briefing to {out}" in proc.stderr.decode()
    return out.read_text(encoding="utf-8")


def findings_of(doc: str) -> list[str]:
    block = doc.split('<section id="findings">', 1)[1].split("</section>", 1)[0]
    return [html.unescape(x) for x in re.findall(r"<li>(.*?)</li>", block)]


def test_html_briefing_has_every_section(sample_html):
    for section in SECTIONS:
        assert f'<section id="{section}">' in sample_html
    # Five charts, and a timeline for each watched place that was seen (FR was not).
    assert sample_html.count('<img src="data:image/png;base64,') == 7
    for code in ("cn-ln", "es", "fr"):
        assert f'<section id="watched-{code}">' in sample_html
    assert "<p>No access from FR in these logs.</p>" in sample_html
    assert "Europe/Madrid" in sample_html.split('id="watched-es"', 1)[1].split("</section>")[0]
    for caveat in GEO_CAVEATS:
        assert html.escape(caveat) in sample_html


def test_html_briefing_fetches_nothing_and_runs_nothing(sample_html):
    lowered = sample_html.lower()
    assert "<script" not in lowered
    assert "<link" not in lowered
    assert "<a " not in lowered
    # URLs from the log (user agents, referers) are shown as text, never as attributes.
    assert "https://" in lowered
    attributes = re.findall(r'\b[\w-]+="([^"]*)"', sample_html)
    assert attributes
    images = [a for a in attributes if a.startswith("data:image/png;base64,")]
    assert len(images) == 7
    others = [a for a in attributes if a not in images]
    assert not [a for a in others if "//" in a or "http" in a.lower()]
    assert "url(" not in lowered
    assert "@import" not in lowered
    sources = re.findall(r'\bsrc="([^"]*)"', sample_html)
    assert len(sources) == 7
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    assert "default-src 'none'" in sample_html


def test_findings_state_the_report_numbers(sample_html):
    s = sample_paths()
    a = analyze([s.log], city_db=s.city_db, asn_db=s.asn_db, watch=["CN-LN", "ES", "FR"])
    total = a.meta["lines"]["matched"]
    top = a.rows.row(0, named=True)
    found = findings_of(sample_html)
    assert f"{total:,} requests from " in found[0]
    assert (
        f"Most requests came from Liaoning, China (CN-LN): {top[S.REQUESTS]:,} of {total:,} "
        f"({100 * top[S.SHARE]:.1f}%) from {top[S.UNIQUE_IPS]:,} addresses." in found[1]
    )
    spain = a.rows.filter(pl.col(S.COUNTRY_ISO) == "ES")
    n = int(spain[S.REQUESTS].sum())
    assert any(
        f.startswith(f"Watched Spain (ES): {n:,} requests ({100 * n / total:.1f}%)") for f in found
    )
    assert "Watched FR: no access from there in these logs." in found
    nets = analyze([s.log], city_db=s.city_db, asn_db=s.asn_db, by=["asn"])
    net = nets.rows.row(0, named=True)
    assert any(
        f"The most active network was AS{net[S.ASN]} {net[S.AS_ORG]}: {net[S.REQUESTS]:,}" in f
        for f in found
    )
    assert any(f.startswith("Anonymizer verdicts were not part of this analysis") for f in found)


def test_active_hours_follow_the_time_zone(tmp_path, city_db):
    # Every request at 01:xx UTC: 09:xx in Shanghai on a weekday (Monday 2026-09-14).
    t0 = datetime(2026, 9, 14, 1, 10, tzinfo=UTC)
    log = tmp_path / "a.log"
    log.write_text(
        "".join(log_line(ip="175.167.1.2", ts=t0 + timedelta(minutes=m)) + "\n" for m in range(3)),
        encoding="utf-8",
    )
    for tz, zone, hour, share in (
        ("UTC", "UTC", 1, "0.0%"),
        ("Asia/Shanghai", "Asia/Shanghai time", 9, "100.0%"),
    ):
        b = briefing([log], city_db=city_db, tz=tz, charts=False)
        assert (
            f"In {zone} the busiest hour of day was {hour:02d}:00-{hour:02d}:59 (3 requests); "
            f"{share} of requests arrived on weekdays between 09:00 and 18:00." in b.findings
        )


def test_provenance_lists_sha256_lines_and_databases(sample_html):
    s = sample_paths()
    digest = hashlib.sha256(s.log.read_bytes()).hexdigest()
    block = sample_html.split('<section id="provenance">', 1)[1]
    assert f"<code>{digest}</code>" in block
    lines = s.log.read_bytes().count(b"\n")
    assert f"<td class=n>{lines:,}</td>" in block
    assert "3 rejected (1 blank line, 2 does not match the log format)" in block
    assert "GeoLite2-City, built 2026-09-01" in block
    assert "GeoLite2-ASN, built 2026-09-01" in block


ALLOWED_TAGS = {
    *("html", "head", "meta", "title", "style", "body", "section", "figure", "div", "code"),
    *("h1", "h2", "h3", "p", "ul", "li", "img", "table", "thead", "tbody", "tr", "th", "td"),
}
HOSTILE_PATH = '/"><img src=x onerror=alert(1)>?q=<script>alert(2)</script>'
HOSTILE_AGENT = '\x1b[2J\x1b[31m=HYPERLINK("http://evil.example/","x") <iframe src=//evil>'
HOSTILE_ORG = "<script>alert('asn')</script> & Co"
HOSTILE_NAME = "<b onmouseover=alert(3)>.log"


@pytest.fixture
def hostile(tmp_path) -> dict[str, Path]:
    records = load_records("asn")
    records["81.2.69.0/24"] = {
        "autonomous_system_number": 64500,
        "autonomous_system_organization": HOSTILE_ORG,
    }
    asn_db = make_mmdb(tmp_path / "asn.mmdb", "GeoLite2-ASN", records)
    log = tmp_path / HOSTILE_NAME
    t0 = datetime(2026, 9, 14, 8, 0, tzinfo=UTC)
    lines = [
        log_line(
            ip="81.2.69.160",
            ts=t0 + timedelta(minutes=i),
            request="GET " + HOSTILE_PATH.replace('"', '\\"') + " HTTP/1.1",
            agent=HOSTILE_AGENT.replace('"', '\\"'),
        )
        for i in range(3)
    ]
    log.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    return {"log": log, "asn_db": asn_db}


@pytest.mark.parametrize("suffix", [".html", ".md"])
def test_hostile_log_and_database_text_stays_text(tmp_path, hostile, city_db, suffix):
    out = tmp_path / f"briefing{suffix}"
    proc = run_cli(
        "brief",
        str(hostile["log"]),
        "--city-db",
        str(city_db),
        "--asn-db",
        str(hostile["asn_db"]),
        # Watched: its section and "what stands out" quote the hostile path and network.
        "--watch",
        "GB-ENG",
        "-o",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr.decode()
    doc = out.read_text(encoding="utf-8")
    assert "Watched GB-ENG fetched the rare path" in doc
    assert "Watched: England, United Kingdom (GB-ENG)" in doc
    for raw in ("<script", "<img src=x", "<iframe", "<b onmouseover", "\x1b"):
        assert raw not in doc
    # The text is there, made inert: escaped for HTML (or Markdown), ESC shown as \x1b.
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in doc
    assert "&lt;img src=x onerror=alert(1)&gt;" in doc
    assert ("\\x1b[2J" if suffix == ".html" else "\\x1b\\[2J") in doc
    assert "onmouseover=alert(3)&gt;.log" in doc
    if suffix == ".html":
        assert "&lt;script&gt;alert(&#x27;asn&#x27;)&lt;/script&gt; &amp; Co" in doc
        # Only the briefing's own tags: nothing from the log became markup.
        assert set(re.findall(r"<(\w+)", doc)) <= ALLOWED_TAGS
    else:
        assert "&lt;script&gt;alert('asn')&lt;/script&gt; &amp; Co" in doc


def test_markdown_briefing_embeds_images_and_tables(tmp_path):
    out = tmp_path / "briefing.md"
    proc = run_cli("brief", "--sample", "--watch", "CN-LN", "-o", str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    doc = out.read_text(encoding="utf-8")
    for heading in (
        "## Key findings",
        "## Charts",
        "## Requests by province or region",
        "## Requests by network (AS)",
        "## Provenance",
        "## Caveats",
    ):
        assert heading in doc
    # Images are files beside the document, linked by relative path; none inline.
    assert "data:image" not in doc
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", doc)
    assert len(links) == 6  # five charts and the watched place's timeline
    for link in links:
        assert link.startswith("briefing_files/")
        assert (tmp_path / link).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert sorted(p.name for p in (tmp_path / "briefing_files").iterdir()) == sorted(
        Path(link).name for link in links
    )
    assert "| \\* | Liaoning, China (CN-LN) | CN-LN | 187 |" in doc
    assert "## Watched: Liaoning, China (CN-LN)" in doc
    assert "187 requests from 11 addresses, first at 2026-09-14 07:08 UTC" in doc
    assert "In the place's own time (Asia/Shanghai): busiest hour: Mon 22:00-22:59" in doc


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["-", "-o", "b.html"], 2, "save stdin to a file first"),
        (["--sample", "-o", "b.txt"], 2, "a briefing is .html, .md or .pdf"),
        (["--sample", "--tz", "Nowhere/Land", "-o", "b.html"], 2, "is not a time zone"),
    ],
)
def test_brief_errors(tmp_path, args, code, message):
    proc = run_cli("brief", *args, cwd=tmp_path, stdin=b"")
    assert proc.returncode == code, proc.stderr.decode()
    assert message in proc.stderr.decode()
    assert list(tmp_path.iterdir()) == []


def test_brief_refuses_to_overwrite_its_input(tmp_path, city_db):
    log = tmp_path / "access.md"
    log.write_text(log_line() + "\n", encoding="utf-8")
    before = log.read_bytes()
    proc = run_cli("brief", str(log), "--city-db", str(city_db), "-o", str(log))
    assert proc.returncode == 5
    assert log.read_bytes() == before


@pytest.mark.parametrize(
    ("name", "fmt"), [("b.html", "html"), ("B.HTM", "html"), ("b.md", "markdown")]
)
def test_briefing_format_from_the_extension(name, fmt):
    assert briefing_format(name) == fmt


def test_findings_state_the_anonymized_share_when_verdicts_exist():
    from loganalyzer.analysis.pipeline import Analysis
    from loganalyzer.outputs.briefing import findings
    from loganalyzer.outputs.charts import ANONYMIZED

    s = sample_paths()
    opts = {"city_db": s.city_db, "asn_db": s.asn_db}
    regions = analyze([s.log], by=["region"], **opts)
    anon = regions.rows[S.REQUESTS] // 4
    tor = anon // 3
    marked = Analysis(
        regions.rows.with_columns(
            anon.alias(ANONYMIZED),
            (anon - tor).alias(S.CATEGORY_REQUESTS["vpn"]),
            tor.alias(S.CATEGORY_REQUESTS["tor_exit"]),
        ),
        regions.meta,
    )
    nets = analyze([s.log], by=["asn"], **opts)
    hourly = analyze([s.log], by=["hour"], **opts)
    total = regions.meta["lines"]["matched"]
    n = int(anon.sum())
    found = findings(marked, nets, hourly)
    t = int(tor.sum())
    assert (
        f"{n:,} of {total:,} requests ({100 * n / total:.1f}%) came through anonymizers "
        f"({n - t:,} VPN, {t:,} Tor); the other {total - n:,} have no anonymizer known, which "
        "is not proof of direct access. Anonymized places are the exits', not the users'."
    ) in found
    assert not [f for f in found if f.startswith("Anonymizer verdicts were not")]


@pytest.mark.parametrize(
    ("scanner", "crawler", "sentence"),
    [
        (0, 0, "No request came from a known internet scanner or crawler."),
        (40, 8, "Of all requests, 40 (10.1%) from known scanners and 8 (2.0%) from known "
                "crawlers: research scanners and search or AI crawlers, not people "
                "(--exclude scanner,crawler leaves them out)."),
    ],
)  # fmt: skip
def test_findings_say_how_much_was_scanners_and_crawlers(scanner, crawler, sentence):
    from loganalyzer.analysis.pipeline import Analysis
    from loganalyzer.outputs.briefing import findings
    from loganalyzer.outputs.charts import ANONYMIZED

    s = sample_paths()
    opts = {"city_db": s.city_db, "asn_db": s.asn_db}
    regions = analyze([s.log], by=["region"], **opts)
    assert regions.meta["lines"]["matched"] == 397
    first = pl.int_range(pl.len()) == 0  # all of them on the busiest row
    marked = Analysis(
        regions.rows.with_columns(
            pl.lit(0).alias(ANONYMIZED),
            pl.when(first).then(scanner).otherwise(0).alias(S.REQUESTS_SCANNER),
            pl.when(first).then(crawler).otherwise(0).alias(S.REQUESTS_CRAWLER),
        ),
        regions.meta,
    )
    nets = analyze([s.log], by=["asn"], **opts)
    hourly = analyze([s.log], by=["hour"], **opts)
    assert sentence in findings(marked, nets, hourly)


def test_brief_with_anonymizer_sources_states_the_share(tmp_path, city_db):
    vpn_list = Path(__file__).resolve().parents[2] / "fixtures" / "anon" / "vpn-list.txt"
    t0 = datetime(2026, 9, 14, 8, 0, tzinfo=UTC)
    clients = [("175.167.1.2", 5), ("2.137.200.1", 3)]  # the second is on the VPN list
    lines = [log_line(ip=ip, ts=t0 + timedelta(minutes=i)) for ip, n in clients for i in range(n)]
    log = tmp_path / "a.log"
    log.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    out = tmp_path / "b.html"
    proc = run_cli(
        "brief", str(log), "--city-db", str(city_db), "--ip-list", f"vpn={vpn_list}",
        "-o", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    found = findings_of(out.read_text(encoding="utf-8"))
    assert any(f.startswith("3 of 8 requests (37.5%) came through anonymizers") for f in found)
    doc = out.read_text(encoding="utf-8")
    assert "<th class=n>anonymized</th>" in doc
    digest = hashlib.sha256(vpn_list.read_bytes()).hexdigest()
    assert f"Anonymizer source {vpn_list}: " in doc
    assert f"sha256 {digest}." in doc
    assert f"Source: {vpn_list}" in proc.stderr.decode()


# --- one read of the logs, the same briefing -----------------------------------------------

FIXTURE_LOG = Path(__file__).resolve().parents[2] / "fixtures" / "logs" / "combined.log"
VPN_LIST = Path(__file__).resolve().parents[2] / "fixtures" / "anon" / "vpn-list.txt"


@pytest.fixture(scope="module")
def wider_asn_db(tmp_path_factory) -> Path:
    """The ASN fixture plus a network the City fixture lacks (8.8.8.8 is in the log).

    Such a client is ``ok`` in a network view and ``not_found`` in a province
    view: one lookup shared by both views would get one of them wrong.
    """
    records = load_records("asn")
    records["8.8.8.0/24"] = {
        "autonomous_system_number": 15169,
        "autonomous_system_organization": "GOOGLE",
    }
    return make_mmdb(tmp_path_factory.mktemp("asn") / "asn.mmdb", "GeoLite2-ASN", records)


def _old_briefing(paths, *, watch, tz, top_n=15, fmt="html", **options):
    """The briefing as it was made before: one analyze() per view, six reads of the logs."""
    from loganalyzer.outputs.briefing import InputRecord, _charts, _Doc, findings, sha256_file
    from loganalyzer.outputs.briefing_sections import SECTIONS, BriefContext
    from loganalyzer.outputs.charts import hour_matrix

    regions = analyze(paths, by=["region"], watch=watch, **options)
    networks = analyze(paths, by=["asn"], **options)
    hourly = analyze(paths, by=["region", "hour"], **options)
    try:
        hour_matrix(hourly, tz=tz)
    except Exception:
        hourly = analyze(paths, by=["region", S.TS], **options)
    tables = {
        "paths": analyze(paths, by=[S.PATH], top_n=10, **options),
        "agents": analyze(paths, by=[S.USER_AGENT], top_n=10, **options),
    }
    located = analyze(paths, by=["region", S.LATITUDE, S.LONGITUDE], watch=watch, **options)
    extra = {
        "place_paths": analyze(paths, by=["region", S.PATH], **options),
        "place_networks": analyze(paths, by=["region", "asn"], **options),
        "place_zones": analyze(paths, by=["region", S.TIME_ZONE], **options),
        "all_paths": analyze(paths, by=[S.PATH], **options),
    }
    context = BriefContext(
        views={"regions": regions, "networks": networks, "hourly": hourly, **extra},
        watch=tuple(watch),
        tz=tz,
    )
    sections = [section for build in SECTIONS for section in build(context)]
    inputs = tuple(
        InputRecord(str(f["path"]), sha256_file(f["path"]), f.get("size_bytes"), dict(f["lines"]))
        for f in regions.meta["files"]
    )
    sentences = findings(regions, networks, hourly, watch=watch, tz=tz)
    images = _charts(regions, networks, hourly, located, watch=watch, tz=tz, top_n=top_n)
    doc = _Doc(
        "Access briefing", regions, networks, tables, inputs, sentences, images, top_n, sections
    )
    views = {"regions": regions, "networks": networks, "hourly": hourly, **tables}
    return (doc.html() if fmt == "html" else doc.markdown()), sentences, views


def _without_clock(text: str) -> str:
    return re.sub(r"Made by loganalyzer \S+ at [0-9: -]+UTC", "Made by", text)


def _meta_without_clock(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if k != "generated_at"}


@pytest.mark.parametrize(
    ("tz", "fmt", "extra"),
    [
        ("Asia/Shanghai", "html", {}),
        # Half-hour zone: the heatmap needs each request's own time.
        ("Asia/Kolkata", "markdown", {}),
        ("Europe/Madrid", "html", {"where": ["status<400"], "lang": "zh-CN"}),
    ],
)
def test_briefing_from_one_read_equals_one_analysis_per_view(city_db, wider_asn_db, tz, fmt, extra):
    from loganalyzer.anonymity.sources import AnonymizerSources

    sources = AnonymizerSources.load(ip_lists=[f"vpn={VPN_LIST}"])
    options = {"city_db": city_db, "asn_db": wider_asn_db, "sources": sources, **extra}
    watch = ["CN-LN", "ES", "FR"]
    b = briefing([FIXTURE_LOG], watch=watch, tz=tz, fmt=fmt, **options)
    text, sentences, views = _old_briefing([FIXTURE_LOG], watch=watch, tz=tz, fmt=fmt, **options)
    got = {"regions": b.regions, "networks": b.networks, "hourly": b.hourly, **b.tables}
    assert got.keys() == views.keys()
    for name, want in views.items():
        assert got[name].rows.equals(want.rows), name
        assert _meta_without_clock(got[name].meta) == _meta_without_clock(want.meta), name
    assert list(b.findings) == sentences
    # Every byte of the document, charts included, except the time it was made.
    assert _without_clock(b.text) == _without_clock(text)
    # The case that needs a lookup per view: found by the ASN database only.
    google = b.networks.rows.filter(pl.col(S.ASN) == 15169)
    assert google[S.GEO_STATUS].to_list() == ["ok"]
    assert "not_found" in b.regions.rows[S.GEO_STATUS].to_list()
    assert ("ts" in b.hourly.meta["keys"]) == (tz == "Asia/Kolkata")


def test_briefing_reads_the_logs_once(tmp_path, city_db, asn_db):
    consumed: list[int] = []
    rejects = tmp_path / "rejects.jsonl"
    with rejects.open("w", encoding="utf-8") as handle:
        b = briefing(
            [FIXTURE_LOG], city_db=city_db, asn_db=asn_db, tz="Asia/Kolkata",
            on_bytes=consumed.append, rejects=handle,
        )  # fmt: skip
    assert sum(consumed) == FIXTURE_LOG.stat().st_size
    assert b.meta["lines"]["rejected"] == 1
    assert len(rejects.read_text(encoding="utf-8").splitlines()) == 1
