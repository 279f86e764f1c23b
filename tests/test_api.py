"""The public API: cheap to import, complete, and equal to the CLI's pipeline."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest
from polars.testing import assert_frame_equal

import loganalyzer


def test_import_does_not_load_matplotlib():
    code = (
        "import sys, loganalyzer\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"[]\n"


@pytest.mark.parametrize("name", loganalyzer.__all__)
def test_all_names_exist(name):
    assert getattr(loganalyzer, name, None) is not None


def test_all_has_no_duplicates():
    assert len(set(loganalyzer.__all__)) == len(loganalyzer.__all__)


def test_version_matches_metadata():
    assert loganalyzer.__version__ == version("loganalyzer")


@pytest.fixture(scope="module")
def sample():
    return loganalyzer.sample_paths()


@pytest.fixture(scope="module")
def sample_dbs(sample):
    return loganalyzer.GeoDatabases.open(city=sample.city_db, asn=sample.asn_db, search=False)


def test_notebook_flow_equals_analyze(sample, sample_dbs):
    rows = loganalyzer.parse(loganalyzer.read_lines([sample.log])).rows
    enriched = loganalyzer.enrich(rows, sample_dbs)
    by_region = loganalyzer.by_region(enriched)

    analysis = loganalyzer.analyze([sample.log], city_db=sample.city_db, asn_db=sample.asn_db)
    assert_frame_equal(by_region, analysis.rows)
    assert by_region.height > 0
    assert int(by_region["requests"].sum()) == analysis.meta["lines"]["matched"]


@pytest.mark.parametrize(
    ("helper", "by"),
    [
        (loganalyzer.by_country, ["country"]),
        (loganalyzer.top_networks, ["asn"]),
    ],
    ids=["by_country", "top_networks"],
)
def test_notebook_helpers_equal_analyze(sample, sample_dbs, helper, by):
    rows = loganalyzer.parse(loganalyzer.read_lines([sample.log])).rows
    enriched = loganalyzer.enrich(rows, sample_dbs)
    assert_frame_equal(
        helper(enriched), loganalyzer.analyze([sample.log], dbs=sample_dbs, by=by).rows
    )


@pytest.mark.parametrize(
    "by", [["path"], ["day"], ["ip"], ["region", "asn"]], ids=["path", "day", "ip", "region+asn"]
)
def test_aggregate_equals_analyze(sample, sample_dbs, by):
    rows = loganalyzer.parse(loganalyzer.read_lines([sample.log])).rows
    enriched = loganalyzer.enrich(rows, sample_dbs)
    assert_frame_equal(
        loganalyzer.aggregate(enriched, by=by),
        loganalyzer.analyze([sample.log], dbs=sample_dbs, by=by).rows,
    )


def test_analyze_views_equals_one_analyze_per_view(city_db, asn_db):
    from datetime import UTC, datetime
    from pathlib import Path

    from loganalyzer.analysis.pipeline import View, analyze, analyze_views

    log = Path(__file__).resolve().parent.parent / "fixtures" / "logs" / "combined.log"
    views = {
        "region": View(("region",), watch=("CN-LN", "FR")),
        "asn": View(("asn",), top_n=3),
        "country_day": View(("country", "day")),
        "path_status": View(("path", "status")),
        "status": View(("status",)),
        "ip": View(("ip",)),
        "ts": View(("ts",)),
        "hour": View(("hour",)),
    }
    options = {
        "city_db": city_db,
        "asn_db": asn_db,
        "where": ["status<500"],
        "since": datetime(2026, 9, 13, tzinfo=UTC),
        "log_format": "combined",
    }
    got = analyze_views([log], views, **options)
    assert list(got) == list(views)
    for name, view in views.items():
        want = analyze([log], by=view.by, watch=view.watch, top_n=view.top_n, **options)
        assert_frame_equal(got[name].rows, want.rows)
        assert got[name].meta["keys"] == want.meta["keys"]
        assert got[name].meta["lines"] == want.meta["lines"]
        assert got[name].meta["rows_total"] == want.meta["rows_total"]
    assert got["status"].meta["lines"]["matched"] > 0
