"""The briefing's rule-based sections: what stands out, and one section per watched place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loganalyzer.outputs.briefing import briefing
from tests.helpers import log_line

T0 = datetime(2026, 9, 14, 0, 0, 0, tzinfo=UTC)
LIAONING, MADRID, ENGLAND = "175.167.1.2", "2.136.4.5", "81.2.69.160"


@pytest.fixture
def incident_log(tmp_path) -> Path:
    """Two steady days from Liaoning and Madrid; three weeks later, England, briefly."""
    lines = [
        log_line(ip=ip, ts=T0 + timedelta(hours=h), request="GET /products HTTP/1.1")
        for h in range(48)
        for ip in (LIAONING, MADRID)
    ]
    late = T0 + timedelta(days=23, hours=3)
    lines += [
        log_line(
            ip=ENGLAND, ts=late + timedelta(minutes=4 * k), request="GET /.git/config HTTP/1.1"
        )
        for k in range(6)
    ]
    path = tmp_path / "incident.log"
    path.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    return path


def test_what_stands_out_names_late_bursts_and_rare_paths(incident_log, city_db):
    b = briefing([incident_log], city_db=city_db, watch=["GB-ENG"], fmt="markdown", charts=False)
    (section,) = [s for s in b.sections if s.id == "stands-out"]
    said = list(section.paragraphs)
    period = "a period from 2026-09-14 00:00 UTC to 2026-10-07 03:20 UTC"
    assert (
        "Place England, United Kingdom (GB-ENG) appears only late: 6 requests from 1 address, "
        f"all from 2026-10-07 03:00 UTC on (the last 10% of {period})."
    ) in said
    assert (
        "Place England, United Kingdom (GB-ENG) came in one burst: 6 requests from 1 address "
        "within 20 minutes from 2026-10-07 03:00 UTC, in a period of 23.1 days."
    ) in said
    assert any(p.startswith("Path /.git/config appears only late: 6 requests") for p in said)
    assert (
        "Watched GB-ENG fetched the rare path /.git/config: 6 requests from 1 of the 1 address "
        "in the whole log that fetched it, from 2026-10-07 03:00 UTC."
    ) in said
    # The steady places meet no rule.
    assert not [p for p in said if "Liaoning" in p or "Madrid" in p]
    assert "## What stands out" in b.text


def test_a_section_per_watched_place_in_its_own_time_zone(incident_log, city_db):
    b = briefing([incident_log], city_db=city_db, watch=["CN-LN", "FR"], fmt="html", charts=False)
    sections = {s.id: s for s in b.sections}
    ln = sections["watched-cn-ln"]
    assert ln.heading == "Watched: Liaoning, China (CN-LN)"
    assert ln.paragraphs[0] == (
        "48 requests from 1 address, first at 2026-09-14 00:00 UTC, last at 2026-09-15 23:00 UTC."
    )
    assert ln.paragraphs[2].startswith("In the place's own time (Asia/Shanghai): busiest hour:")
    (caption, header, body), (ncap, _, nets) = ln.tables
    assert header == ["path", "requests", "addresses"]
    assert len(nets) == 1
    assert caption == "Paths it fetched most"
    assert body == [["/products", 48, 1]]
    assert ncap == "Networks"
    assert sections["watched-fr"].paragraphs == ("No access from FR in these logs.",)
    assert '<section id="watched-cn-ln"><h2>Watched: Liaoning, China (CN-LN)</h2>' in b.text


def test_pdf_briefing_pages_and_text(tmp_path):
    import os
    import re
    import shutil
    import subprocess

    from tests.helpers import run_cli

    out = tmp_path / "briefing.pdf"
    proc = run_cli("brief", "--sample", "--watch", "CN-LN", "-o", str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type /Page\b", data))
    # Text pages, then one page per chart: five charts and the watched place's timeline.
    assert pages >= 1 + 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["briefing.pdf"]
    tool = shutil.which("pdftotext")
    if tool is None:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail("CI needs pdftotext (poppler-utils) to read the PDF briefing back")
        return
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, check=True, text=True)
    assert f"Pages:           {pages}" in info.stdout
    text = subprocess.run([tool, str(out), "-"], capture_output=True, check=True, text=True)
    words = " ".join(text.stdout.split())
    for expected in (
        "Access briefing",
        "Key findings",
        "Watched: Liaoning, China (CN-LN)",
        "187 requests from 11 addresses",
        "What stands out",
        "Provenance",
        "Caveats",
        "Access briefing · page 1",
        f"Access briefing · page {pages}",
    ):
        assert expected in words, expected


def test_compare_baseline_adds_the_compare_section(tmp_path):
    from tests.helpers import run_cli

    out = tmp_path / "b.md"
    proc = run_cli(
        "brief", "--sample", "--watch", "CN-LN", "--compare-baseline", "2026-09-16", "-o", str(out)
    )
    assert proc.returncode == 0, proc.stderr.decode()
    doc = out.read_text(encoding="utf-8")
    section = doc.split("## What changed since the baseline", 1)[1].split("\n## ", 1)[0]
    assert "Largest change: Catalonia, Spain (ES-CT), -4.3 points of share (55 → 18 requests)" in (
        section
    )
    assert "split at 2026-09-16 00:00 UTC" in section
    assert "| Liaoning, China (CN-LN) | down | 129 | 58 | -71 requests (129 → 58)" in section
    assert "](b_files/" in section
    plain = run_cli("brief", "--sample", "-o", str(tmp_path / "plain.md"))
    assert plain.returncode == 0
    assert "What changed" not in (tmp_path / "plain.md").read_text(encoding="utf-8")
