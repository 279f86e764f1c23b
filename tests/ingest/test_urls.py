"""Inputs named by URL (object stores through fsspec): the same report as a path."""

from __future__ import annotations

import gzip

import fsspec
import pytest
from polars.testing import assert_frame_equal

from loganalyzer import analyze, sample_paths
from loganalyzer.errors import InputFileError
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    d = tmp_path_factory.mktemp("urls")
    text = sample_paths().log.read_bytes()
    (d / "a.log.gz").write_bytes(gzip.compress(text[: len(text) // 2]))
    (d / "b.log").write_bytes(text[len(text) // 2 :])
    return d


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(["file://{d}/a.log.gz", "file://{d}/b.log"], id="file-urls"),
        pytest.param(["file://{d}/*.log*"], id="file-url-glob"),
        pytest.param(["{d}/a.log.gz", "file://{d}/b.log"], id="path-and-url"),
    ],
)
def test_url_inputs_report_like_paths(logs, city_db, spec):
    want = analyze([logs / "a.log.gz", logs / "b.log"], city_db=city_db)
    got = analyze([s.format(d=logs) for s in spec], city_db=city_db)
    assert_frame_equal(got.rows, want.rows)
    assert got.meta["lines"] == want.meta["lines"]
    assert [f["path"].rsplit("/", 1)[-1] for f in got.meta["files"]] == ["a.log.gz", "b.log"]


def test_an_in_memory_store_object(city_db):
    fs = fsspec.filesystem("memory")
    fs.pipe("/bucket/logs/x.log.gz", gzip.compress(sample_paths().log.read_bytes()))
    got = analyze(["memory://bucket/logs/*.gz"], city_db=city_db)
    want = analyze([sample_paths().log], city_db=city_db)
    assert_frame_equal(got.rows, want.rows)
    assert got.meta["files"][0]["path"] == "memory:///bucket/logs/x.log.gz"
    assert got.meta["files"][0]["size_bytes"] == fs.size("/bucket/logs/x.log.gz")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("file:///nonexistent/access.log", "no such file or object"),
        ("file:///nonexistent/*.log", "no object matches this pattern"),
        ("memory://bucket/missing.log", "no such file or object"),
    ],
)
def test_missing_objects_are_input_errors(url, problem, city_db):
    with pytest.raises(InputFileError, match=problem):
        analyze([url], city_db=city_db)


def test_cli_reads_urls_and_names_a_missing_store_driver(logs, city_db):
    url = f"file://{logs}/a.log.gz"
    by_url = run_cli("report", url, "--city-db", str(city_db), "-O", "csv")
    by_path = run_cli("report", str(logs / "a.log.gz"), "--city-db", str(city_db), "-O", "csv")
    assert by_url.returncode == 0, by_url.stderr
    assert by_url.stdout == by_path.stdout
    # No S3 driver is installed for the tests: one line says what is missing.
    r = run_cli("report", "s3://some-bucket/access.log", "--city-db", str(city_db))
    assert r.returncode == 3, r.stderr
    assert b"s3fs" in r.stderr
    assert r.stderr.count(b"\n") == 1
