"""Charts state their finding and their scope: titles with numbers, filters named, coverage shown.

Assertions read the Figure's artists (title text, patches, image masks, text
bounding boxes from the Agg renderer), never pixels.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loganalyzer.outputs.charts import chart

pytest.importorskip("matplotlib")

from tests.helpers import log_line

T0 = datetime(2026, 9, 14, 0, 0, 0, tzinfo=UTC)  # a Monday
LIAONING, MADRID = "175.167.1.2", "2.136.4.5"


def write_log(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def title(fig) -> str:
    return fig._suptitle.get_text()


def sub(fig) -> str:
    ax = fig.axes[0]
    return " ".join((ax.get_title(loc="left") or ax.get_title()).split())


# --- hours: coverage ---------------------------------------------------------------------------


def test_heatmap_hatches_hours_the_log_does_not_reach(tmp_path, city_db):
    # Monday 10:00 to Tuesday 11:00 UTC, with a quiet Monday 15:00 inside the range.
    lines = [log_line(ip=LIAONING, ts=T0 + timedelta(hours=h, minutes=5)) for h in (10, 11, 35)]
    log = write_log(tmp_path / "a.log", lines)
    fig = chart("hours", [log], city_db=city_db, tz="UTC").figure
    ax = fig.axes[0]
    (image,) = ax.get_images()
    mask = image.get_array().mask
    outside = {
        (round(p.get_y() + 0.5), round(p.get_x() + 0.5))
        for p in ax.patches
        if p.get_gid() == "not-in-log"
    }
    covered = {(0, h) for h in range(10, 24)} | {(1, h) for h in range(12)}
    assert outside == {(d, h) for d in range(7) for h in range(24)} - covered
    assert {(d, h) for d in range(7) for h in range(24) if mask[d][h]} == outside
    texts = {
        (round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts
    }
    # A reached hour without a request says 0; a weekday the log never reaches says so.
    assert texts[(0, 15)] == "0"
    assert texts[(0, 10)] == "1"
    assert [t.get_text() for t in ax.texts].count("not in the log") == 5
    assert title(fig) == "Busiest hour: Mon 10:00-10:59 UTC, 1 of 3 requests (33%)"


def test_heatmap_of_a_full_week_hatches_nothing(tmp_path, city_db):
    lines = [log_line(ip=LIAONING, ts=T0 + timedelta(days=d)) for d in range(9)]
    fig = chart("hours", [write_log(tmp_path / "a.log", lines)], city_db=city_db).figure
    assert not [p for p in fig.axes[0].patches if p.get_gid() == "not-in-log"]
    assert "not in the log" not in [t.get_text() for t in fig.axes[0].texts]


# --- subtitles name every filter ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["regions", "timeline", "hours", "map", "asn"])
def test_subtitle_names_each_filter_window_and_watched_place(tmp_path, city_db, asn_db, kind):
    lines = [
        log_line(ip=ip, ts=T0 + timedelta(hours=h)) for h in range(6) for ip in (LIAONING, MADRID)
    ]
    log = write_log(tmp_path / "a.log", lines)
    fig = chart(
        kind,
        [log],
        city_db=city_db,
        asn_db=asn_db,
        where=["country_iso=CN"],
        since=T0 + timedelta(hours=1),
        until=T0 + timedelta(hours=5),
        watch=[] if kind == "asn" else ["CN-LN"],
        tz="Asia/Shanghai",
    ).figure
    text = sub(fig)
    assert "only country_iso=CN" in text
    assert "from 2026-09-14 01:00 UTC until 2026-09-14 05:00 UTC" in text
    assert "log: a.log" in text
    # The heatmap and the network bars do not mark watched places, so they do not name them.
    assert ("watched: CN-LN" in text) == (kind in ("regions", "timeline", "map"))
    if kind == "hours":
        assert "shown in Asia/Shanghai" in text


# --- compare: what moved, in plain words, legible -----------------------------------------------


def drawn(fig):
    """The figure laid out and drawn by the Agg renderer, for real text extents."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    return fig.canvas.get_renderer()


def overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def many_places_log(path: Path, cut: datetime) -> Path:
    """Every network of the fixture City DB, in two periods with different mixes."""
    import ipaddress

    from tests.helpers import load_records

    ips = [str(ipaddress.ip_network(c)[1]) for c in load_records("city")]
    lines = []
    for i, ip in enumerate(ips):
        before, after = 1 + i % 4, (i * 7) % 5
        lines += [log_line(ip=ip, ts=cut - timedelta(hours=1 + k)) for k in range(before)]
        lines += [log_line(ip=ip, ts=cut + timedelta(hours=1 + k)) for k in range(after)]
    return write_log(path, lines)


CHANGE_TEXT = re.compile(
    r"[+-][\d,]+ requests?(, new|, gone| \([\d,]+ → [\d,]+\), [\d.]+% → [\d.]+% of the period)"
    r"|no request in either period"
)


def test_compare_chart_keeps_the_most_changed_and_watched_labels_clear(tmp_path, city_db):
    cut = T0 + timedelta(days=1)
    log = many_places_log(tmp_path / "a.log", cut)
    c = chart("compare", [log], baseline_until=cut, city_db=city_db, watch=["KP"], top_n=4)
    fig = c.figure
    renderer = drawn(fig)
    ax = fig.axes[0]
    notes = [t for t in ax.texts if t.get_gid() == "change"]
    rows = c.analysis.rows
    assert rows.height > 5
    assert len(notes) == 4 + int(rows["watched"].sum())
    # The title states the largest move of any place, drawn or not.
    moved = (rows["share_current"] - rows["share_baseline"]).abs().sort(descending=True)
    assert [t.get_text() for t in notes].count("no request in either period") <= 1
    assert all(CHANGE_TEXT.fullmatch(n.get_text()) for n in notes), [n.get_text() for n in notes]
    legend = ax.get_legend().get_window_extent(renderer)
    boxes = [n.get_window_extent(renderer) for n in notes]
    for box in boxes:
        assert not overlaps(box, legend)
        assert fig.bbox.x0 <= box.x0
        assert box.x1 <= fig.bbox.x1
    for i, a in enumerate(boxes):
        assert not any(overlaps(a, b) for b in boxes[i + 1 :])
    points = 100 * moved[0]
    assert f"{points:.1f} points of share" in fig.get_suptitle().replace("\n", " ")


def test_compare_chart_states_an_empty_current_period_in_the_title(tmp_path, city_db):
    log = write_log(tmp_path / "a.log", [log_line(ip=LIAONING, ts=T0)])
    cut = datetime(2026, 10, 1, tzinfo=UTC)
    fig = chart("compare", [log], baseline_until=cut, city_db=city_db).figure
    assert fig.get_suptitle() == (
        "The current period is empty: no request from 2026-10-01 00:00 UTC on"
    )


# --- titles state the finding -----------------------------------------------------------------


def finding_log(tmp_path) -> Path:
    # Liaoning: 5 requests from 2 addresses; Madrid: 2 from 1; over three hours.
    lines = [log_line(ip=LIAONING, ts=T0 + timedelta(hours=h)) for h in (0, 0, 1, 2)]
    lines += [log_line(ip="175.167.9.9", ts=T0 + timedelta(minutes=5))]
    lines += [log_line(ip=MADRID, ts=T0 + timedelta(hours=h)) for h in (1, 2)]
    return write_log(tmp_path / "f.log", lines)


@pytest.mark.parametrize(
    ("kind", "where", "expected"),
    [
        ("regions", [], "Liaoning, China (CN-LN) leads: 5 of 7 requests (71%) from 2 addresses"),
        ("regions", ["region_iso=CN-LN"], "Liaoning, China (CN-LN): 5 requests from 2 addresses"),
        (
            "timeline",
            [],
            "Peak: 3 requests in the hour from 2026-09-14 00:00 UTC; 7 in all over 3 hours",
        ),
        ("hours", [], "Busiest hour: Mon 00:00-00:59 UTC, 3 of 7 requests (43%)"),
        (
            "map",
            [],
            "Liaoning, China (CN-LN) leads the map: 5 of 7 requests (71%); 2 locations in 2 places",
        ),
    ],
)
def test_title_states_the_finding_with_its_numbers(tmp_path, city_db, kind, where, expected):
    fig = chart(kind, [finding_log(tmp_path)], city_db=city_db, where=where).figure
    assert title(fig).replace("\n", " ") == expected


def test_title_of_the_network_chart_names_the_leading_network(tmp_path, city_db, asn_db):
    fig = chart("asn", [finding_log(tmp_path)], city_db=city_db, asn_db=asn_db).figure
    assert re.fullmatch(
        r"AS\d+ .+ leads: 5 of 7 requests \(71%\) from 2 addresses", title(fig).replace("\n", " ")
    )


def test_cli_title_replaces_the_generated_one(tmp_path, city_db):
    from tests.helpers import run_cli

    log = finding_log(tmp_path)
    out = tmp_path / "h.svg"
    proc = run_cli(
        "plot", str(log), "--city-db", str(city_db), "--kind", "hours",
        "--title", "Liaoning at night", "-o", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    svg = out.read_text(encoding="utf-8")
    assert "Liaoning at night" in svg
    assert "Busiest hour" not in svg
    page = tmp_path / "b.html"
    proc = run_cli(
        "brief", str(log), "--city-db", str(city_db), "--title", "Case <7>", "-o", str(page)
    )
    assert proc.returncode == 0, proc.stderr.decode()
    text = page.read_text(encoding="utf-8")
    assert "<title>Case &lt;7&gt;</title>" in text
    assert "<h1>Case &lt;7&gt;</h1>" in text


# --- map: labels clear of each other and of the edges; legends; extent ------------------------


@pytest.mark.parametrize("extent", ["world", "data"])
def test_map_labels_never_overlap_nor_leave_the_axes(extent):
    from loganalyzer.analysis.pipeline import analyze, sample_paths
    from loganalyzer.outputs.charts import plot_map

    s = sample_paths()
    a = analyze(
        [s.log], city_db=s.city_db, asn_db=s.asn_db, by=["region", "latitude", "longitude"],
        watch=["ES"],
    )  # fmt: skip
    fig = plot_map(a, extent=extent)
    renderer = drawn(fig)
    ax = fig.axes[0]
    labels = [t for t in ax.texts if t.get_gid() == "place"]
    assert len(labels) >= 5
    boxes = [t.get_window_extent(renderer) for t in labels]
    inside = ax.get_window_extent(renderer)
    for i, box in enumerate(boxes):
        assert inside.x0 <= box.x0
        assert box.x1 <= inside.x1
        assert inside.y0 <= box.y0
        assert box.y1 <= inside.y1
        assert not any(overlaps(box, other) for other in boxes[i + 1 :])
    texts = [t.get_text() for t in labels]
    assert "Liaoning, China (CN-LN): 187" in texts
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[-1] == "watched (--watch)"
    assert legend[0].endswith(" requests")
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    # The map fills the axes: one degree is as long both ways.
    assert (x1 - x0) / (y1 - y0) == pytest.approx(inside.width / inside.height, rel=0.02)
    if extent == "data":
        assert x1 - x0 < 360


# --- timeline: the axis covers the requests; outliers in an inset; watched colour -------------


def outlier_log(tmp_path) -> Path:
    # Two days of steady traffic, then 5 requests three weeks later.
    lines = [
        log_line(ip=ip, ts=T0 + timedelta(hours=h))
        for h in range(48)
        for ip in (LIAONING, MADRID, "81.2.69.160")
    ]
    late = T0 + timedelta(days=23, hours=3)
    lines += [log_line(ip=LIAONING, ts=late + timedelta(hours=k)) for k in range(5)]
    return write_log(tmp_path / "o.log", lines)


def test_timeline_axis_covers_the_main_period_and_notes_the_outliers(tmp_path, city_db):
    from matplotlib.dates import num2date

    from loganalyzer.outputs.charts.style import WATCH_COLOR

    fig = chart("timeline", [outlier_log(tmp_path)], city_db=city_db, watch=["ES", "CN-LN"]).figure
    ax = fig.axes[0]
    lo, hi = (num2date(x) for x in ax.get_xlim())
    assert hi - lo < timedelta(days=3)
    (inset,) = [a for a in ax.child_axes if a.get_label() == "outliers"]
    assert [p.get_height() for p in inset.patches] == [5]
    (note,) = [t for t in inset.texts if t.get_gid() == "outliers"]
    assert " ".join(note.get_text().split()) == (
        "5 requests on 7 Oct 2026 outside the main period (inset)"
    )
    assert title(fig).replace("\n", " ").endswith("144 over 48 hours, 5 more outside it")
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    watched = [ln for label, ln in lines.items() if label.endswith("[watched]")]
    assert len(watched) == 2
    assert all(ln.get_color() == WATCH_COLOR for ln in watched)
    assert len({str(ln.get_linestyle()) for ln in watched}) == 2
    others = [ln for label, ln in lines.items() if not label.endswith("[watched]")]
    assert all(ln.get_color() != WATCH_COLOR for ln in others)


def test_timeline_log_scale_and_no_inset_without_outliers(tmp_path, city_db):
    fig = chart("timeline", [finding_log(tmp_path)], city_db=city_db, log_scale=True).figure
    ax = fig.axes[0]
    assert ax.get_yscale() == "symlog"
    assert "log scale" in ax.get_ylabel()
    assert not ax.child_axes


def test_timeline_suggests_log_scale_when_a_watched_line_lies_flat(tmp_path, city_db):
    lines = [log_line(ip=LIAONING, ts=T0 + timedelta(hours=h % 3)) for h in range(300)]
    lines.append(log_line(ip=MADRID, ts=T0 + timedelta(hours=1)))
    log = write_log(tmp_path / "flat.log", lines)
    hint = "watched line(s) under 2% of the peak: --log-scale shows them."
    flat = chart("timeline", [log], city_db=city_db, watch=["ES"]).figure
    assert any(hint in t.get_text() for t in flat.texts)
    logged = chart("timeline", [log], city_db=city_db, watch=["ES"], log_scale=True).figure
    assert not any(hint in t.get_text() for t in logged.texts)
