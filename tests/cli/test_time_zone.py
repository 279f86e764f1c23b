"""--tz and the settings' time_zone: day, hour and weekday rows counted in a zone."""

from __future__ import annotations

import csv
import io
import json

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


@pytest.mark.parametrize(
    ("command", "args", "row_key", "utc", "shanghai"),
    [
        # The busiest Liaoning address was first seen at 07:41Z, 15:41 in Shanghai.
        pytest.param(
            "ips", ["--where", "region_iso=CN-LN"], "175.167.45.201", "09-14 07:41",
            "09-14 15:41", id="ips",
        ),
        # The first day's first request was at 07:08Z, 15:08 in Shanghai.
        pytest.param("report", ["--by", "day"], "2026-09-14T", "09-14 07:08", "09-14 15:08",
                     id="report-by-day"),
    ],
)  # fmt: skip
def test_tables_show_first_and_last_seen_in_the_zone(command, args, row_key, utc, shanghai):
    def first_row(*extra: str) -> tuple[str, str]:
        r = run_cli(command, "--sample", *args, *extra, env={"COLUMNS": "160"})
        assert r.returncode == 0, r.stderr
        out = r.stdout.decode()
        return next(line for line in out.splitlines() if row_key in line), out

    row, _ = first_row()
    assert utc in row
    row, out = first_row("--tz", "Asia/Shanghai")
    assert shanghai in row
    assert utc not in row
    assert "times in Asia/Shanghai" in out


def test_machine_outputs_keep_utc_with_a_zone():
    r = run_cli("ips", "--sample", "--tz", "Asia/Shanghai", "-O", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["meta"]["time_zone"] == "Asia/Shanghai"
    assert all(row["first_seen"].endswith("Z") for row in doc["rows"])
