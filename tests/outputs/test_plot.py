"""Charts: what each figure says (titles, bars, labels, gaps, time zones), and the CLI files.

Assertions read the Figure's artists (bar widths, tick labels, line data, image
arrays), never pixels, and compare them with numbers computed by the report.
"""

from __future__ import annotations

import math
import re
import struct
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from loganalyzer import schema as S
from loganalyzer.analysis.pipeline import Analysis, analyze, sample_paths
from loganalyzer.outputs.charts import (
    ANONYMIZED,
    chart,
    drawable,
    figure_bytes,
    hour_matrix,
    place_label,
    plot_asn,
    plot_compare,
    plot_hours,
    plot_map,
    plot_regions,
    plot_timeline,
    timeline_series,
)
from loganalyzer.outputs.charts.compare import most_changed
from loganalyzer.outputs.charts.style import BAR_COLOR, BUCKET_COLOR, WATCH_COLOR
from tests.helpers import log_line, make_mmdb, run_cli

pytest.importorskip("matplotlib")

KINDS = ("regions", "timeline", "hours", "map", "asn")
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-", "svg": b"<?xml"}
T0 = datetime(2026, 9, 14, 0, 0, 0, tzinfo=UTC)  # a Monday


def svg_text(svg: str) -> str:
    """Every text element of an SVG, joined by single spaces (wrapped lines rejoin)."""
    return " ".join(" ".join(re.findall(r"<text[^>]*>([^<]*)", svg)).split())


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG IHDR chunk."""
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def sample() -> dict[str, Path]:
    s = sample_paths()
    return {"log": s.log, "city_db": s.city_db, "asn_db": s.asn_db}


def sample_analysis(**kwargs) -> Analysis:
    s = sample_paths()
    return analyze([s.log], city_db=s.city_db, asn_db=s.asn_db, **kwargs)


def bar_widths(fig, label: str) -> list[float]:
    ax = fig.axes[0]
    (container,) = [c for c in ax.containers if c.get_label() == label]
    return [p.get_width() for p in container]


def tick_texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_yticklabels()]


# --- the CLI writes real files ------------------------------------------------------


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
@pytest.mark.parametrize("kind", KINDS)
def test_cli_renders_every_kind_from_the_sample(tmp_path, kind, fmt):
    out = tmp_path / f"{kind}.{fmt}"
    proc = run_cli(
        "plot", "--sample", "--kind", kind, "--watch", "CN-LN", "--watch", "ES", "-o", str(out)
    )
    assert proc.returncode == 0, proc.stderr.decode()
    data = out.read_bytes()
    assert data.startswith(MAGIC[fmt])
    assert f"Wrote {kind} chart to {out}" in proc.stderr.decode()
    if fmt == "png":
        assert png_size(data) == (1600, 900)
    if fmt == "svg":
        svg = data.decode("utf-8")
        assert 'width="1152pt" height="648pt"' in svg  # 16x9 inches
        words = svg_text(svg)
        assert "GeoLite2-City built 2026-09-01" in words
        assert "log: access.log" in words
        if kind in ("regions", "map"):
            assert "Liaoning, China (CN-LN)" in words
    # Nothing but the output is left beside it (the temporary file was renamed).
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


FIXTURE_LOGS = Path(__file__).resolve().parents[2] / "fixtures" / "logs"


@pytest.mark.parametrize("kind", KINDS)
def test_cli_renders_every_kind_from_a_fixture_log(tmp_path, kind, city_db, asn_db):
    out = tmp_path / "chart.svg"
    proc = run_cli(
        "plot",
        str(FIXTURE_LOGS / "combined.log"),
        "--city-db",
        str(city_db),
        "--asn-db",
        str(asn_db),
        "--kind",
        kind,
        "--tz",
        "Europe/Madrid",
        "-o",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr.decode()
    svg = out.read_text(encoding="utf-8")
    assert "combined.log" in svg
    assert "Rejected 1 of 21 lines" in proc.stderr.decode()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--kind", "regions", "-o", "chart.gif"], 2, "the chart format comes from the extension"),
        (["--kind", "hours", "--tz", "Mars/Olympus", "-o", "h.png"], 2, "is not a time zone"),
        (["--kind", "pie", "-o", "h.png"], 2, "'pie' is not one of"),
        (["--kind", "regions", "-o", "missing/dir/c.png"], 5, "does not exist"),
    ],
)
def test_cli_plot_errors(tmp_path, args, code, message):
    proc = run_cli("plot", "--sample", *args, cwd=tmp_path)
    assert proc.returncode == code, proc.stderr.decode()
    assert message in proc.stderr.decode()
    assert not list(tmp_path.glob("*.png"))
    assert not list(tmp_path.glob("*.gif"))


def test_cli_plot_refuses_to_overwrite_its_input(tmp_path, city_db):
    log = tmp_path / "access.png"  # a log whose name looks like an image
    log.write_text(log_line() + "\n", encoding="utf-8")
    before = log.read_bytes()
    proc = run_cli("plot", str(log), "--city-db", str(city_db), "--kind", "regions", "-o", str(log))
    assert proc.returncode == 5
    assert "refusing to overwrite an input file" in proc.stderr.decode()
    assert log.read_bytes() == before


def test_import_loganalyzer_does_not_import_matplotlib():
    code = (
        "import sys, loganalyzer, loganalyzer.outputs.charts, loganalyzer.outputs.briefing; "
        "print('matplotlib' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert proc.stdout.strip() == b"False"


# --- regions: bars are the report's numbers ------------------------------------------


def test_region_bars_equal_the_report_and_watched_are_highlighted():
    a = sample_analysis(by=["region"], watch=["CN-LN", "KP-01", "FR"])
    fig = plot_regions(a, top=3)
    rows = a.rows.filter((pl.int_range(pl.len()) < 3) | pl.col(S.WATCHED))
    assert bar_widths(fig, "requests") == [float(n) for n in rows[S.REQUESTS]]
    assert tick_texts(fig) == [place_label(r) for r in rows.iter_rows(named=True)]
    # KP-01 is small (outside the top 3) and FR has no access: both still drawn.
    labels = tick_texts(fig)
    assert "Pyongyang, North Korea (KP-01)" in labels
    assert "France (FR)" in labels  # named, and no "province unknown": nobody came
    ax = fig.axes[0]
    (container,) = ax.containers
    for patch, row, tick in zip(
        container, rows.iter_rows(named=True), ax.get_yticklabels(), strict=True
    ):
        watched = row[S.WATCHED]
        assert (patch.get_facecolor()[:3] == _rgb(WATCH_COLOR)) == watched
        assert (tick.get_fontweight() == "bold") == watched
    texts = [t.get_text() for t in ax.texts]
    assert "no access" in texts
    top = rows.row(0, named=True)
    assert f"{top[S.REQUESTS]:,} ({100 * top[S.SHARE]:.1f}%)" in texts
    # "of N" counts places with access (meta.rows_total), not the zero rows of --watch.
    places = a.meta["rows_total"]
    assert places == a.rows.filter(pl.col(S.REQUESTS) > 0).height
    assert fig.get_suptitle() == (
        f"Liaoning, China (CN-LN) leads: {top[S.REQUESTS]:,} of "
        f"{a.meta['lines']['matched']:,} requests ({100 * top[S.SHARE]:.0f}%) from "
        f"{top[S.UNIQUE_IPS]:,} addresses"
    )
    sub = ax.get_title(loc="left").replace("\n", " ")
    assert sub.endswith(f"province or region: top 5 of {places}")
    assert ax.get_xlabel() == "requests (count)"


def _rgb(hex_color: str) -> tuple[float, float, float]:
    h = hex_color.lstrip("#")
    return tuple(int(h[i : i + 2], 16) / 255 for i in (0, 2, 4))


def test_region_bars_split_direct_and_anonymized_when_verdicts_exist():
    a = sample_analysis(by=["region"])
    # The anonymizer verdicts (another issue) add this column; any split will do here.
    anon = a.rows[S.REQUESTS] // 3
    fig = plot_regions(Analysis(a.rows.with_columns(anon.alias(ANONYMIZED)), a.meta), top=None)
    direct = bar_widths(fig, "no anonymizer known")
    anonymized = bar_widths(fig, "anonymized")
    assert anonymized == [float(n) for n in anon]
    assert [d + x for d, x in zip(direct, anonymized, strict=True)] == [
        float(n) for n in a.rows[S.REQUESTS]
    ]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "through anonymizers" in legend
    assert "no anonymizer known" in legend  # never "direct": a source's silence proves nothing
    texts = [t.get_text() for t in fig.axes[0].texts]
    top = a.rows.row(0, named=True)
    assert texts[0] == (
        f"{top[S.REQUESTS]:,} ({100 * top[S.SHARE]:.1f}%), "
        f"{top[S.REQUESTS] // 3:,} through anonymizers"
    )


def test_without_verdicts_the_legend_says_all_access():
    fig = plot_regions(sample_analysis(by=["region"]))
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[0] == "all access (no anonymizer verdicts in this analysis)"


def test_asn_chart_names_the_organisations(asn_records):
    a = sample_analysis(by=["asn"])
    fig = plot_asn(a, top=4)
    assert bar_widths(fig, "requests") == [float(n) for n in a.rows[S.REQUESTS].head(4)]
    orgs = {
        r["autonomous_system_number"]: r["autonomous_system_organization"]
        for r in asn_records.values()
    }
    for asn, label in zip(a.rows[S.ASN].head(4), tick_texts(fig), strict=True):
        assert label == f"AS{asn} {orgs[asn]}"
    lead = a.rows.row(0, named=True)
    assert (
        fig.get_suptitle()
        .replace("\n", " ")
        .startswith(f"AS{lead[S.ASN]} {orgs[lead[S.ASN]]} leads: {lead[S.REQUESTS]:,} of ")
    )
    sub = fig.axes[0].get_title(loc="left").replace("\n", " ")
    assert sub.endswith(f"network (AS): top 4 of {a.rows.height}")


# --- labels: long, CJK and hostile names ------------------------------------------------


def test_cjk_names_draw_or_fall_back_to_the_code_without_warnings(city_db, asn_db):
    log = Path(__file__).resolve().parents[2] / "fixtures" / "logs" / "combined.log"
    a = analyze([log], city_db=city_db, asn_db=asn_db, by=["region"], lang="zh-CN")
    fig = plot_regions(a)
    figure_bytes(fig, "png")  # drawing is where missing glyphs would warn
    (label,) = [t for t in tick_texts(fig) if "CN-LN" in t]
    if drawable("辽宁省"):
        assert label == "辽宁省, 中国 (CN-LN)"
    else:
        assert label == "CN-LN"


def test_long_and_hostile_names_are_shortened_and_never_parsed(tmp_path, asn_records):
    hostile = "\x1b[31m$\\frac{1}{0}$ <script>alert(1)</script> " + "Very Long Networks " * 6
    records = {
        "81.2.69.0/24": {
            "autonomous_system_number": 64500,
            "autonomous_system_organization": hostile,
        }
    }
    db = make_mmdb(tmp_path / "asn.mmdb", "GeoLite2-ASN", records)
    log = tmp_path / "a.log"
    log.write_text(log_line(ip="81.2.69.160") + "\n", encoding="utf-8")
    a = analyze([log], asn_db=db, by=["asn"])
    fig = plot_asn(a)
    (label,) = tick_texts(fig)
    # Cut to 48 characters with an ellipsis; each "$" then gains its escaping backslash.
    assert len(label.replace("\\$", "$")) == 48
    assert label.endswith("…")
    assert "\x1b" not in label
    assert "\\x1b" in label
    assert r"\$\frac{1}{0}\$" in label  # escaped: shown as typed, not as a fraction
    svg = figure_bytes(fig, "svg").decode("utf-8")
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg


# --- timeline: gaps are gaps ---------------------------------------------------------------


def write_log(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_timeline_shows_hours_without_any_request_as_gaps(tmp_path, city_db):
    hours = [0, 0, 1, 5]
    lines = [log_line(ip="175.167.1.2", ts=T0 + timedelta(hours=h, minutes=3)) for h in hours]
    lines.append(log_line(ip="2.136.4.5", ts=T0 + timedelta(hours=5, minutes=9)))
    lines.append(log_line(ip="2.136.4.5", ts=T0 + timedelta(hours=1, minutes=9)))
    log = write_log(tmp_path / "gaps.log", lines)
    a = analyze([log], city_db=city_db, by=["region", "hour"])
    buckets, series, every = timeline_series(a, watch=["CN-LN", "FR"], interval="hour")
    assert every == "hour"
    assert buckets == [T0 + timedelta(hours=h) for h in range(6)]
    nan = float("nan")
    expected_all = [2.0, 2.0, nan, nan, nan, 2.0]
    assert _same(series["all requests"], expected_all)
    assert _same(series["Liaoning, China (CN-LN)"], [2.0, 1.0, nan, nan, nan, 1.0])
    # Spain was quiet at 00:00 while Liaoning was not: a zero, not a gap.
    assert _same(series["Catalonia, Spain (ES-CT)"], [0.0, 1.0, nan, nan, nan, 1.0])
    assert _same(series["FR (no access)"], [0.0, 0.0, nan, nan, nan, 0.0])
    fig = plot_timeline(a, watch=["CN-LN"], interval="hour")
    lines_by_label = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    ydata = list(lines_by_label["all requests"].get_ydata())
    assert _same(ydata, expected_all)
    assert "Liaoning, China (CN-LN) [watched]" in lines_by_label
    assert fig.axes[0].get_ylabel() == "requests per hour (count)"


def test_timeline_by_day_sums_the_hours(tmp_path, city_db):
    lines = [log_line(ip="175.167.1.2", ts=T0 + timedelta(hours=h)) for h in (1, 2, 50)]
    a = analyze([write_log(tmp_path / "d.log", lines)], city_db=city_db, by=["region", "hour"])
    buckets, series, every = timeline_series(a, interval="day")
    assert (every, buckets) == ("day", [T0 + timedelta(days=d) for d in range(3)])
    assert _same(series["all requests"], [2.0, float("nan"), 1.0])


def _same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(
        (math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(a, b, strict=True)
    )


# --- hours: the heatmap follows the time zone ---------------------------------------------


@pytest.mark.parametrize(
    ("tz", "weekday", "hour"),
    [
        ("UTC", 0, 20),  # Monday 20:30 UTC
        ("Asia/Shanghai", 1, 4),  # +08:00: Tuesday 04:30
        ("Asia/Pyongyang", 1, 5),  # +09:00: Tuesday 05:30
        ("Europe/Madrid", 0, 22),  # +02:00 (summer time): Monday 22:30
        ("America/Los_Angeles", 0, 13),  # -07:00: Monday 13:30
        ("Asia/Kolkata", 1, 2),  # +05:30: Tuesday 02:00, needs per-request times
    ],
)
def test_hours_heatmap_places_a_known_request_in_the_zone(tmp_path, city_db, tz, weekday, hour):
    when = T0 + timedelta(hours=20, minutes=30)
    log = write_log(tmp_path / "one.log", [log_line(ip="175.167.1.2", ts=when, offset_hours=8)])
    c = chart("hours", [log], city_db=city_db, tz=tz)
    (image,) = c.figure.axes[0].get_images()
    grid = image.get_array()
    assert grid.shape == (7, 24)
    assert grid.sum() == 1
    assert grid[weekday][hour] == 1
    assert c.figure.axes[0].get_xlabel().startswith(f"hour of day in {tz}")


def test_hour_buckets_cannot_be_placed_in_half_hour_zones():
    a = sample_analysis(by=["hour"])
    with pytest.raises(Exception, match="not a whole number of hours"):
        hour_matrix(a, tz="Asia/Kolkata")


def test_hours_heatmap_totals_match_the_report():
    a = sample_analysis(by=["hour"])
    fig = plot_hours(a, tz="Europe/Madrid")
    (image,) = fig.axes[0].get_images()
    assert int(image.get_array().sum()) == a.meta["lines"]["matched"]
    colorbar_label = fig.axes[1].get_ylabel()
    assert colorbar_label == "requests in that hour (count)"


# --- map -----------------------------------------------------------------------------------


def test_map_circles_follow_requests_and_unlocated_requests_are_counted():
    a = sample_analysis(by=["region", "latitude", "longitude"], watch=["CN-LN"])
    fig = plot_map(a)
    ax = fig.axes[0]
    (points,) = ax.collections[1:]
    located = a.rows.filter(pl.col(S.LATITUDE).is_not_null() & (pl.col(S.REQUESTS) > 0)).sort(
        S.REQUESTS, descending=True
    )
    sizes = list(points.get_sizes())
    assert len(sizes) == located.height
    assert sizes == sorted(sizes, reverse=True)
    unplaced = a.meta["lines"]["matched"] - int(located[S.REQUESTS].sum())
    assert unplaced > 0
    assert f"{unplaced:,} requests without a location not drawn" in ax.get_title(
        loc="left"
    ).replace("\n", " ")
    colors = [tuple(c[:3]) for c in points.get_facecolors()]
    watched = located[S.WATCHED].to_list()
    assert [c == _rgb(WATCH_COLOR) for c in colors] == watched
    assert [c == _rgb(BAR_COLOR) for c in colors] == [not w for w in watched]
    # The basemap is drawn from the vendored Natural Earth data: many country rings.
    assert len(ax.collections[0].get_paths()) > 200


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        # By region, a watched country is one more series summing its provinces.
        ("region", "ES (all of the country)"),
        # By country it is already a place of its own: drawn once.
        ("country", "Spain (ES)"),
    ],
)
def test_timeline_draws_a_watched_country_once(by, expected):
    a = sample_analysis(by=[by, "hour"])
    _, series, _ = timeline_series(a, watch=["ES"], top=2)
    spain = [k for k in series if "(ES" in k or k.startswith("ES ")]
    assert expected in spain
    if by == "country":
        assert spain == [expected]
    rows = a.rows.filter(pl.col(S.COUNTRY_ISO) == "ES")
    assert sum(v for v in series[expected] if v == v) == rows[S.REQUESTS].sum()


def test_half_hour_zone_writes_rejected_lines_once(tmp_path, city_db):
    log = write_log(tmp_path / "a.log", [log_line(ip="175.167.1.2", ts=T0), "not a log line"])
    rejects = tmp_path / "rejects.jsonl"
    proc = run_cli(
        "plot", str(log), "--city-db", str(city_db), "--kind", "hours", "--tz", "Asia/Kolkata",
        "--rejects", str(rejects), "-o", str(tmp_path / "h.png"),
        # Half the lines are junk: too few to detect the format, so it is named.
        "--log-format", "combined",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    assert len(rejects.read_text(encoding="utf-8").splitlines()) == 1


@pytest.mark.parametrize(("tz", "hour"), [("Asia/Kolkata", 2), ("Asia/Shanghai", 4)])
def test_hours_from_stdin_in_any_zone(tmp_path, city_db, tz, hour):
    line = log_line(ip="175.167.1.2", ts=T0 + timedelta(hours=20, minutes=30))
    out = tmp_path / "h.svg"
    proc = run_cli(
        "plot", "-", "--city-db", str(city_db), "--kind", "hours", "--tz", tz, "-o", str(out),
        stdin=(line + "\n").encode(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    # The one request is the only annotated cell: Tuesday at the local hour.
    assert f"hour of day in {tz}" in svg_text(out.read_text(encoding="utf-8"))
    c = chart("hours", [write_log(tmp_path / "one.log", [line])], city_db=city_db, tz=tz)
    (image,) = c.figure.axes[0].get_images()
    assert image.get_array()[1][hour] == 1


def test_map_labels_watched_places_even_when_small():
    a = sample_analysis(by=["region", "latitude", "longitude"], watch=["BT"])
    fig = plot_map(a, top=1)
    labels = [t.get_text() for t in fig.axes[0].texts]
    bt = a.rows.filter(pl.col(S.COUNTRY_ISO) == "BT")
    bhutan = f"{place_label(bt.row(0, named=True))}: {int(bt[S.REQUESTS].sum()):,}"
    assert bhutan.startswith("Bhutan (BT")
    # One label per place, with the place's total over all its network locations.
    top = a.rows.filter(pl.col(S.LATITUDE).is_not_null()).row(0, named=True)
    total = int(a.rows.filter(pl.col(S.REGION_ISO) == top[S.REGION_ISO])[S.REQUESTS].sum())
    # The largest place is placed first (the title names it), then the watched ones.
    assert labels == [f"{place_label(top)}: {total:,}", bhutan]


def test_asn_rows_without_a_network_are_grey():
    a = sample_analysis(by=["asn"])
    fig = plot_asn(a, top=None)
    (container,) = fig.axes[0].containers
    unknown = [asn is None for asn in a.rows[S.ASN]]
    assert any(unknown)
    assert [p.get_facecolor()[:3] == _rgb(BUCKET_COLOR) for p in container] == unknown


@pytest.mark.parametrize("kind", KINDS)
def test_a_chart_without_requests_says_so(kind):
    s = sample_paths()
    c = chart(
        kind, [s.log], city_db=s.city_db, asn_db=s.asn_db, since=datetime(2030, 1, 1, tzinfo=UTC)
    )
    assert c.analysis.meta["lines"]["matched"] == 0
    texts = [t.get_text() for t in c.figure.axes[0].texts]
    assert any(t.startswith("No ") and "requests in the selected logs" in t for t in texts)
    assert figure_bytes(c.figure, "png").startswith(MAGIC["png"])


VPN_LIST = Path(__file__).resolve().parents[2] / "fixtures" / "anon" / "vpn-list.txt"


def test_real_anonymizer_verdicts_split_the_bars(tmp_path, city_db):
    from loganalyzer.anonymity.sources import AnonymizerSources

    # 2.137.200.0/24 (Madrid) is on the VPN list; the others are direct.
    clients = [("175.167.1.2", 3), ("2.136.4.5", 2), ("2.137.200.1", 2), ("2.137.0.10", 1)]
    lines = [log_line(ip=ip, ts=T0 + timedelta(minutes=i)) for ip, n in clients for i in range(n)]
    log = write_log(tmp_path / "a.log", lines)
    out = tmp_path / "split.svg"
    proc = run_cli(
        "plot", str(log), "--city-db", str(city_db), "--ip-list", f"vpn={VPN_LIST}",
        "--kind", "regions", "--watch", "ES", "-o", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    words = svg_text(out.read_text(encoding="utf-8"))
    assert "3 (37.5%), 2 through VPN" in words  # Madrid: 1 with none known + 2 by VPN
    assert "through anonymizers" not in words
    sources = AnonymizerSources.load(ip_lists=[f"vpn={VPN_LIST}"])
    a = analyze([log], city_db=city_db, by=["region"], sources=sources)
    fig = plot_regions(a)
    # One segment per category: here every anonymized request is a VPN's.
    assert bar_widths(fig, "VPN") == [float(n) for n in a.rows[ANONYMIZED]]
    assert sum(bar_widths(fig, "VPN")) == 2
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[:2] == ["no anonymizer known", "VPN exit"]
    assert "VPN exit" in words


def test_plot_and_brief_use_the_settings_file(tmp_path):
    s = sample_paths()
    cfg = tmp_path / "settings.toml"
    cfg.write_text(
        f'city_db = "{s.city_db}"\nasn_db = "{s.asn_db}"\nlogs = ["{s.log}"]\nwatch = ["KP-01"]\n',
        encoding="utf-8",
    )
    env = {"LOGANALYZER_CONFIG": str(cfg), "LOGANALYZER_GEOIP_DIR": str(tmp_path)}
    out = tmp_path / "r.svg"
    proc = run_cli("-q", "plot", "--kind", "regions", "--top", "1", "-o", str(out), env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    words = svg_text(out.read_text(encoding="utf-8"))
    # The configured province is drawn (watched) though it is far from the top 1.
    assert "Pyongyang, North Korea (KP-01)" in words
    assert "GeoLite2-ASN built 2026-09-01" in words
    brief = tmp_path / "b.md"
    proc = run_cli("-q", "brief", "-o", str(brief), env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    assert "- Watched Pyongyang, North Korea (KP-01): " in brief.read_text(encoding="utf-8")


# --- compare: what changed between two periods ---------------------------------------------

CUT = datetime(2026, 9, 15, tzinfo=UTC)
# Baseline: Liaoning, Catalonia, England. Current: Liaoning again, Madrid and
# Washington only now (new), Catalonia and England no more (gone).
BASELINE_CLIENTS = ["175.167.1.2"] * 4 + ["2.136.4.5"] * 2 + ["81.2.69.160"] * 2
CURRENT_CLIENTS = ["175.167.1.2"] * 2 + ["2.137.0.9"] * 3 + ["216.160.83.57"] * 5


def _period_lines(clients: list[str], start: datetime) -> list[str]:
    return [log_line(ip=ip, ts=start + timedelta(minutes=i)) for i, ip in enumerate(clients)]


@pytest.fixture
def period_logs(tmp_path) -> dict[str, Path]:
    base = write_log(
        tmp_path / "last-week.log", _period_lines(BASELINE_CLIENTS, CUT - timedelta(hours=12))
    )
    cur = write_log(
        tmp_path / "this-week.log", _period_lines(CURRENT_CLIENTS, CUT + timedelta(hours=3))
    )
    both = write_log(
        tmp_path / "both.log",
        base.read_text(encoding="utf-8").splitlines()
        + cur.read_text(encoding="utf-8").splitlines(),
    )
    return {"baseline": base, "current": cur, "both": both}


def _offsets(fig, label: str) -> list[tuple[float, float]]:
    (coll,) = [c for c in fig.axes[0].collections if c.get_label() == label]
    return [(float(x), float(y)) for x, y in coll.get_offsets()]


@pytest.mark.parametrize("by", ["region", "country", "asn"])
def test_compare_chart_draws_the_comparison_numbers(period_logs, city_db, asn_db, by):
    from loganalyzer.analysis.compare import compare

    c = chart(
        "compare", [period_logs["both"]], baseline_until=CUT, by=by, watch=(), city_db=city_db,
        asn_db=asn_db,
    )  # fmt: skip
    expected = compare(
        [period_logs["both"]], baseline_until=CUT, by=[by], city_db=city_db, asn_db=asn_db
    )
    assert c.analysis.rows.equals(expected.rows)
    # Drawn in order of how far each share moved.
    rows = most_changed(expected.rows)
    assert rows.height >= 3
    fig = c.figure
    ys = [float(i) for i in range(rows.height)]
    assert _offsets(fig, "baseline") == list(zip(rows["share_baseline"].to_list(), ys, strict=True))
    assert _offsets(fig, "current") == list(zip(rows["share_current"].to_list(), ys, strict=True))
    keys = expected.meta["keys"]
    assert tick_texts(fig) == [
        place_label({k: r[k] for k in keys}) for r in rows.iter_rows(named=True)
    ]
    changes = rows["change"].to_list()
    new = [
        (r["share_current"], float(i))
        for i, r in enumerate(rows.iter_rows(named=True))
        if r["change"] == "new"
    ]
    gone = [
        (r["share_baseline"], float(i))
        for i, r in enumerate(rows.iter_rows(named=True))
        if r["change"] == "gone"
    ]
    assert _offsets(fig, "new") == new
    assert _offsets(fig, "gone") == gone
    assert "new" in changes
    assert "gone" in changes


def test_compare_chart_marks_new_gone_and_watched_places(period_logs, city_db):
    from loganalyzer.analysis.compare import compare

    a = compare([period_logs["both"]], baseline_until=CUT, watch=["ES-MD", "FR"], city_db=city_db)
    fig = plot_compare(a)
    labels = tick_texts(fig)
    # Washington moved most (0 to 5 of 10), then new Madrid (3 of 10) and Liaoning (4/8 to 2/10).
    assert labels[:3] == [
        "Washington, United States (US-WA)",
        "Community of Madrid, Spain (ES-MD)",
        "Liaoning, China (CN-LN)",
    ]
    assert _offsets(fig, "new") == [(pytest.approx(5 / 10), 0.0), (pytest.approx(3 / 10), 1.0)]
    # Catalonia and England had 2 of the baseline's 8 requests each, and none now.
    gone = [
        labels.index("Catalonia, Spain (ES-CT)"),
        labels.index("England, United Kingdom (GB-ENG)"),
    ]
    assert _offsets(fig, "gone") == [(pytest.approx(2 / 8), float(i)) for i in gone]
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "+3 requests, new" in texts
    assert "-2 requests, gone" in texts
    assert "no request in either period" in texts  # FR, watched, seen in neither
    # Liaoning: 4 of 8 requests, then 2 of 10.
    assert "-2 requests (4 → 2), 50% → 20% of the period" in texts
    watched = most_changed(a.rows)[S.WATCHED].to_list()
    for tick, w in zip(fig.axes[0].get_yticklabels(), watched, strict=True):
        assert (tick.get_color() == WATCH_COLOR) == w
    (current,) = [c for c in fig.axes[0].collections if c.get_label() == "current"]
    colors = [tuple(float(v) for v in c[:3]) for c in current.get_facecolors()]
    assert [c == _rgb(WATCH_COLOR) for c in colors] == watched
    assert fig.get_suptitle().replace("\n", " ") == (
        "Largest change: Washington, United States (US-WA), +50.0 points of share "
        "(0 → 5 requests); 2 new places, 2 gone"
    )
    sub = fig.axes[0].get_title(loc="left").replace("\n", " ")
    assert "baseline 2026-09-14 12:00 UTC to 2026-09-14 12:07 UTC (8 requests)" in sub
    assert "current 2026-09-15 03:00 UTC to 2026-09-15 03:09 UTC (10 requests)" in sub
    assert "split at 2026-09-15 00:00 UTC" in sub
    assert "GeoLite2-City built 2026-09-01" in sub


def test_compare_chart_refuses_a_plain_report():
    with pytest.raises(Exception, match="the compare chart needs a comparison"):
        plot_compare(sample_analysis(by=["region"]))


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_cli_compare_chart_from_the_sample(tmp_path, fmt):
    out = tmp_path / f"changes.{fmt}"
    proc = run_cli(
        "plot", "--sample", "--kind", "compare", "--baseline-until", "2026-09-16",
        "--watch", "CN-LN", "--watch", "FR", "-o", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    data = out.read_bytes()
    assert data.startswith(MAGIC[fmt])
    assert "Wrote compare chart to" in proc.stderr.decode()
    if fmt == "png":
        assert png_size(data) == (1600, 900)
    if fmt == "svg":
        words = svg_text(data.decode("utf-8"))
        assert "Liaoning, China (CN-LN)" in words
        assert "no request in either period" in words
        assert "split at 2026-09-16 00:00 UTC" in words
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_cli_compare_chart_from_two_log_sets(tmp_path, period_logs, city_db, asn_db):
    out = tmp_path / "changes.svg"
    proc = run_cli(
        "plot", "--kind", "compare", "--baseline", str(period_logs["baseline"]),
        "--current", str(period_logs["current"]), "--city-db", str(city_db),
        "--asn-db", str(asn_db), "--watch", "ES-MD", "--watch", "US", "-o", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    words = svg_text(out.read_text(encoding="utf-8"))
    for text in (
        "Community of Madrid, Spain (ES-MD)",
        "Washington, United States (US-WA)",
        "+3 requests, new",
        "-2 requests, gone",
        "(8 requests; log: last-week.log)",
        "(10 requests; log: this-week.log)",
        "GeoLite2-ASN built 2026-09-01",
    ):
        assert text in words
    # Watched labels are drawn in the highlight colour (SVG keeps text as text).
    svg = out.read_text(encoding="utf-8")
    madrid = svg.index("Community of Madrid, Spain (ES-MD)")
    assert WATCH_COLOR.lower() in svg[svg.rindex("<text", 0, madrid) : madrid].lower()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sample", "--kind", "compare", "-o", "c.png"], "--sample needs --baseline-until"),
        (
            ["--sample", "--kind", "regions", "--baseline-until", "2026-09-16", "-o", "c.png"],
            "go with --kind compare",
        ),
        (["--kind", "compare", "--baseline", "a.log", "-o", "c.png"], "both need logs"),
    ],
)
def test_cli_compare_chart_usage_errors(tmp_path, args, message):
    (tmp_path / "a.log").write_text(log_line() + "\n", encoding="utf-8")
    proc = run_cli("plot", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr.decode()
    assert message in proc.stderr.decode()
    assert not list(tmp_path.glob("*.png"))


def test_compare_chart_without_requests_says_so_and_top_keeps_watched():
    s = sample_paths()
    opts = {"city_db": s.city_db, "asn_db": s.asn_db, "baseline_until": datetime(2026, 9, 16)}
    empty = chart("compare", [s.log], since=datetime(2030, 1, 1, tzinfo=UTC), **opts)
    assert empty.analysis.rows.is_empty()
    texts = [t.get_text() for t in empty.figure.axes[0].texts]
    assert "No requests in the selected logs and time range." in texts
    sub = empty.figure.axes[0].get_title(loc="left").replace("\n", " ")
    assert sub.startswith("baseline: no requests · current: no requests")
    assert empty.figure.get_suptitle() == "Both periods are empty: no request in either"
    c = chart("compare", [s.log], top_n=2, watch=["KP-01"], **opts)
    labels = tick_texts(c.figure)
    assert labels[-1] == "Pyongyang, North Korea (KP-01)"
    assert len(labels) == 3
    sub = c.figure.axes[0].get_title(loc="left").replace("\n", " ")
    every = c.analysis.meta["rows_total"]
    assert sub.endswith(f"province or region: the 2 most changed of {every:,} and 1 watched")
