"""A GeoIP database built far from the log's time range is said to be so."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.helpers import load_records, log_line, make_mmdb, run_cli

LOG_TIME = datetime(2026, 9, 14, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("built", "gap", "warned"),
    [
        pytest.param(datetime(2026, 9, 1, tzinfo=UTC), 13, False, id="two-weeks-before"),
        pytest.param(datetime(2026, 9, 14, 6, tzinfo=UTC), 0, False, id="inside-the-range"),
        pytest.param(datetime(2025, 9, 1, tzinfo=UTC), 378, True, id="a-year-before"),
        pytest.param(datetime(2027, 6, 1, tzinfo=UTC), 259, True, id="long-after"),
    ],
)
def test_database_build_against_the_logs_time_range(tmp_path, built, gap, warned):
    city = make_mmdb(
        tmp_path / "GeoLite2-City.mmdb", "GeoLite2-City", load_records("city"),
        build_epoch=int(built.timestamp()),
    )  # fmt: skip
    log = tmp_path / "a.log"
    log.write_text(log_line(ts=LOG_TIME) + "\n" + log_line(ts=LOG_TIME.replace(hour=9)) + "\n")
    r = run_cli("report", str(log), "--city-db", str(city), "-O", "json")
    assert r.returncode == 0, r.stderr
    meta = json.loads(r.stdout)["meta"]
    (db,) = meta["databases"]
    assert db["log_gap_days"] == gap
    note = f"{city}: built {built:%Y-%m-%d}, {gap} days"
    assert any(w.startswith(note) for w in meta["warnings"]) == warned
    assert (note in r.stderr.decode()) == warned
