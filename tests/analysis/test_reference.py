"""The fast path against the straightforward one: identical reports.

The report streams batches, reduces each to per-client partials, merges them,
looks each client up once, and reads Apache times by a quick fixed-width path.
The straightforward pipeline reads the whole file as one frame, parses every
time with the general parser, enriches every request and aggregates once. On
the test logs (the fixtures, the hostile log, a generated benchmark log) both
must give the same rows, to the byte.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

import loganalyzer.analysis.pipeline as pipeline
import loganalyzer.analysis.reading as reading_module
from loganalyzer.analysis.aggregate import aggregate
from loganalyzer.analysis.bench import generate_log
from loganalyzer.analysis.bench_formats import CONVERTIBLE, convert_log
from loganalyzer.geo.databases import GeoDatabases
from loganalyzer.geo.enrich import enrich
from loganalyzer.ingest import native
from loganalyzer.ingest.detect import parse
from loganalyzer.ingest.presets import get_format
from loganalyzer.ingest.read import iter_batches, read_lines
from tests.helpers import FIXTURES

# The module, not the function of the same name that the package exports.
parse_module = importlib.import_module("loganalyzer.ingest.parse")
jsonlines = importlib.import_module("loganalyzer.ingest.jsonlines")

BYS = [["region"], ["country"], ["asn"], ["city"], ["ip"], ["status", "country"], ["hour"]]


def _straightforward(path: Path, fmt: str, dbs: GeoDatabases, by: list[str]):
    rows = parse(read_lines([path]).collect(), fmt=fmt).rows
    return aggregate(enrich(rows, dbs), by=by)


@pytest.fixture(scope="module")
def dbs(city_db, asn_db) -> GeoDatabases:
    return GeoDatabases.open(city=city_db, asn=asn_db)


@pytest.fixture(scope="module")
def generated(tmp_path_factory, city_db) -> Path:
    # Heavy hitters, a third IPv6, six offsets, malformed lines: the benchmark's log.
    return generate_log(
        tmp_path_factory.mktemp("gen") / "bench.log", lines=3000, seed=11, city_db=city_db
    )


def _logs(generated: Path) -> list[tuple[Path, str]]:
    logs = FIXTURES / "logs"
    return [
        (logs / "combined.log", "combined"),
        (logs / "common.log", "common"),
        (logs / "vhost_combined.log", "vhost_combined"),
        (logs / "nginx_main.log", "nginx_main"),
        (pipeline.sample_paths().log, "combined"),
        (generated, "combined"),
    ]


@pytest.mark.parametrize("scanner", ["native", "polars"])
@pytest.mark.parametrize("by", BYS, ids=lambda b: "+".join(b))
def test_report_equals_the_straightforward_pipeline(monkeypatch, dbs, generated, by, scanner):
    # Small batches, so that partials are merged across batches as in a big log.
    monkeypatch.setattr(
        reading_module, "iter_batches", functools.partial(iter_batches, batch_bytes=4096)
    )
    monkeypatch.setenv("LOGANALYZER_NATIVE", "1" if scanner == "native" else "0")
    if scanner == "native" and not native.AVAILABLE:
        pytest.skip("built without a C compiler")
    scanned = []
    monkeypatch.setattr(
        native, "scan", lambda b, k, real=native.scan: scanned.append(b) or real(b, k)
    )
    real_add, real_read = native.Sums.add, native.Sums.read
    monkeypatch.setattr(native.Sums, "add", lambda s, b, k: scanned.append(b) or real_add(s, b, k))
    monkeypatch.setattr(
        native.Sums, "read", lambda s, *a, **k: scanned.append(a) or real_read(s, *a, **k)
    )
    for path, fmt in _logs(generated):
        fast = pipeline.analyze([path], log_format=fmt, dbs=dbs, by=by).rows
        with monkeypatch.context() as m:
            m.setattr(parse_module, "QUICK_CLF_TIMES", False)
            slow = _straightforward(path, fmt, dbs, by)
        assert fast.height > 0, path
        assert_frame_equal(fast.drop("watched", strict=False), slow), (path, by)
    # Every grouping here needs only what the scanner reads (hour comes from the
    # time): it reads the common and combined logs, and nothing when it is off.
    assert bool(scanned) == (scanner == "native")


def test_the_two_time_parsers_differ_only_in_speed(generated):
    # The reference really takes the other path: no quick-path column is made.
    fmt = get_format("combined")
    lines = read_lines([generated]).collect()
    quick = parse_module.parse_lines(lines.lazy(), fmt)
    assert "_clf_quick" in quick.explain()
    try:
        parse_module.QUICK_CLF_TIMES = False
        general = parse_module.parse_lines(lines.lazy(), fmt)
        assert "_clf_quick" not in general.explain()
    finally:
        parse_module.QUICK_CLF_TIMES = True
    assert_frame_equal(quick.collect(), general.collect())


@pytest.mark.parametrize("name", CONVERTIBLE)
def test_every_preset_reports_as_the_straightforward_pipeline(
    monkeypatch, tmp_path, dbs, generated, name
):
    # The benchmark's requests written in each format: the report through every
    # quick path (JSON reader, ISO and W3C splitting, AWS prefixes) against the
    # reference with all of them off.
    monkeypatch.setattr(
        reading_module, "iter_batches", functools.partial(iter_batches, batch_bytes=1 << 16)
    )
    path = convert_log(generated, name, tmp_path / f"bench.{name}")
    fast = pipeline.analyze([path], log_format=name, dbs=dbs, by=["region"]).rows
    with monkeypatch.context() as m:
        for module, switch in (
            (parse_module, "QUICK_CLF_TIMES"),
            (parse_module, "QUICK_ISO_TIMES"),
            (parse_module, "QUICK_W3C"),
            (parse_module, "QUICK_PREFIX"),
            (jsonlines, "JSON_DECODE"),
        ):
            m.setattr(module, switch, False)
        slow = _straightforward(path, name, dbs, ["region"])
    assert fast.height > 0
    assert_frame_equal(fast.drop("watched", strict=False), slow)
