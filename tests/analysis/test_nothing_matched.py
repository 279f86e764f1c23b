"""Nothing is silently empty: every command says when no request matched, and exits 6."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run_cli

COVERS = "the logs cover 2026-09-14T07:08:07Z to 2026-09-16T15:59:04Z"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["report", "--sample", "--where", "region_iso=CN-SH", "-O", "json"],
            f"no request matched (--where region_iso=CN-SH); {COVERS}; the output is empty",
            id="report-where",
        ),
        pytest.param(
            ["report", "--sample", "--since", "2026-10-01", "-O", "json"],
            f"no request matched (--since 2026-10-01T00:00:00Z); {COVERS}",
            id="report-since-after-the-log",
        ),
        pytest.param(
            ["report", "--sample", "--workers", "1", "--where", "status=599", "-O", "json"],
            f"no request matched (--where status=599); {COVERS}",
            id="report-on-a-cluster",
        ),
        pytest.param(
            ["ips", "--sample", "--where", "status=599", "-O", "json"],
            f"no request matched (--where status=599); {COVERS}",
            id="ips",
        ),
        pytest.param(
            ["compare", "--sample", "--baseline-until", "2026-09-20", "-O", "json"],
            "the current period holds no request (--baseline-until 2026-09-20T00:00:00Z); "
            f"{COVERS}; every row reads gone",
            id="compare-empty-current-period",
        ),
    ],
)
def test_an_empty_result_is_said_and_flagged(args, message):
    r = run_cli(*args)
    assert r.returncode == 6, r.stderr
    assert message in r.stderr.decode()
    doc = json.loads(r.stdout)  # the output is still written, for scripts
    assert doc["meta"]["nothing_matched"]


@pytest.mark.parametrize("kind", ["regions", "hours"])
def test_a_chart_of_nothing_says_so(tmp_path, kind):
    out = tmp_path / "c.png"
    r = run_cli("plot", "--sample", "--kind", kind, "--where", "region_iso=CN-SH", "-o", str(out))
    assert r.returncode == 6, r.stderr
    assert "no request matched (--where region_iso=CN-SH)" in r.stderr.decode()


def test_a_briefing_of_nothing_says_so(tmp_path):
    out = tmp_path / "b.html"
    r = run_cli("brief", "--sample", "--since", "2027-01-01", "-o", str(out))
    assert r.returncode == 6, r.stderr
    assert "no request matched (--since 2027-01-01T00:00:00Z)" in r.stderr.decode()


def test_a_match_is_not_flagged():
    r = run_cli("report", "--sample", "--where", "region_iso=CN-LN", "-O", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["meta"]["nothing_matched"] is False


def test_from_stdin_the_range_is_unknown_but_the_flag_stands():
    from loganalyzer.analysis.pipeline import sample_paths

    s = sample_paths()
    r = run_cli(
        "report", "-", "--city-db", str(s.city_db), "--since", "2027-01-01", "-O", "json",
        stdin=s.log.read_bytes(),
    )  # fmt: skip
    assert r.returncode == 6
    assert "the logs' time range is unknown (read from stdin)" in r.stderr.decode()
    flag = json.loads(r.stdout)["meta"]["nothing_matched"]
    assert flag["log_time_range"] == {"first": None, "last": None}
