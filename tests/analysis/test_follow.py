"""`report --follow`: tail -F reading, incremental aggregation, and the real CLI under SIGINT."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from loganalyzer import schema as S
from loganalyzer.analysis.aggregate import merge_partials, partials, resolve_grouping
from loganalyzer.analysis.follow import LiveReport, LogFollower, follow
from loganalyzer.analysis.pipeline import analyze, sample_paths
from loganalyzer.errors import InputFileError, UsageError
from loganalyzer.geo.databases import GeoDatabases
from loganalyzer.ingest.read import LineBatch
from tests.helpers import ROOT, log_line

# --- LogFollower ------------------------------------------------------------------------

# Each step: an action on the followed file, then the lines a poll must return.
# Actions: ("append", bytes), ("rotate", bytes for the new file), ("truncate", b""),
# ("remove", b""), ("create", bytes).
SCENARIOS = {
    "append": [
        (("append", b"a\nb\n"), [b"a", b"b"]),
        (("append", b"c\n"), [b"c"]),
        (("append", b""), []),
    ],
    "partial line waits for its newline": [
        (("append", b"a\nhal"), [b"a"]),
        (("append", b"f and"), []),
        (("append", b" more\nnext"), [b"half and more"]),
        (("append", b"\n"), [b"next"]),
    ],
    "rotate by rename": [
        (("append", b"a\n"), [b"a"]),
        (("rotate", b"new1\nnew2\n"), [b"new1", b"new2"]),
        (("append", b"new3\n"), [b"new3"]),
    ],
    "lines written to the old file before the switch are kept": [
        (("append", b"a\n"), [b"a"]),
        (("rotate-late", b"new\n"), [b"late", b"new"]),
    ],
    "an unfinished last line of a rotated file is a line": [
        (("append", b"a\nunfinished"), [b"a"]),
        (("rotate", b"n\n"), [b"unfinished", b"n"]),
    ],
    "truncate in place": [
        (("append", b"aaaa\nbbbb\n"), [b"aaaa", b"bbbb"]),
        (("truncate", b""), []),
        (("append", b"c\n"), [b"c"]),
    ],
    "removed, then created again": [
        (("append", b"a\n"), [b"a"]),
        (("remove", b""), []),
        (("create", b"b\n"), [b"b"]),
    ],
}


def _act(path: Path, action: str, data: bytes) -> None:
    if action == "append":
        with open(path, "ab") as f:
            f.write(data)
    elif action == "rotate":
        path.rename(path.with_suffix(".1"))
        path.write_bytes(data)
    elif action == "rotate-late":
        old = path.with_suffix(".1")
        path.rename(old)
        with open(old, "ab") as f:  # a writer still holding the old file
            f.write(b"late\n")
        path.write_bytes(data)
    elif action == "truncate":
        path.write_bytes(b"")
    elif action == "remove":
        path.unlink()
    elif action == "create":
        path.write_bytes(data)


def _lines(batches: list[LineBatch]) -> list[bytes]:
    return [line for b in batches for line in b.data.splitlines()]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_follower(tmp_path, name):
    path = tmp_path / "access.log"
    path.write_bytes(b"")
    follower = LogFollower(path)
    try:
        assert follower.poll() == []
        for (action, data), expected in SCENARIOS[name]:
            _act(path, action, data)
            assert _lines(follower.poll()) == expected, (action, data)
    finally:
        follower.close()


def test_follower_line_numbers_restart_with_each_file(tmp_path):
    path = tmp_path / "access.log"
    path.write_bytes(b"a\nb\n")
    follower = LogFollower(path)
    assert [(b.source, b.first_line_no) for b in follower.poll()] == [(str(path), 1)]
    _act(path, "append", b"c\n")
    assert [b.first_line_no for b in follower.poll()] == [3]
    _act(path, "rotate", b"d\n")
    assert [b.first_line_no for b in follower.poll()] == [1]
    assert [e.kind for e in follower.events] == ["rotated"]
    follower.close()


def test_follower_needs_the_file_to_exist(tmp_path):
    with pytest.raises(InputFileError) as err:
        LogFollower(tmp_path / "nope.log")
    assert str(err.value) == f"{tmp_path / 'nope.log'}: no such file to follow"


@pytest.mark.parametrize(
    ("kind", "compress"),
    [
        ("gzip", lambda b: __import__("gzip").compress(b)),
        ("bzip2", lambda b: __import__("bz2").compress(b)),
        ("xz", lambda b: __import__("lzma").compress(b)),
    ],
)
def test_follower_refuses_a_compressed_file(tmp_path, kind, compress):
    path = tmp_path / "access.log.1"
    path.write_bytes(compress(b"a\n"))
    with pytest.raises(UsageError, match=f"--follow reads plain text only, and .* is {kind}-"):
        LogFollower(path)


# --- LiveReport -------------------------------------------------------------------------


def test_merged_partials_merge_again():
    # Follow mode (and streaming compaction) stack a merged frame with newer partials.
    g = resolve_grouping(["path"])
    ts = datetime(2026, 9, 14, tzinfo=UTC)
    rows = pl.DataFrame(
        {S.CLIENT: ["a", "b", "a"], S.PATH: ["/", "/x", "/"], S.TS: [ts] * 3,
         S.STATUS: [200, 404, 500], S.BYTES: [1, 2, None]},
        schema_overrides={S.TS: S.DATETIME},
    )  # fmt: skip
    p = partials(rows.lazy(), g).collect()
    keys = [S.CLIENT, S.PATH]
    twice = merge_partials([merge_partials([p, p], keys).collect(), p], keys).collect()
    once = merge_partials([p, p, p], keys).collect()
    assert twice.sort(keys).equals(once.sort(keys))
    assert twice.columns == p.columns


@pytest.mark.parametrize("cuts", [[], [1], [57, 58, 200], [3, 100, 101, 399]])
@pytest.mark.parametrize(("by", "watch"), [(["region"], ["CN-LN", "FR"]), (["asn", "path"], [])])
def test_live_report_equals_analyze_whatever_the_batches(cuts, by, watch):
    s = sample_paths()
    dbs = GeoDatabases.open(city=s.city_db, asn=s.asn_db, search=False)
    lines = s.log.read_bytes().splitlines(keepends=True)
    live = LiveReport(by=by, watch=watch, dbs=dbs, where=["status<500"])
    bounds = [0, *cuts, len(lines)]
    for lo, hi in itertools.pairwise(bounds):
        if hi > lo:
            live.feed(LineBatch(str(s.log), lo + 1, b"".join(lines[lo:hi])))
    got = live.analysis()
    want = analyze([s.log], by=by, watch=watch, dbs=dbs, where=["status<500"])
    assert got.rows.equals(want.rows)
    for key in ("lines", "files", "rows_total", "time_range"):
        assert got.meta[key] == {**want.meta, "files": got.meta["files"]}[key]
    assert got.meta["files"][0]["lines"] == want.meta["files"][0]["lines"]


def test_live_report_with_anonymizer_sources_equals_analyze():
    from loganalyzer.anonymity.sources import AnonymizerSources

    s = sample_paths()
    dbs = GeoDatabases.open(city=s.city_db, asn=s.asn_db, search=False)
    vpn = ROOT / "fixtures" / "anon" / "vpn-list.txt"
    sources = AnonymizerSources.load(ip_lists=[("vpn", vpn)])
    lines = s.log.read_bytes().splitlines(keepends=True)
    live = LiveReport(by=["anonymizer", "region"], dbs=dbs, sources=sources)
    for lo in range(0, len(lines), 97):
        live.feed(LineBatch(str(s.log), lo + 1, b"".join(lines[lo : lo + 97])))
    want = analyze([s.log], by=["anonymizer", "region"], dbs=dbs, sources=sources)
    got = live.analysis()
    assert got.rows.equals(want.rows)
    assert "vpn" in got.rows[S.ANONYMIZER].to_list()
    with pytest.raises(UsageError, match="anonymizer columns need sources"):
        LiveReport(by=["provider"], dbs=dbs)


def test_follow_reads_until_stopped_then_once_more(tmp_path):
    s = sample_paths()
    dbs = GeoDatabases.open(city=s.city_db, search=False)
    path = tmp_path / "a.log"
    path.write_text(log_line(ip="81.2.69.160") + "\n")
    refreshed: list[int] = []
    state = {"polls": 0}

    def stop() -> bool:
        state["polls"] += 1
        if state["polls"] == 3:
            # Written after the last refresh, just before stopping: still counted.
            with open(path, "a") as f:
                f.write(log_line(ip="175.167.1.2") + "\n")
        return state["polls"] >= 3

    follower = LogFollower(path)
    try:
        a = follow(
            follower,
            LiveReport(dbs=dbs),
            stop=stop,
            interval=0.0,
            on_refresh=lambda live: refreshed.append(live.lines),
            poll_every=0.0,
        )
    finally:
        follower.close()
    assert refreshed == [1, 1]
    assert a.meta["lines"]["parsed"] == 2


# --- the real command, with a real signal ----------------------------------------------


class Running:
    """A CLI subprocess whose stderr is collected line by line as it comes."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOGANALYZER_")}
        env.update(COLUMNS="120", XDG_CONFIG_HOME=str(cwd / "no-config"))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "loganalyzer", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.err: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.err.append(raw.decode())

    def finish(self) -> bytes:
        """Stdout once the process has exited, every stderr line collected, pipes closed."""
        # Not communicate(): it would read stderr too, racing the reader thread.
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        with self.proc.stdout:
            out = self.proc.stdout.read()
        self.proc.wait(timeout=30)
        self._reader.join(timeout=10)
        self.proc.stderr.close()
        return out

    def wait_for(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.err):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.proc.kill()
        raise AssertionError(f"never saw {text!r}; stderr so far: {''.join(self.err)}")


def _write(path: Path, lines: list[str], mode: str = "a") -> None:
    with open(path, mode, encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_cli_follows_appends_rotation_and_truncation(tmp_path, city_db, asn_db, sig):
    t0 = datetime(2026, 9, 14, 8, 0, tzinfo=UTC)
    ips = ["175.167.1.2", "2.136.4.5", "81.2.69.160", "10.0.0.7", "2408:8200::1"]
    made = iter(range(10_000))

    def batch(n: int) -> list[str]:
        out = []
        for _ in range(n):
            i = next(made)
            out.append(log_line(ip=ips[i % len(ips)], ts=t0 + timedelta(seconds=i)))
        return out

    log = tmp_path / "access.log"
    written: list[str] = []
    first = [*batch(7), "junk line"]
    _write(log, first, "w")
    written += first
    run = Running(
        ["report", "--follow", str(log), "--interval", "0.05", "-O", "json", "--city-db",
         str(city_db), "--asn-db", str(asn_db)],
        tmp_path,
    )  # fmt: skip
    run.wait_for("Following")
    run.wait_for(f": {len(written)} lines read")
    more = batch(5)
    _write(log, more)
    written += more
    run.wait_for(f": {len(written)} lines read")
    log.rename(tmp_path / "access.log.1")
    rotated = batch(4)
    _write(log, rotated, "w")
    written += rotated
    run.wait_for("was rotated; reading the new file from its start")
    run.wait_for(f": {len(written)} lines read")
    log.write_text("")  # copytruncate
    run.wait_for("was truncated; reading it again from its start")
    after = batch(3)
    _write(log, after)
    written += after
    run.wait_for(f": {len(written)} lines read")
    with open(log, "a", encoding="utf-8") as f:
        f.write(log_line(ip="175.167.1.2")[:30])  # an unfinished line: not counted
    run.proc.send_signal(sig)
    out = run.finish()
    assert run.proc.returncode == 0, "".join(run.err)
    doc = json.loads(out)
    everything = tmp_path / "everything.log"
    _write(everything, written, "w")
    want = analyze([everything], city_db=city_db, asn_db=asn_db)
    assert doc["meta"]["lines"] == want.meta["lines"]
    assert doc["meta"]["lines"]["total"] == len(written)
    got_rows = [(r["region_iso"], r["requests"], r["unique_ips"]) for r in doc["rows"]]
    assert got_rows == want.rows.select(S.REGION_ISO, S.REQUESTS, S.UNIQUE_IPS).rows()
    assert "Note: the last line has no newline yet and was not counted\n" in run.err


def test_cli_follow_on_a_compressed_file_is_a_usage_error(tmp_path):
    import gzip

    from tests.helpers import run_cli

    (tmp_path / "access.log.gz").write_bytes(gzip.compress(b"x\n"))
    r = run_cli("report", "--follow", "access.log.gz", cwd=tmp_path)
    assert r.returncode == 2
    assert b"--follow reads plain text only, and access.log.gz is gzip-compressed" in r.stderr
    assert b"no known log format" not in r.stderr


def test_cli_follow_needs_one_file(tmp_path):
    from tests.helpers import run_cli

    r = run_cli("report", "--sample", "--follow", "-", cwd=tmp_path)
    assert r.returncode == 2
    assert b"--follow reads one file (not stdin)" in r.stderr
