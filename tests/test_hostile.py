"""Hostile input and faults end to end: nothing lost, nothing injected, every failure explained.

Most tests run the real CLI in a subprocess, as a user does; the property tests
call the library in-process so that hypothesis can try many inputs quickly.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import io
import json
import lzma
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from loganalyzer.analysis.pipeline import analyze
from loganalyzer.errors import InputFileError, TooManyBadLinesError
from loganalyzer.ingest.read import _UNSUPPORTED, DEFAULT_BATCH_BYTES, detect_compression
from loganalyzer.outputs.render import render
from tests.helpers import log_line, run_cli

T0 = datetime(2026, 9, 14, 8, 0, 0, tzinfo=UTC)
IPS = ["175.167.1.2", "2.136.4.5", "81.2.69.160", "10.0.0.7", "8.8.8.8", "2408:8200::1"]


def _good_lines(n: int, *, start: int = 0) -> list[str]:
    return [
        log_line(
            ip=IPS[i % len(IPS)],
            ts=T0 + timedelta(seconds=13 * i),
            request=f"GET /page/{i * 7919 % 10007}?q={i} HTTP/1.1",
            status=(200, 404, 301, 500)[i % 4],
            size=i * 37 % 9000,
        )
        for i in range(start, start + n)
    ]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "no-geoip").mkdir()
    return tmp_path


def cli(work: Path, *args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    env = {"LOGANALYZER_GEOIP_DIR": str(work / "no-geoip")}
    env.update(kwargs.pop("env", {}))  # type: ignore[arg-type]
    return run_cli(*args, cwd=work, env=env, **kwargs)  # type: ignore[arg-type]


def _stderr_lines(r: subprocess.CompletedProcess[bytes]) -> list[str]:
    return r.stderr.decode("utf-8").splitlines()


# --- truncated and corrupt compressed files, through the CLI --------------------------------

COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "bzip2": lambda data: bz2.compress(data, 1),
    "xz": lambda data: lzma.compress(data, preset=0),
    "zstd": lambda data: zstandard.ZstdCompressor(write_checksum=True).compress(data),
}


def _reference_prefix(kind: str, data: bytes) -> bytes:
    """What the reference decoder reads from the start of a broken file."""
    if kind == "gzip":
        return zlib.decompressobj(wbits=31).decompress(data)
    if kind == "bzip2":
        return bz2.BZ2Decompressor().decompress(data)
    if kind == "xz":
        return lzma.LZMADecompressor().decompress(data)
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("kind", "keep_going", "code"),
    [
        pytest.param("gzip", False, 3, id="gzip"),
        pytest.param("bzip2", False, 3, id="bzip2"),
        pytest.param("xz", False, 3, id="xz"),
        pytest.param("zstd", False, 3, id="zstd"),
        pytest.param("xz", True, 7, id="xz-keep-going"),
    ],
)
def test_truncated_compressed_log(work, city_db, kind, keep_going, code):
    data = "".join(line + "\n" for line in _good_lines(4000)).encode()
    packed = COMPRESS[kind](data)
    cut = packed[: len(packed) * 3 // 4]
    (work / "old.log.1").write_bytes(cut)
    complete = _reference_prefix(kind, cut).count(b"\n")
    args = ["report", "old.log.1", "--city-db", str(city_db), "-O", "json"]
    r = cli(work, *args, *(["--keep-going"] if keep_going else []))
    assert r.returncode == code
    doc = json.loads(r.stdout)
    lines = doc["meta"]["lines"]
    assert 1000 < complete <= lines["total"] <= complete + 1
    assert lines["total"] == lines["parsed"] + lines["rejected"]
    assert lines["rejected"] <= 1  # only the line cut in half
    problem = (
        "old.log.1: compressed data is truncated or corrupt (Compressed file ended before "
        f"the end-of-stream marker was reached) after line {lines['total']}"
    )
    err = _stderr_lines(r)
    assert [e for e in err if e.startswith("Warning: ")] == [f"Warning: {problem}"]
    errors = [e for e in err if e.startswith("Error: ")]
    if keep_going:
        assert errors == []
    else:
        assert errors == [
            f"Error: {problem}; the lines before it were analysed "
            "(--keep-going analyses the other files too)"
        ]
    assert doc["meta"]["files"][0]["error"] == problem.removeprefix("old.log.1: ")


# Every kind is covered at the reader's level (test_read); here, the CLI's wiring.
@pytest.mark.parametrize("kind", ["bzip2", "zstd"])
def test_corrupt_second_member_keeps_the_first(work, city_db, kind):
    first = "".join(line + "\n" for line in _good_lines(1500)).encode()
    second = bytearray(
        COMPRESS[kind]("".join(line + "\n" for line in _good_lines(1500, start=1500)).encode())
    )
    second[len(second) // 2 : len(second) // 2 + 32] = bytes(32)
    (work / "rotated.log").write_bytes(COMPRESS[kind](first) + bytes(second))
    r = cli(work, "report", "rotated.log", "--city-db", str(city_db), "-O", "json")
    assert r.returncode == 3
    lines = json.loads(r.stdout)["meta"]["lines"]
    assert 1500 <= lines["total"] < 3000
    assert lines["parsed"] >= 1500
    (error,) = [e for e in _stderr_lines(r) if e.startswith("Error: ")]
    assert error.startswith("Error: rotated.log: compressed data is truncated or corrupt (")
    assert f") after line {lines['total']}; " in error


# --- hostile bytes inside the log ---------------------------------------------------------------


def test_nul_crlf_latin1_long_lines_and_no_final_newline(work, city_db):
    good = _good_lines(6)
    latin1 = log_line(request="GET /caf\xe9 HTTP/1.1").encode("latin-1")
    huge = b"A" * (10 * 1024 * 1024)
    raw = [
        good[0].encode() + b"\r\n",  # 1 CRLF: parsed
        good[1].encode() + b"\n",  # 2
        b"\x00\x00\x00\n",  # 3 NUL bytes: rejected
        latin1 + b"\n",  # 4 Latin-1 amid UTF-8: parsed, byte kept as \xe9
        huge + b"\n",  # 5 a 10 MB line: rejected, kept whole
        good[2].encode() + b"\x00tail\n",  # 6 NUL inside a line
        "caf\u00e9 \u6c88\u9633 \x1b]0;pwned\x07\n".encode(),  # 7 UTF-8 junk with OSC
        good[3].encode() + b"\r\n",  # 8
        good[4].encode(),  # 9 no final newline: parsed
    ]
    (work / "hostile.log").write_bytes(b"".join(raw))
    r = cli(
        work,
        "report",
        "hostile.log",
        "--city-db",
        str(city_db),
        "--by",
        "path",
        "-O",
        "json",
        "--rejects",
        "rej.jsonl",
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    lines = doc["meta"]["lines"]
    rejects = [json.loads(x) for x in (work / "rej.jsonl").read_text("utf-8").splitlines()]
    assert lines["total"] == 9 == lines["parsed"] + lines["rejected"]
    assert lines["rejected"] == len(rejects)
    by_no = {rec["line_no"]: rec for rec in rejects}
    assert {3, 5, 7} <= set(by_no) <= {3, 5, 6, 7}
    assert by_no[3]["line"] == "\x00\x00\x00"
    assert by_no[5]["line"] == huge.decode()
    assert by_no[7]["line"] == "caf\u00e9 \u6c88\u9633 \x1b]0;pwned\x07"
    paths = {row["path"] for row in doc["rows"]}
    assert "/caf\\xe9" in paths
    assert "/page/0?q=0" in paths  # the CRLF line
    assert f"/page/{4 * 7919 % 10007}?q=4" in paths  # the last line, without newline
    assert b"\x1b" not in r.stderr


def test_a_nul_inside_the_client_names_no_address(work, city_db):
    """The native reader once stopped at the NUL, as C strings do, and located
    "175.167.3.4<NUL>x" as 175.167.3.4; the Python path refused it."""
    lines = [log_line(ip="175.167.3.4"), log_line(ip="175.167.3.4\x00x")]
    (work / "nul.log").write_bytes("".join(f"{ln}\n" for ln in lines).encode())
    outs = []
    for native_on in ("1", "0"):
        args = ("ips", "nul.log", "--city-db", str(city_db), "-O", "json")
        r = cli(work, *args, env={"LOGANALYZER_NATIVE": native_on})
        assert r.returncode == 0, r.stderr
        outs.append(json.loads(r.stdout)["rows"])
    assert outs[0] == outs[1]
    by_ip = {row["ip"]: row for row in outs[0]}
    assert set(by_ip) == {"175.167.3.4", None}
    assert by_ip["175.167.3.4"]["region_iso"] == "CN-LN"
    assert by_ip[None]["country_iso"] is None


def test_terminal_table_never_emits_escapes_from_the_log(work, city_db):
    nasty = log_line(request="GET /\x1b]8;;http://evil/\x07click\x1b[2J HTTP/1.1")
    (work / "a.log").write_text(nasty + "\n", encoding="utf-8")
    r = cli(work, "report", "a.log", "--city-db", str(city_db), "--by", "path")
    assert r.returncode == 0
    assert b"\x1b" not in r.stdout + r.stderr
    assert b"\x07" not in r.stdout + r.stderr
    assert b"\\x1b]8;;http://evil/\\x07click" in r.stdout


@pytest.mark.parametrize(
    ("flag", "cell"), [([], "'=cmd|' /C calc'!A0"), (["--no-csv-safety"], "=cmd|' /C calc'!A0")]
)
def test_csv_formula_guard_and_its_switch(work, city_db, flag, cell):
    (work / "a.log").write_text(log_line(agent="=cmd|' /C calc'!A0") + "\n", encoding="utf-8")
    r = cli(
        work, "report", "a.log", "--city-db", str(city_db), "--by", "user_agent", "-O", "csv", *flag
    )
    assert r.returncode == 0
    header, row = r.stdout.decode().splitlines()[:2]
    assert header.split(",")[0] == "user_agent"
    assert row.startswith(f'"{cell}",') or row.startswith(f"{cell},")


# --- the files themselves -------------------------------------------------------------------


def test_empty_file_is_counted_with_no_lines(work, city_db):
    (work / "empty.log").write_bytes(b"")
    (work / "a.log").write_text(_good_lines(1)[0] + "\n", encoding="utf-8")
    r = cli(work, "report", "empty.log", "a.log", "--city-db", str(city_db), "-O", "json")
    assert r.returncode == 0
    files = json.loads(r.stdout)["meta"]["files"]
    assert [(f["path"], f["lines"]["total"]) for f in files] == [("empty.log", 0), ("a.log", 1)]


def test_a_directory_is_an_input_error(work, city_db):
    (work / "logs").mkdir()
    r = cli(work, "report", "logs", "--city-db", str(city_db))
    assert (r.returncode, r.stdout) == (3, b"")
    assert _stderr_lines(r) == ["Error: logs: is a directory; name its files, e.g. DIR/*.log*"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_permission_denied_is_an_input_error(work, city_db):
    path = work / "secret.log"
    path.write_text(_good_lines(1)[0] + "\n", encoding="utf-8")
    path.chmod(0)
    r = cli(work, "report", "secret.log", "--city-db", str(city_db))
    assert (r.returncode, r.stdout) == (3, b"")
    assert _stderr_lines(r) == ["Error: secret.log: permission denied"]


def test_file_names_that_are_not_utf8_or_hold_escapes(work, city_db):
    odd = os.fsdecode(b"caf\xe9-\x1b[31m.log")
    (work / odd).write_text("".join(x + "\n" for x in [*_good_lines(3), "junk"]), encoding="utf-8")
    r = cli(work, "report", odd, "--city-db", str(city_db), "-O", "json")
    assert r.returncode == 0
    shown = "caf\\xe9-\x1b[31m.log"  # undecodable bytes as \xNN; JSON escapes the rest
    assert json.loads(r.stdout)["meta"]["files"][0]["path"] == shown
    assert b"\x1b" not in r.stderr
    assert _stderr_lines(r)[0].startswith("Rejected 1 of 4 lines (in caf\\xe9-\\x1b[31m.log): ")
    missing = os.fsdecode(b"gone-\xff\x1b]0;x\x07.log")
    r = cli(work, "report", missing, "--city-db", str(city_db))
    assert (r.returncode, r.stdout) == (3, b"")
    assert _stderr_lines(r) == ["Error: gone-\\xff\\x1b]0;x\\x07.log: no such file"]


def _fd_count() -> int:
    return len(list(Path("/proc/self/fd").iterdir()))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_many_small_files_each_counted_and_no_descriptor_leaked(work, city_db):
    logs = work / "logs"
    logs.mkdir()
    expected = {}
    for i in range(300):
        good = _good_lines(i % 4 + 1, start=i)
        text = "".join(line + "\n" for line in good) + ("junk line\n" if i % 3 == 0 else "")
        data = text.encode()
        name = f"access.log.{i:03d}"
        (logs / name).write_bytes(gzip.compress(data) if i % 2 else data)
        expected[f"logs/{name}"] = (len(good) + (i % 3 == 0), len(good), int(i % 3 == 0))

    # A limit far below the number of files: one leaked descriptor per file fails the run.
    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "loganalyzer",
            "report",
            "logs/access.log.*",
            "--log-format",
            "combined",
            "--city-db",
            str(city_db),
            "-O",
            "json",
        ],
        cwd=work,
        capture_output=True,
        preexec_fn=low_limit,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    files = json.loads(proc.stdout)["meta"]["files"]
    got = {
        f["path"]: (f["lines"]["total"], f["lines"]["parsed"], f["lines"]["rejected"])
        for f in files
    }
    assert got == expected
    analyze([str(logs / "access.log.000")], log_format="combined", city_db=city_db)  # warm-up
    before = _fd_count()
    again = analyze([str(logs / "access.log.*")], log_format="combined", city_db=city_db)
    assert _fd_count() == before
    assert len(again.meta["files"]) == 300


# --- Ctrl-C -----------------------------------------------------------------------------------


def _open_fifo_writer(fifo: Path, proc: subprocess.Popen[bytes]) -> int:
    """Open the FIFO's write end once the CLI has opened it for reading."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # no reader yet
                raise
            time.sleep(0.02)
            continue
        os.set_blocking(fd, True)
        return fd
    pytest.fail("the CLI never opened its input")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize(
    ("command", "out_name", "megabytes"),
    [
        pytest.param("report", "out.csv", 3, id="report-first-batch"),
        pytest.param("report", "out.csv", 40, id="report-after-a-batch"),
        pytest.param("enrich", "x.parquet", 40, id="enrich-after-a-batch"),
    ],
)
def test_ctrl_c_while_reading(work, city_db, command, out_name, megabytes):
    # The log arrives through a named pipe that stays open, so the CLI is certainly
    # still running when the signal comes: waiting for its first batch, or after
    # parsing one (DEFAULT_BATCH_BYTES), with rejects and enrich's row groups on disk.
    fifo = work / "big.log"
    os.mkfifo(fifo)
    out_dir = work / "out"
    out_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGANALYZER_")}
    env["LOGANALYZER_BUILTIN_SOURCES"] = "off"  # as run_cli
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loganalyzer",
            command,
            "big.log",
            "--city-db",
            str(city_db),
            "-o",
            f"out/{out_name}",
            "--rejects",
            "out/rejects.jsonl",
        ],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    fd = _open_fifo_writer(fifo, proc)
    try:
        # Enough junk that the rejects file's buffer is flushed during the first
        # batch (a report parses the lines its scanner leaves 10,000 at a time).
        lines = [*_good_lines(2000), *(f"junk {i}" for i in range(400))]
        block = "".join(line + "\n" for line in lines).encode()
        for _ in range(megabytes * 2**20 // len(block) + 1):  # as fast as the CLI reads
            os.write(fd, block)
        # The rejects file is being written: it must not survive the interrupt either.
        rejects = out_dir / "rejects.jsonl"

        def ready() -> bool:
            if megabytes * 2**20 < DEFAULT_BATCH_BYTES:
                return rejects.exists()
            if command == "enrich":  # a finished batch waits in a temporary folder
                return any(out_dir.glob(".loganalyzer-*/**/part-*.parquet"))
            return rejects.exists() and rejects.stat().st_size > 0

        deadline = time.monotonic() + 60
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ready()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(fd)
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    assert proc.returncode == 130
    assert out == b""
    assert err == b"Interrupted.\n"
    assert list(out_dir.iterdir()) == []


def test_main_in_process_gives_ctrl_c_back(capsys):
    from loganalyzer.cli import main

    before = signal.getsignal(signal.SIGINT)
    assert main(["formats"]) == 0
    assert signal.getsignal(signal.SIGINT) is before
    assert "combined" in capsys.readouterr().out


# --- no network -------------------------------------------------------------------------------

SITECUSTOMIZE = """
import os, socket

_LOG = os.environ["NET_ATTEMPTS"]


def _blocked(name):
    def refuse(*args, **kwargs):
        with open(_LOG, "a") as f:
            f.write(f"{name} {args!r}\\n")
        raise OSError(f"network blocked by the test: {name}")
    return refuse


for _name in ("connect", "connect_ex", "sendto", "bind"):
    setattr(socket.socket, _name, _blocked(f"socket.{_name}"))
socket.getaddrinfo = _blocked("getaddrinfo")
socket.gethostbyname = _blocked("gethostbyname")
"""


@pytest.fixture
def no_network(tmp_path: Path) -> tuple[dict[str, str], Path]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    attempts = tmp_path / "attempts.txt"
    return {"PYTHONPATH": str(site), "NET_ATTEMPTS": str(attempts)}, attempts


def test_the_network_guard_catches_an_attempt(work, no_network):
    env, attempts = no_network
    code = (
        "import socket, urllib.request\n"
        "try:\n"
        "    socket.socket().connect(('127.0.0.1', 9))\n"
        "except OSError:\n"
        "    pass\n"
        "urllib.request.urlopen('http://example.org/', timeout=5)\n"
    )
    r = cli(work, "--version", env=env)  # the guard loads without breaking the CLI
    assert r.returncode == 0
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert b"network blocked by the test" in proc.stderr
    tried = [line.split(" ")[0] for line in attempts.read_text().splitlines()]
    assert tried == ["socket.connect", "getaddrinfo"]


def test_no_network_during_analysis(work, city_db, asn_db, no_network):
    env, attempts = no_network
    data = "".join(line + "\n" for line in _good_lines(200)).encode()
    (work / "access.log.gz").write_bytes(gzip.compress(data))
    db = ["--city-db", str(city_db), "--asn-db", str(asn_db)]
    runs = [
        ["report", "access.log.gz", *db, "--by", "region", "--by", "asn", "-O", "json"],
        ["enrich", "access.log.gz", *db, "-o", "e.parquet"],
        ["db", "info", *db],
    ]
    results = [cli(work, *args, env=env) for args in runs]
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert json.loads(results[0].stdout)["meta"]["lines"]["parsed"] == 200
    assert (work / "e.parquet").is_file()
    assert not attempts.exists()


# --- nothing lost: property tests -------------------------------------------------------------

_GOOD = st.builds(
    lambda i, ip, path: log_line(
        ip=ip, ts=T0 + timedelta(seconds=i), request=f"GET {path} HTTP/1.1"
    ).encode(),
    st.integers(0, 10**6),
    st.sampled_from(IPS),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=' "\n\r'),
        min_size=1,
        max_size=30,
    ).map(lambda s: "/" + s),
)
_JUNK = st.one_of(
    st.binary(max_size=80),
    st.sampled_from([b"\x00", b"\r", b"\xff\xfe", b"\x1b[31m", b"=1+1", b"\xe9t\xe9", b""]),
    st.integers(1, 300_000).map(lambda n: b"x" * n),
).map(lambda b: b.replace(b"\n", b" "))


@st.composite
def _log_files(draw: st.DrawFn) -> list[tuple[bytes, bool, bool]]:
    """Files as (bytes, gzipped, is-line-good list) with mixed endings."""
    files = []
    for _ in range(draw(st.integers(1, 3))):
        kinds = draw(st.lists(st.booleans(), max_size=25))
        lines = [draw(_GOOD) if good else draw(_JUNK) for good in kinds]
        endings = [draw(st.sampled_from([b"\n", b"\r\n"])) for _ in lines]
        body = b"".join(line + end for line, end in zip(lines, endings, strict=True))
        if lines and draw(st.booleans()):
            body = body[: -len(endings[-1])]  # the last line without its newline
        files.append((body, draw(st.booleans()), kinds))
    return files


def _expected_lines(data: bytes) -> list[str]:
    pieces = data.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()
    return [p.removesuffix(b"\r").decode("utf-8", "backslashreplace") for p in pieces]


def _looks_compressed(body: bytes, packed: bool) -> bool:
    return not packed and detect_compression(body[:10], complete=len(body) < 10) != "none"


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(files=_log_files())
@example(files=[(b"\x28\xb5\x2f\xfd\x00 junk\n" + log_line().encode(), False, [False, True])])
@example(files=[(b"PK\x03\x04 junk\n", False, [False]), (log_line().encode(), True, [True])])
@example(files=[(b"\x28\xb5\x2f\xfd\n" + log_line().encode(), False, [False, True])])
def test_parsed_plus_rejected_is_every_line_of_every_file(city_db, files):
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, (body, packed, _) in enumerate(files):
            path = Path(tmp) / f"f{i}.log"
            path.write_bytes(gzip.compress(body) if packed else body)
            paths.append(str(path))
        rejects = io.StringIO()
        refused: TooManyBadLinesError | InputFileError | None = None
        try:
            a = analyze(paths, log_format="combined", city_db=city_db, by=["path"], rejects=rejects)
        except (TooManyBadLinesError, InputFileError) as exc:
            refused = exc
    if refused is not None:
        (body, packed, kinds) = files[paths.index(refused.path)]
        if isinstance(refused, TooManyBadLinesError):
            # A documented refusal: a file none of whose lines is a request...
            assert not any(kinds) or _looks_compressed(body, packed)
        else:
            # ... or junk that opens like an archive (zip, 7-Zip, lz4...): named as such.
            assert not packed
            assert any(body.startswith(magic) for magic, _, _ in _UNSUPPORTED)
            assert "not a log; feed it in with" in refused.problem
        return
    records = [json.loads(x) for x in rejects.getvalue().splitlines()]
    for path, (body, packed, kinds), stats in zip(paths, files, a.meta["files"], strict=True):
        expected = _expected_lines(body)
        lines = stats["lines"]
        assert stats["path"] == path
        assert lines["total"] == lines["parsed"] + lines["rejected"]
        if _looks_compressed(body, packed):
            # Junk that opens like a compressed stream is one: decoded up to where
            # it breaks, and the break is a fault naming the file.
            assert [f.source for f in a.faults if f.source == path] == [path]
            continue
        assert lines["total"] == len(expected)
        mine = [r for r in records if r["source"] == path]
        assert len(mine) == lines["rejected"]
        assert len({r["line_no"] for r in mine}) == len(mine)
        for rec in mine:
            # Each reject names its line truly, and no well-formed line is among them.
            assert rec["line"] == expected[rec["line_no"] - 1]
            assert not kinds[rec["line_no"] - 1]
    doc = json.loads(render(a, "json"))  # valid JSON whatever the bytes were
    assert sum(row["requests"] for row in doc["rows"]) == a.meta["lines"]["parsed"]


def test_faults_of_several_files_are_told_in_the_files_order(work, city_db):
    # Two threads read the files (dealt in turns); what broke is still told,
    # and counted, file by file in the order given.
    names = []
    for i, (lines, cut) in enumerate([(3000, False), (200, True), (4000, True), (50, False),
                                      (1000, True), (10, True)]):  # fmt: skip
        data = "".join(line + "\n" for line in _good_lines(lines, start=i * 10000)).encode()
        packed = COMPRESS["gzip"](data)
        (work / f"access.log.{i}.gz").write_bytes(packed[: len(packed) * 2 // 3] if cut else packed)
        names.append(f"access.log.{i}.gz")
    args = ["report", *names, "--city-db", str(city_db), "-O", "json", "--keep-going"]
    r = cli(work, *args)
    assert r.returncode == 7, r.stderr  # partial: four of six files were cut short
    warned = [e.split(":")[1].strip() for e in _stderr_lines(r) if e.startswith("Warning: ")]
    assert warned == ["access.log.1.gz", "access.log.2.gz", "access.log.4.gz", "access.log.5.gz"]
    files = json.loads(r.stdout)["meta"]["files"]
    assert [f["path"] for f in files] == names
    assert [bool(f.get("error")) for f in files] == [False, True, True, False, True, True]
