"""``--keep-going``: every readable file is analysed, the others are listed, exit 7.

One good log sits among inputs that cannot be read for one reason each. Without
the flag the first bad one stops the run (exit 3); with it every command writes
its output from the good log, warns of each bad input on stderr with its reason,
lists it in ``meta.files`` under ``skipped`` and exits 7 (partial), so that a
script can tell a complete answer from one over fewer files than it named.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from loganalyzer.analysis.pipeline import sample_paths
from tests.helpers import log_line, run_cli

GOOD_LINES = 40


def _zip(path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("access.log", log_line() + "\n")
    path.write_bytes(buf.getvalue())


# name -> (how it is made, the reason given for skipping it)
BAD = {
    "missing.log": (None, "no such file"),
    "logs.d": (lambda p: p.mkdir(), "is a directory; name its files, e.g. DIR/*.log*"),
    "notes.log": (
        lambda p: p.write_text("remember the milk\ncall back\n", encoding="utf-8"),
        "no known log format fits its first 2 lines",
    ),
    "old.zip": (_zip, "is a zip archive, not a log"),
    "nothing*.log": (None, "no file matches this pattern"),
}


@pytest.fixture
def work(tmp_path: Path) -> Path:
    start = datetime(2026, 9, 14, 7, 40, tzinfo=UTC)  # 20 minutes each side of 08:00
    lines = [
        log_line(ip="175.167.3.4", request=f"GET /p{i} HTTP/1.1", ts=start + timedelta(minutes=i))
        for i in range(GOOD_LINES)
    ]
    (tmp_path / "access.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for name, (make, _) in BAD.items():
        if make is not None:
            make(tmp_path / name)
    return tmp_path


def _db_args() -> list[str]:
    s = sample_paths()
    return ["--city-db", str(s.city_db), "--asn-db", str(s.asn_db)]


def _stderr(r) -> list[str]:
    return r.stderr.decode("utf-8", "replace").splitlines()


@pytest.mark.parametrize(("bad", "reason"), [(k, v[1]) for k, v in BAD.items()])
def test_one_bad_input_stops_the_run_without_the_flag(work, bad, reason):
    r = run_cli("report", "access.log", bad, *_db_args(), cwd=work)
    assert r.returncode == 3
    assert _stderr(r)[-1].startswith(f"Error: {bad}")
    assert reason.split(";")[0] in _stderr(r)[-1]


def test_report_analyses_the_readable_file_and_lists_the_others(work):
    names = ["access.log", *BAD]
    r = run_cli("report", *names, *_db_args(), "-O", "json", "--keep-going", cwd=work)
    assert r.returncode == 7, r.stderr
    doc = json.loads(r.stdout)
    assert sum(row["requests"] for row in doc["rows"]) == GOOD_LINES
    files = {f["path"]: f for f in doc["meta"]["files"]}
    assert list(files) == names  # in the order given, skipped ones in place
    assert "skipped" not in files["access.log"]
    assert files["access.log"]["lines"]["parsed"] == GOOD_LINES
    for name, (_, reason) in BAD.items():
        assert files[name]["skipped"].startswith(reason), name
        assert f"Warning: {name}: skipped: {files[name]['skipped']}" in _stderr(r)
    assert _stderr(r)[-1] == (
        f"Partial: {len(BAD)} skipped of {len(names)} inputs (see the warnings above); "
        "the output covers the rest"
    )


def test_a_file_none_of_whose_lines_parse_is_skipped_and_still_counted(work):
    # With the format given, nothing is detected: the W3C file reads as no line
    # of combined. Its lines stay in the totals, as rejected.
    (work / "iis.log").write_text(
        "#Fields: date time c-ip cs-method cs-uri-stem sc-status\n"
        + "2026-09-14 10:00:00 81.2.69.160 GET / 200\n" * 3,
        encoding="utf-8",
    )
    args = ["report", "access.log", "iis.log", "-f", "combined", *_db_args(), "-O", "json"]
    r = run_cli(*args, "--keep-going", cwd=work)
    assert r.returncode == 7, r.stderr
    meta = json.loads(r.stdout)["meta"]
    iis = meta["files"][1]
    assert iis["skipped"] == "none of its 4 lines parse as combined"
    assert iis["lines"] == {"total": 4, "parsed": 0, "rejected": 4}
    assert meta["lines"]["total"] == GOOD_LINES + 4
    assert run_cli(*args, cwd=work).returncode == 3


def test_every_input_skipped_is_an_input_error(work):
    r = run_cli("report", "notes.log", "missing.log", *_db_args(), "--keep-going", cwd=work)
    assert r.returncode == 3
    assert _stderr(r)[-1] == "Error: every input was skipped (2): nothing was analysed"


def _report_rows(out: Path) -> int:
    return sum(row["requests"] for row in json.loads(out.read_text())["rows"])


# command -> (its arguments besides the logs, how many requests its output holds)
COMMANDS = {
    "report": (["-O", "json", "-o", "out.json"], lambda w: _report_rows(w / "out.json")),
    "ips": (
        ["-O", "json", "-o", "out.json"],
        lambda w: sum(r["requests"] for r in json.loads((w / "out.json").read_text())["rows"]),
    ),
    "enrich": (["-o", "out.parquet"], lambda w: pl.read_parquet(w / "out.parquet").height),
    "compare": (
        ["--baseline-until", "2026-09-14T08:00:00Z", "-O", "json", "-o", "out.json"],
        lambda w: json.loads((w / "out.json").read_text())["meta"]["lines"]["parsed"],
    ),
    "plot": (
        ["--kind", "regions", "-o", "out.svg"],
        lambda w: GOOD_LINES if (w / "out.svg").stat().st_size else 0,
    ),
    "brief": (
        ["-o", "out.md"],
        lambda w: GOOD_LINES if f"{GOOD_LINES} requests" in (w / "out.md").read_text() else 0,
    ),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_keeps_going(work, command):
    args, requests = COMMANDS[command]
    r = run_cli(command, "access.log", "notes.log", *_db_args(), *args, "--keep-going", cwd=work)
    assert r.returncode == 7, r.stderr
    assert "Warning: notes.log: skipped: no known log format fits" in r.stderr.decode()
    assert requests(work) == GOOD_LINES


@pytest.fixture(scope="module")
def scheduler():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    yield cluster.scheduler_address
    cluster.close()


# On a cluster the workers open the files: they are named by absolute path.
ON_A_CLUSTER = {
    "report": (["-O", "json", "-o", "out.json"], lambda w: _report_rows(w / "out.json")),
    "enrich": (
        ["--partitioned", "-o", "out.d"],
        lambda w: pl.read_parquet(w / "out.d" / "**" / "*.parquet").height,
    ),
}


@pytest.mark.parametrize("command", ON_A_CLUSTER)
def test_a_cluster_keeps_going(work, scheduler, command):
    args, requests = ON_A_CLUSTER[command]
    logs = [str(work / name) for name in ("access.log", "notes.log", "missing.log")]
    r = run_cli(
        command, *logs, *_db_args(), *args, "--keep-going", "--scheduler", scheduler, cwd=work
    )
    assert r.returncode == 7, r.stderr
    err = r.stderr.decode()
    assert f"Warning: {logs[1]}: skipped: no known log format fits" in err
    assert f"Warning: {logs[2]}: skipped: no such file" in err
    assert requests(work) == GOOD_LINES
