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
