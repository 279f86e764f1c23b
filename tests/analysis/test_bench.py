"""The benchmark's generator and runner: right numbers, never timed here."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import polars as pl
import pytest

from loganalyzer import analyze
from loganalyzer import schema as S
from loganalyzer.analysis.bench import _MALFORMED, generate_log
from loganalyzer.analysis.bench_formats import CONVERTIBLE, convert_log
from loganalyzer.ingest.detect import detect_format, parse
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def bench_log(tmp_path_factory, city_db):
    path = tmp_path_factory.mktemp("bench") / "bench.log"
    return generate_log(path, lines=4000, seed=3, city_db=city_db, malformed_share=0.05)


def test_same_seed_same_file(tmp_path, city_db, bench_log):
    again = generate_log(
        tmp_path / "again.log", lines=4000, seed=3, city_db=city_db, malformed_share=0.05
    )
    other = generate_log(
        tmp_path / "other.log", lines=4000, seed=4, city_db=city_db, malformed_share=0.05
    )
    assert again.read_bytes() == bench_log.read_bytes()
    assert other.read_bytes() != bench_log.read_bytes()


def test_gzip_output_holds_the_same_lines(tmp_path, city_db, bench_log):
    gz = generate_log(
        tmp_path / "b.log.gz", lines=4000, seed=3, city_db=city_db, malformed_share=0.05
    )
    assert gzip.decompress(gz.read_bytes()) == bench_log.read_bytes()


def test_every_line_is_a_request_or_one_of_the_malformed_kinds(bench_log, city_db):
    lines = bench_log.read_text().splitlines()
    assert len(lines) == 4000
    junk = [ln for ln in lines if ln in _MALFORMED]
    # 5% asked for: the binomial spread on 4000 lines stays well inside 3-7%.
    assert 120 < len(junk) < 280
    a = analyze([bench_log], city_db=city_db, by=["country"])
    assert a.meta["lines"]["total"] == 4000
    assert a.meta["lines"]["rejected"] == len(junk)
    # Clients are drawn from the database's networks: every one is found.
    assert set(a.rows["geo_status"].to_list()) == {"ok"}


def test_clients_are_heavy_tailed_with_ipv6(bench_log):
    frame = pl.read_csv(
        bench_log, has_header=False, separator="\x1f", quote_char=None, new_columns=["line"]
    )
    clients = frame.select(pl.col("line").str.extract(r"^(\S+) - - \[", 1)).drop_nulls()
    counts = clients.to_series().value_counts(sort=True)
    top, median = counts["count"][0], counts["count"].median()
    assert top > 10 * median
    assert 0.15 < clients.to_series().str.contains(":").mean() < 0.5
    offsets = frame.select(pl.col("line").str.extract(r" ([+-]\d{4})\]", 1)).drop_nulls()
    assert offsets.n_unique() >= 4


def test_bench_command_reports_consistent_figures(bench_log, city_db, asn_db):
    r = run_cli(
        "bench",
        str(bench_log),
        "--city-db",
        str(city_db),
        "--asn-db",
        str(asn_db),
        "--repeat",
        "1",
        "--gzip",
        "--split",
        "3",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["files"]["returncode"], out["file_count"]) == (0, 3)
    assert out["files_ratio_to_one"] == pytest.approx(
        out["files"]["seconds"] / out["report"]["seconds"], abs=0.001
    )
    assert out["lines"] == 4000
    assert out["size_bytes"] == bench_log.stat().st_size
    assert out["report"]["returncode"] == 0
    assert out["floor"]["returncode"] == 0
    assert out["report"]["peak_rss_mb"] > 10
    assert out["ratio_to_floor"] == pytest.approx(
        out["report"]["seconds"] / out["floor"]["seconds"], abs=0.001
    )
    assert out["lines_per_second"] == pytest.approx(4000 / out["report"]["seconds"], abs=1)
    assert out["gzip_ratio_to_plain"] == pytest.approx(
        out["gzip"]["seconds"] / out["report"]["seconds"], abs=0.001
    )
    assert out["machine"]["cpus"] >= 1
    # The gzip copy and the parts are made beside the work, never left beside the log.
    assert sorted(p.name for p in bench_log.parent.iterdir()) == ["bench.log"]


def test_bench_generates_a_log_when_none_is_given(tmp_path, city_db):
    keep = tmp_path / "gen.log"
    r = run_cli(
        "bench", "--lines", "500", "--keep", str(keep), "--city-db", str(city_db), "--repeat", "1"
    )
    assert r.returncode == 0, r.stderr
    assert len(keep.read_text().splitlines()) == 500
    text = r.stdout.decode()
    assert "500 lines" in text
    assert "x the floor" in text
    assert b"Generating 500 lines" in r.stderr


def test_bench_without_a_city_database_is_a_database_error(tmp_path):
    r = run_cli("bench", "--lines", "500", "--geoip-dir", str(tmp_path), cwd=tmp_path)
    assert r.returncode == 4, r.stderr
    assert r.stderr.count(b"\n") == 1


def test_peers_are_timed_with_their_own_memory(bench_log, city_db):
    r = run_cli(
        "bench", str(bench_log), "--city-db", str(city_db), "--repeat", "1", "--peers", "--json"
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    naive = out["peers"]["python re + geoip2 loop"]
    assert naive["returncode"] == 0
    assert naive["seconds"] > 0
    # A plain Python loop holds a few tens of MB: the figure is the child's own peak,
    # not the benchmark process's memory inherited at fork.
    assert 0 < naive["peak_rss_mb"] < 80
    assert out["report"]["peak_rss_mb"] > naive["peak_rss_mb"]


def test_format_throughput_covers_every_preset():
    from loganalyzer.ingest.presets import PRESETS

    r = run_cli("bench", "--formats", "--lines", "500", "--repeat", "1", "--json")
    assert r.returncode == 0, r.stderr
    speeds = {x["name"]: x for x in json.loads(r.stdout)}
    assert set(speeds) == set(PRESETS)
    for x in speeds.values():
        assert x["report_columns"] > 0
        assert x["all_columns"] > 0


def test_split_log_cuts_consecutive_lines_into_gzip_files(tmp_path, bench_log):
    from loganalyzer.analysis.bench import split_log

    parts = split_log(bench_log, tmp_path / "parts", 3)
    assert [p.name for p in parts] == [f"bench.log.{i:03d}.gz" for i in range(3)]
    pieces = [gzip.decompress(p.read_bytes()) for p in parts]
    assert b"".join(pieces) == bench_log.read_bytes()
    # Even shares, the last taking what is left.
    assert [x.count(b"\n") for x in pieces] == [1334, 1334, 1332]


def test_bench_longer_log_prints_how_time_and_memory_grow(tmp_path, bench_log, city_db):
    longer = tmp_path / "twice.log"
    longer.write_bytes(bench_log.read_bytes() * 2)
    args = ["bench", str(bench_log), "--city-db", str(city_db), "--repeat", "1"]
    r = run_cli(*args, "--longer", str(longer), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["longer"]["returncode"], out["longer_log"], out["longer_lines"]) == (
        0,
        str(longer),
        8000,
    )
    assert out["longer_lines_ratio"] == 2.0
    assert out["longer_time_ratio"] == pytest.approx(
        out["longer"]["seconds"] / out["report"]["seconds"], abs=0.001
    )
    assert out["longer_memory_ratio"] == pytest.approx(
        out["longer"]["peak_rss_mb"] / out["report"]["peak_rss_mb"], abs=0.001
    )
    text = run_cli(*args, "--longer", str(longer)).stdout.decode()
    assert re.search(r"^longer +[0-9.]+ s +2\.00x the lines: [0-9.]+x the time, peak ", text, re.M)


def test_generated_sources_list_some_clients_and_load(tmp_path, bench_log, city_db):
    from loganalyzer.analysis.bench import distinct_clients, generate_sources
    from loganalyzer.anonymity.sources import AnonymizerSources

    folder = generate_sources(
        tmp_path / "src", bench_log, seed=3, vpn_networks=300, cloud_networks=120, tor_exits=30
    )
    again = generate_sources(
        tmp_path / "again", bench_log, seed=3, vpn_networks=300, cloud_networks=120, tor_exits=30
    )
    for name in ("lists/vpn/vpn.txt", "torbulkexitlist", "ip-ranges.json"):
        assert (folder / name).read_bytes() == (again / name).read_bytes(), name
    vpn = [ln for ln in (folder / "lists/vpn/vpn.txt").read_text().splitlines() if "#" not in ln]
    assert len(vpn) == 300
    assert sum(":" in ln for ln in vpn) == 30
    doc = json.loads((folder / "ip-ranges.json").read_text())
    services = {p["service"] for p in doc["prefixes"]}
    assert services == {"EC2", "AMAZON"}
    assert len(set((folder / "torbulkexitlist").read_text().split())) <= 30
    sources = AnonymizerSources.load(sources_dir=folder)
    assert len(sources.loaded) == 3
    a = analyze([bench_log], city_db=city_db, by=["anonymizer"], sources=sources)
    verdicts = dict(zip(a.rows["anonymizer"], a.rows["unique_ips"], strict=True))
    # Drawn partly from the log's clients: some listed, most not.
    assert verdicts.get("vpn", 0) > 0
    assert verdicts.get("hosting", 0) > 0
    assert verdicts.get("none_known", 0) > 0
    # Every client is judged once: the distinct first fields but the malformed lines'.
    junk = {ln.split(" ", 1)[0] for ln in bench_log.read_text().splitlines() if ln in _MALFORMED}
    assert sum(verdicts.values()) == distinct_clients(bench_log) - len(junk - {""})


def test_bench_times_sources_against_parsing_alone(bench_log, city_db):
    r = run_cli(
        "bench", str(bench_log), "--city-db", str(city_db), "--repeat", "1", "--sources", "--json"
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["parse"]["returncode"] == 0
    assert out["sources"]["returncode"] == 0
    assert out["sources_over_parse"] == pytest.approx(
        out["sources"]["seconds"] / out["parse"]["seconds"] - 1, abs=0.001
    )
    assert out["enrichment_over_parse"] == pytest.approx(
        out["report"]["seconds"] / out["parse"]["seconds"] - 1, abs=0.001
    )
    assert out["sources_dir"] is None  # drawn into a temporary folder
    # The first run parses the lists into a cache of the benchmark's own; it is gone.
    assert out["sources_first"]["returncode"] == 0
    assert out["sources_first_over_parse"] == pytest.approx(
        out["sources_first"]["seconds"] / out["parse"]["seconds"] - 1, abs=0.001
    )
    assert not (bench_log.parent / "loganalyzer-bench-cache").exists()
    lines = bench_log.read_text().splitlines()
    assert out["distinct_clients"] == len({ln.split(" ", 1)[0] for ln in lines if ln})
    text = run_cli(
        "bench", str(bench_log), "--city-db", str(city_db), "--repeat", "1", "--sources"
    ).stdout.decode()
    assert re.search(r"^parse .*distinct clients", text, re.M)
    assert re.search(r"^sources .*over parsing alone", text, re.M)
    assert re.search(r"^first .*parsing the lists", text, re.M)


def test_every_variant_runs_once_a_round_and_the_first_runs_start_cold(
    tmp_path, bench_log, monkeypatch
):
    # The processes themselves are timed by the tests above; this one records
    # what each round runs, in what order, and what the first-run cache holds.
    from loganalyzer.analysis import bench

    seen: list[tuple[str, bool]] = []
    cold = tmp_path / "loganalyzer-bench-cache-cold"

    def measure(cmd, env=None, stdin=None):
        cache = (env or {}).get("LOGANALYZER_CACHE_DIR", "")
        label = "floor" if cmd[1] == "-c" else " ".join(cmd[5:])
        full = Path(cache).is_dir() and any(Path(cache).iterdir()) if cache else False
        if cache:
            label += " cold" if cache == str(cold) else " cached"
            Path(cache).mkdir(exist_ok=True)  # as a run that parsed the lists would
            (Path(cache) / "lists").write_text("x")
        seen.append((label, full))
        return bench.Run(float(len(seen)), 10.0, 0)

    monkeypatch.setattr(bench, "_measure", measure)
    srcs = tmp_path / "srcs"
    result = bench.run_benchmark(
        bench_log, repeat=3, with_gzip=True, workdir=tmp_path, split=2, sources_dir=srcs
    )
    # Two runs fill the sources' cache first, untimed; then the rounds.
    warm, seen = seen[:2], seen[2:]
    assert [label.endswith(" cached") for label, _ in warm] == [True, True]
    rounds = [seen[i : i + 7] for i in range(0, len(seen), 7)]
    assert len(seen) == 21
    assert all([r[0] for r in each] == [r[0] for r in rounds[0]] for each in rounds)
    labels = [label for label, _ in rounds[0]]
    assert labels[0] == "floor"
    assert labels[1].startswith(str(bench_log))
    assert sum("cold" in label for label in labels) == 1
    # The report (which compiles changed modules) comes before the first run.
    assert labels.index(next(lb for lb in labels if "cold" in lb)) > 1
    assert all(not full for label, full in seen if "cold" in label)
    assert any(full for label, full in seen if "cached" in label)
    # The fastest of each variant counts: here, its first round's.
    assert result.floor.seconds == 3.0
    assert result.report.seconds == 4.0
    assert result.sources_first is not None
    assert result.sources_first.seconds == 7.0
    # The gzip copy, the parts and both caches are gone.
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", CONVERTIBLE)
def test_converted_logs_hold_the_same_requests(tmp_path, bench_log, name):
    # The same clients, requests and rejects in every format: only then do the
    # formats' figures compare with one another.
    from loganalyzer.ingest.read import read_lines

    def parsed(path: Path, fmt: str) -> pl.DataFrame:
        result = parse(read_lines([path]).collect(), fmt=fmt)
        return result.rows.select(S.CLIENT, S.STATUS, S.BYTES, S.TS).collect()

    path = convert_log(bench_log, name, tmp_path / f"b.{name}")
    combined = parsed(bench_log, "combined")
    other = parsed(path, name)
    assert other.height == combined.height > 3000
    assert other[S.CLIENT].to_list() == combined[S.CLIENT].to_list()
    assert other[S.STATUS].to_list() == combined[S.STATUS].to_list()
    # Each format is read with the format's own preset, found by detection too.
    head = read_lines([path]).head(200).collect()
    assert detect_format(head, source=str(path)).format.name == name


def test_bench_times_presets_and_commands(bench_log, city_db, asn_db):
    r = run_cli(
        "bench",
        str(bench_log),
        "--city-db",
        str(city_db),
        "--asn-db",
        str(asn_db),
        "--repeat",
        "1",
        "--presets",
        "traefik,w3c",
        "--commands",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert sorted(out["presets"]) == ["traefik", "w3c"]
    for each in out["presets"].values():
        assert (each["floor"]["returncode"], each["report"]["returncode"]) == (0, 0)
        assert each["lines"] >= 4000
        assert each["ratio_to_floor"] == pytest.approx(
            each["report"]["seconds"] / each["floor"]["seconds"], abs=0.001
        )
    assert sorted(out["commands"]) == sorted(
        ["compare", "enrich", "ips", "lookup", "links", "plot", "brief"]
    )
    assert all(run["returncode"] == 0 for run in out["commands"].values()), out["commands"]
    # The converted files, the Parquet file and the addresses are gone afterwards.
    assert sorted(p.name for p in bench_log.parent.iterdir()) == ["bench.log"]


def test_bench_refuses_a_preset_it_cannot_write(bench_log, city_db):
    r = run_cli("bench", str(bench_log), "--city-db", str(city_db), "--presets", "haproxy")
    assert r.returncode == 2
    assert b"haproxy" in r.stderr
