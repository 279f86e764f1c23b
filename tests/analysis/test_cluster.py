"""The Dask backend: the same report as one process, exactly, even when a worker dies."""

from __future__ import annotations

import gzip
import os
import signal
import threading
import time

import pytest
from polars.testing import assert_frame_equal

from loganalyzer import analyze, sample_paths
from loganalyzer.analysis.bench import generate_log
from loganalyzer.analysis.cluster import analyze_distributed
from tests.helpers import run_cli

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    c = distributed.Client(cluster, set_as_default=False)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def many_files(tmp_path_factory, city_db):
    """Nine files: generated logs in plain and gzip, the sample cut in pieces."""
    d = tmp_path_factory.mktemp("many")
    out = []
    for i in range(3):
        out.append(generate_log(d / f"gen{i}.log", lines=3000, seed=i, city_db=city_db))
    for i in range(2):
        out.append(generate_log(d / f"gen{i}.log.gz", lines=2000, seed=10 + i, city_db=city_db))
    lines = sample_paths().log.read_bytes().splitlines(keepends=True)
    for i in range(4):
        part = d / f"sample{i}.log"
        part.write_bytes(b"".join(lines[i * 100 : (i + 1) * 100]))
        out.append(part)
    return [str(p) for p in out]


def _same(a, b):
    assert_frame_equal(a.rows, b.rows)
    ma = {k: v for k, v in a.meta.items() if k != "generated_at"}
    mb = {k: v for k, v in b.meta.items() if k != "generated_at"}
    assert ma == mb


@pytest.mark.parametrize(
    "options",
    [
        {"by": ["region"]},
        {"by": ["country", "asn"], "watch": ["CN", "ES", "FR"]},
        {"by": ["ip"]},
        {"by": ["region", "day"], "where": ["status>=400"]},
        {"by": ["city"], "where": ["country_iso=ES"], "top_n": 3},
        {"by": ["asn"], "since": "2026-09-10", "until": "2026-09-20"},
    ],
    ids=["region", "country-asn-watch", "ip", "region-day-status", "city-es-top", "asn-window"],
)
def test_cluster_report_equals_single_process(client, many_files, city_db, asn_db, options):
    from datetime import datetime

    opts = dict(options)
    for key in ("since", "until"):
        if key in opts:
            opts[key] = datetime.fromisoformat(opts[key])
    here = analyze(many_files, city_db=city_db, asn_db=asn_db, **opts)
    there = analyze_distributed(many_files, client=client, city_db=city_db, asn_db=asn_db, **opts)
    _same(here, there)
    # Distinct clients are counted after the merge, not summed per file.
    assert there.rows["unique_ips"].sum() <= sum(
        analyze([f], city_db=city_db, asn_db=asn_db, **opts).rows["unique_ips"].sum()
        for f in many_files
    )


def test_per_file_counts_keep_input_order(client, many_files, city_db):
    there = analyze_distributed(many_files, client=client, city_db=city_db)
    assert [f["path"] for f in there.meta["files"]] == many_files
    assert there.meta["lines"]["total"] == 3 * 3000 + 2 * 2000 + 400


def _run_killing_a_worker(client, job):
    """Run ``job`` in a thread, SIGKILL a worker as soon as one is busy; return the result."""
    pids = client.run(os.getpid)
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["result"] = job()
        except BaseException as exc:  # surfaced by the assertion below
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    killed = None
    deadline = time.monotonic() + 60
    while killed is None and time.monotonic() < deadline and thread.is_alive():
        busy = [addr for addr, tasks in client.processing().items() if tasks]
        if busy:
            killed = pids[busy[0]]
            os.kill(killed, signal.SIGKILL)
        else:
            time.sleep(0.02)
    thread.join(timeout=180)
    assert killed is not None, "no task was seen running"
    assert "error" not in box, box.get("error")
    return box["result"]


def test_a_killed_worker_changes_nothing(client, tmp_path, city_db, asn_db):
    # Files big enough that tasks are still running when a worker is killed.
    files = [
        str(generate_log(tmp_path / f"big{i}.log", lines=150_000, seed=40 + i, city_db=city_db))
        for i in range(4)
    ]
    expected = analyze(files, city_db=city_db, asn_db=asn_db, by=["region"])
    result = _run_killing_a_worker(
        client,
        lambda: analyze_distributed(
            files, client=client, city_db=city_db, asn_db=asn_db, by=["region"]
        ),
    )
    _same(expected, result)


def test_cli_workers_match_the_plain_report(many_files, city_db, asn_db):
    args = ["report", *many_files[:5], "--city-db", str(city_db), "--asn-db", str(asn_db)]
    plain = run_cli(*args, "--by", "region", "-O", "csv")
    spread = run_cli(*args, "--by", "region", "-O", "csv", "--workers", "2")
    assert plain.returncode == 0, plain.stderr
    assert spread.returncode == 0, spread.stderr
    assert spread.stdout == plain.stdout


def test_cli_rejects_file_is_not_offered_on_a_cluster(many_files, city_db, tmp_path):
    r = run_cli(
        "report",
        many_files[0],
        "--city-db",
        str(city_db),
        "--workers",
        "1",
        "--rejects",
        str(tmp_path / "r.jsonl"),
    )
    assert r.returncode == 2
    assert b"--rejects" in r.stderr
    assert not (tmp_path / "r.jsonl").exists()


def test_an_unparseable_file_is_named_with_the_input_exit_code(many_files, city_db, tmp_path):
    bad = tmp_path / "not-a-log.txt.gz"
    bad.write_bytes(gzip.compress(b"this is not an access log\n" * 50))
    r = run_cli("report", many_files[0], str(bad), "--city-db", str(city_db), "--workers", "2")
    assert r.returncode == 3, r.stderr
    assert str(bad).encode() in r.stderr
    assert b"Traceback" not in r.stderr


def _dataset(path):
    import polars as pl

    return (
        pl.scan_parquet(str(path / "**" / "*.parquet"), hive_partitioning=True)
        .collect()
        .sort(["source", "line_no"])
    )


def test_partitioned_enrich_equals_the_single_file(tmp_path, many_files, city_db, asn_db):
    import polars as pl

    single = tmp_path / "all.parquet"
    r1 = run_cli(
        "enrich", *many_files, "--city-db", str(city_db), "--asn-db", str(asn_db), "-o", str(single)
    )
    assert r1.returncode == 0, r1.stderr
    here = tmp_path / "here"
    r2 = run_cli(
        "enrich",
        *many_files,
        "--city-db",
        str(city_db),
        "--asn-db",
        str(asn_db),
        "-o",
        str(here),
        "--partitioned",
    )
    assert r2.returncode == 0, r2.stderr
    there = tmp_path / "there"
    r3 = run_cli(
        "enrich",
        *many_files,
        "--city-db",
        str(city_db),
        "--asn-db",
        str(asn_db),
        "-o",
        str(there),
        "--partitioned",
        "--workers",
        "2",
    )
    assert r3.returncode == 0, r3.stderr
    want = pl.read_parquet(single).sort(["source", "line_no"])
    for got_path in (here, there):
        got = _dataset(got_path)
        # Every partition folder holds only its own date.
        assert (got["date"] == got["ts"].dt.date()).all()
        assert_frame_equal(got.drop("date").select(want.columns), want)
    folders = sorted(p.name for p in there.iterdir())
    assert folders == sorted(f"date={d}" for d in want["ts"].dt.date().unique().to_list())
    # Nothing left beside the dataset: no staging folders, no attempts.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.parquet", "here", "there"]


def test_partitioned_enrich_will_not_write_into_a_full_folder(tmp_path, many_files, city_db):
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    r = run_cli(
        "enrich", many_files[0], "--city-db", str(city_db), "-o", str(full), "--partitioned"
    )
    assert r.returncode == 5
    assert (full / "keep.txt").read_text() == "mine"


def test_a_killed_worker_leaves_no_duplicate_rows(client, tmp_path, city_db):
    from loganalyzer.analysis.cluster import enrich_distributed

    files = [
        str(generate_log(tmp_path / f"big{i}.log", lines=150_000, seed=60 + i, city_db=city_db))
        for i in range(4)
    ]
    out = tmp_path / "dataset"
    meta = _run_killing_a_worker(
        client, lambda: enrich_distributed(files, out, client=client, city_db=city_db)
    )
    got = _dataset(out)
    assert got.height == meta["lines"]["parsed"]
    assert got.select("source", "line_no").is_duplicated().sum() == 0
    assert meta["lines"]["total"] == 4 * 150_000


def test_cluster_verdicts_equal_single_process(client, many_files, city_db, asn_db, anon_dbs):
    from loganalyzer.anonymity.sources import AnonymizerSources
    from tests.helpers import FIXTURES

    anon = FIXTURES / "anon"
    sources = AnonymizerSources.load(
        anon_db=[anon_dbs["anonymous-ip"]],
        tor_exits=[anon / "exit-addresses", anon / "torbulkexitlist"],
        ip_lists=[f"vpn={anon / 'vpn-list.txt'}", ("relay", anon / "egress-ip-ranges.csv")],
        cloud_ranges=[anon / "ip-ranges.json"],
        asn_list=anon / "asn-list.csv",
    )
    opts = {"by": ["region", "anonymizer"], "city_db": city_db, "asn_db": asn_db}
    here = analyze(many_files, sources=sources, **opts)
    there = analyze_distributed(many_files, client=client, sources=sources, **opts)
    _same(here, there)
    # The fixture logs reach some listed addresses, or this test would prove little.
    assert here.rows["requests_anonymized"].sum() > 0


def test_workers_read_url_inputs(client, many_files, city_db):
    urls = [f"file://{p}" for p in many_files]
    here = analyze(many_files, city_db=city_db)
    there = analyze_distributed(urls, client=client, city_db=city_db)
    assert_frame_equal(there.rows, here.rows)
    assert [f["path"] for f in there.meta["files"]] == urls


def test_partitioned_enrich_of_mixed_formats_reads_as_one_table(tmp_path, client, city_db):
    import polars as pl

    from loganalyzer.analysis.cluster import enrich_distributed
    from loganalyzer.analysis.enrich_logs import enrich_logs
    from tests.helpers import FIXTURES

    # Each format brings its own extra columns (HAProxy's ports, W3C's site name...).
    logs = [str(FIXTURES / "logs" / n) for n in ("combined.log", "haproxy.log", "iis.log")]
    single = tmp_path / "one.parquet"
    from loganalyzer.geo.databases import GeoDatabases

    dbs = GeoDatabases.open(city=city_db, search=False)
    enrich_logs(logs, single, dbs=dbs)
    want = pl.read_parquet(single).sort(["source", "line_no"])
    here, there = tmp_path / "here", tmp_path / "there"
    enrich_logs(logs, here, dbs=dbs, partitioned=True)
    enrich_distributed(logs, there, client=client, city_db=city_db)
    for root in (here, there):
        # No schema options: every file has the same columns.
        got = _dataset(root)
        assert set(got.columns) == {*want.columns, "date"}
        assert_frame_equal(got.select(want.columns), want, check_dtypes=False)
