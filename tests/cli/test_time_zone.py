"""--tz and the settings' time_zone: day, hour and weekday rows counted in a zone."""

from __future__ import annotations

import csv
import io

import pytest

from tests.helpers import run_cli

# The sample's days in UTC, and in Shanghai (+08:00): a request at 16:12Z on the
# 14th is on the 15th there.
UTC_DAYS = {"2026-09-14T00:00:00Z": 118, "2026-09-15T00:00:00Z": 162, "2026-09-16T00:00:00Z": 117}
SHANGHAI_DAYS = {
    "2026-09-14T00:00:00+08:00": 64,
    "2026-09-15T00:00:00+08:00": 171,
    "2026-09-16T00:00:00+08:00": 162,
}


def _days(*args: str, env: dict[str, str] | None = None) -> dict[str, int]:
    r = run_cli("report", "--sample", "--by", "day", "-O", "csv", *args, env=env)
    assert r.returncode == 0, r.stderr
    return {
        row["day"]: int(row["requests"]) for row in csv.DictReader(io.StringIO(r.stdout.decode()))
    }


@pytest.mark.parametrize(
    ("args", "env", "want"),
    [
        pytest.param([], None, UTC_DAYS, id="utc-by-default"),
        pytest.param(["--tz", "Asia/Shanghai"], None, SHANGHAI_DAYS, id="tz-option"),
        pytest.param([], {"LOGANALYZER_TIME_ZONE": "Asia/Shanghai"}, SHANGHAI_DAYS, id="setting"),
        pytest.param(
            ["--tz", "UTC"], {"LOGANALYZER_TIME_ZONE": "Asia/Shanghai"}, UTC_DAYS, id="option-wins"
        ),
    ],
)
def test_days_are_counted_in_the_zone_asked_for(args, env, want):
    assert _days(*args, env=env) == want


def test_weekday_rows_are_in_iso_order():
    r = run_cli("report", "--sample", "--by", "weekday", "--tz", "Asia/Shanghai", "-O", "csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout.decode())))
    assert [row["weekday"] for row in rows] == ["1", "2", "3"]  # Monday 14 September 2026


def test_compare_counts_its_days_in_the_zone_too():
    r = run_cli(
        "compare", "--sample", "--baseline-until", "2026-09-15T16:00:00Z", "--by", "day",
        "--tz", "Asia/Shanghai", "-O", "csv",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    days = [row["day"] for row in csv.DictReader(io.StringIO(r.stdout.decode()))]
    assert days
    assert all(d.endswith("+08:00") for d in days)


def test_an_unknown_zone_is_a_usage_error():
    r = run_cli("report", "--sample", "--by", "hour", "--tz", "Mars/Olympus")
    assert r.returncode == 2
    assert "--tz 'Mars/Olympus' is not a known time zone" in r.stderr.decode()


def test_the_settings_zone_reaches_the_charts(tmp_path):
    out = tmp_path / "hours.svg"
    r = run_cli(
        "plot", "--sample", "--kind", "hours", "-o", str(out),
        env={"LOGANALYZER_TIME_ZONE": "Asia/Shanghai"},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "Asia/Shanghai" in out.read_text(encoding="utf-8")  # the title names the zone
