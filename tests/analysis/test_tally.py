"""Reports summed per group (``tally.py``) against the per-client path: identical rows.

A report by region, country, city or network looks each client up once and
sums its lines straight into its row (``Groups`` in ``loganalyzer/native/table.c``). Its rows must
be those of the per-client path (partials per client, one lookup, one join,
one grouping), which ``LOGANALYZER_NATIVE=0`` runs, however the clients are
spelled, however often the lookups run, and whichever route a line takes
(the scanner, or Polars for the lines the scanner leaves).
"""

from __future__ import annotations

import functools
import gzip
import os
import random
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import loganalyzer.analysis.batches as batches_module
import loganalyzer.analysis.pipeline as pipeline
import loganalyzer.analysis.reading as reading_module
import loganalyzer.ingest.read as read_module
from loganalyzer import schema as S
from loganalyzer.analysis import tally
from loganalyzer.analysis.aggregate import resolve_grouping
from loganalyzer.anonymity.sources import AnonymizerSources
from loganalyzer.geo.databases import GeoDatabases
from loganalyzer.ingest import native
from loganalyzer.ingest.read import LineBatch, iter_batches
from tests.helpers import FIXTURES

pytestmark = pytest.mark.skipif(not native.AVAILABLE, reason="built without a C compiler")

ANON = FIXTURES / "anon"

# Spellings of one address count as one client (unique_ips is by canonical
# address); the scanner takes some of them and leaves others to Polars.
CLIENTS = [
    "175.167.3.4",
    "::ffff:175.167.3.4",
    "175.167.9.9",
    "2408:8200::1",
    "2408:8200:0::1",
    "2408:8200::0001",
    "2408:8200::2",
    "2A02:9000::5",
    "2a02:9000::5",
    "[2a02:9000::7]",
    "2.136.4.4",
    "2.137.8.8",
    "89.160.20.115",
    "81.2.69.142",
    "216.160.83.57",
    "67.43.156.1",
    "185.220.101.4",
    "8.8.8.8",
    "10.0.0.1",
    "127.0.0.1",
    "175.167.003.004",
    "-",
    "unknown",
    "client.example.org",
    # Listed by the anonymizer fixtures: a VPN list, a Tor exit list, an
    # Anonymous IP database, an ASN list and cloud ranges.
    "2.137.200.5",
    "81.2.69.130",
    "185.220.101.20",
    "2.136.250.9",
    "2408:8200:ff::1",
]


def _log(path: Path, lines: int, seed: int) -> Path:
    """A combined log of the clients above, with lines only Polars reads and bad ones."""
    rng = random.Random(seed)
    out = []
    for _ in range(lines):
        client = rng.choice(CLIENTS)
        day, hour = rng.randint(1, 28), rng.randint(0, 23)
        tz = rng.choice(["+0000", "+0800", "-0500"])
        status = rng.choice(["200", "301", "404", "503", "-", "101"])
        size = rng.choice(["512", "-", "0", "99999"])
        agent = rng.choice(["Mozilla/5.0", "curl/8", "Bot ñ"])  # ñ: the scanner leaves it
        line = (
            f'{client} - - [{day:02d}/Sep/2026:{hour:02d}:00:00 {tz}] "GET / HTTP/1.1" '
            f'{status} {size} "-" "{agent}"'
        )
        roll = rng.random()
        if roll < 0.03:
            line = "not a log line"
        elif roll < 0.05:
            line = line.replace("Sep", "Sept")  # an odd time: Polars decides
        elif roll < 0.06:
            line = ""
        out.append(line)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def dbs(city_db, asn_db) -> GeoDatabases:
    return GeoDatabases.open(city=city_db, asn=asn_db)


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tally")
    plain = _log(root / "a.log", 4000, seed=3)
    packed = root / "b.log.gz"
    packed.write_bytes(gzip.compress(_log(root / "b.log", 3000, seed=4).read_bytes()))
    return {"plain": plain, "gzip": packed}


def _both(monkeypatch, paths, dbs, **kw):
    """The report by the tally and by the per-client path; checks the tally ran."""
    tallied = []
    real = tally.Tally.rows
    monkeypatch.setattr(tally.Tally, "rows", lambda t: tallied.append(1) or real(t))
    monkeypatch.setenv("LOGANALYZER_NATIVE", "1")
    fast = pipeline.analyze(paths, dbs=dbs, **kw)
    assert tallied, "the tally was not used"
    monkeypatch.setenv("LOGANALYZER_NATIVE", "0")
    slow = pipeline.analyze(paths, dbs=dbs, **kw)
    return fast, slow


CASES = [
    ({"by": ["region"]}),
    ({"by": ["region"], "watch": ["ES", "CN-LN"]}),
    ({"by": ["city"], "top_n": 3}),
    ({"by": ["asn"]}),
    ({"by": ["subregion"]}),
    ({"by": ["country", "asn"]}),
    ({"by": ["ip_class"]}),
    ({"by": ["region"], "where": ["country_iso=CN"]}),
    ({"by": ["country"], "where": ["client_ip=175.167.0.0/16,2a02:9000::/24"]}),
    ({"by": ["asn"], "where": ["country_iso!=ES"]}),
]


@pytest.mark.parametrize("resolve_at", [1, 7, 10_000])
@pytest.mark.parametrize("options", CASES, ids=lambda o: str(o))
def test_tally_equals_the_per_client_path(monkeypatch, dbs, logs, options, resolve_at):
    # Lookups after every call or every few clients (so clients come back after
    # they have a row), small windows and batches (so both threads and many
    # calls run), a plain file (read by the scanner) and a gzipped one (batches
    # of several inflated pieces, lines across them, which the reader's thread
    # helps to sum).
    monkeypatch.setattr(tally, "_RESOLVE_AT", resolve_at)
    monkeypatch.setattr(reading_module, "_DIRECT_WINDOW", 3000)
    monkeypatch.setattr(
        reading_module, "iter_batches", functools.partial(iter_batches, batch_bytes=5000)
    )
    monkeypatch.setattr(read_module, "_PIECE", 700)
    fast, slow = _both(monkeypatch, [logs["plain"], logs["gzip"]], dbs, **options)
    assert fast.rows.height > 0
    assert_frame_equal(fast.rows, slow.rows)
    assert fast.meta["lines"] == slow.meta["lines"]
    assert fast.meta["rows_total"] == slow.meta["rows_total"]
    assert fast.meta["time_range"] == slow.meta["time_range"]


@pytest.fixture(scope="module")
def sources(anon_dbs) -> AnonymizerSources:
    return AnonymizerSources.load(
        anon_db=[anon_dbs["anonymous-ip"]],
        tor_exits=[ANON / "torbulkexitlist"],
        ip_lists=[
            ("vpn", ANON / "vpn-list.txt"),
            (None, ANON / "misp-vpn.json"),
            # An actor type too: one more key of each client's row.
            ("scanner", ANON / "vpn-list.txt"),
        ],
        cloud_ranges=[ANON / "ip-ranges.json"],
        asn_list=ANON / "asn-list.csv",
    )


@pytest.mark.parametrize(
    "options",
    [
        {"by": ["region"]},
        {"by": ["asn"], "top_n": 4},
        {"by": ["country"], "where": ["anonymizer=vpn,tor_exit"]},
        {"by": ["region"], "where": ["country_iso=ES"], "watch": ["CN-LN"]},
    ],
    ids=str,
)
def test_tally_with_sources_equals_the_per_client_path(monkeypatch, dbs, logs, sources, options):
    # Undated sources: each client is judged when it is looked up, and the
    # verdict is one more key of its row.
    assert not sources.dated
    monkeypatch.setattr(tally, "_RESOLVE_AT", 5)
    monkeypatch.setattr(reading_module, "_DIRECT_WINDOW", 3000)
    fast, slow = _both(monkeypatch, [logs["plain"], logs["gzip"]], dbs, sources=sources, **options)
    assert fast.rows[S.REQUESTS_ANONYMIZED].sum() > 0
    assert fast.rows[S.REQUESTS_SCANNER].sum() > 0
    assert_frame_equal(fast.rows, slow.rows)
    assert fast.meta["lines"] == slow.meta["lines"]
    assert fast.meta["warnings"] == slow.meta["warnings"]


def test_a_report_of_nothing_is_the_same(monkeypatch, dbs, tmp_path):
    log = tmp_path / "bad.log"
    log.write_text('1.2.3.4 - - [01/Sep/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "x"\n')
    fast, slow = _both(monkeypatch, [log], dbs, by=["region"], where=["country_iso=AQ"])
    assert fast.rows.height == 0
    assert_frame_equal(fast.rows, slow.rows)


@pytest.mark.parametrize(
    ("by", "given", "taken"),
    [
        (["region"], None, True),
        (["country", "asn"], None, True),
        (["ip_class"], None, True),
        (["region"], "lists", True),
        (["region"], "dated", False),  # measured Tor exits: each client's own times
        (["ip"], None, False),  # one row per client anyway
        (["region", "ip"], None, False),
        (["status"], None, False),  # row keys
        (["region", "hour"], None, False),
    ],
)
def test_which_reports_are_tallied(monkeypatch, by, given, taken):
    loaded = {
        None: None,
        "lists": AnonymizerSources.load(ip_lists=[("vpn", ANON / "vpn-list.txt")]),
        "dated": AnonymizerSources.load(tor_exits=[ANON / "exit-addresses"]),
    }[given]
    monkeypatch.setenv("LOGANALYZER_NATIVE", "1")
    assert tally.can_tally(resolve_grouping(by), loaded) is taken
    monkeypatch.setenv("LOGANALYZER_NATIVE", "0")
    assert tally.can_tally(resolve_grouping(by), loaded) is False


# --- the C groups against a model ------------------------------------------------------

_POOL = ["a.b", "A.B", "c", "C", "dd", "x" * 20, "X" * 20, "y" * 40, "e"]


def _group_of(who: str) -> int:
    # A client's group follows its who, as a lookup's does; -1: left out.
    return {"a.b": 0, "c": 1, "dd": 1, "x" * 20: 2, "y" * 40: 3, "e": -1}[who]


_SEP_1 = int(datetime(2026, 9, 1, tzinfo=UTC).timestamp())


def _line(client: str, ts: int, status: int, size: int) -> str:
    day, hour = 1 + ts // 24, ts % 24
    size_text = "-" if size < 0 else str(size)
    return (
        f'{client} - - [{day:02d}/Sep/2026:{hour:02d}:00:00 +0000] "GET / HTTP/1.1" '
        f'{status} {size_text} "-" "ua"'
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(_POOL),
            st.integers(0, 24 * 27),
            st.sampled_from([200, 302, 404, 500, 199, 600]),
            st.integers(-1, 10**6),
            st.booleans(),  # merged as a partial row rather than read as a line
            st.booleans(),  # look the pending clients up after this one
        ),
        max_size=60,
    )
)
def test_group_sums_match_a_model(rows):
    sums = native.GroupSums()
    reducer = sums._reducer

    numbers: dict[int, int] = {}  # rows are numbered as they first appear

    def resolve() -> None:
        pending = sums.pending()
        whos = pending.str.to_lowercase()
        labels = [_group_of(w) for w in whos]
        for label in labels:
            if label >= 0:
                numbers.setdefault(label, len(numbers))
        groups = pl.Series([numbers.get(label, -1) for label in labels], dtype=pl.Int32)
        sums.assign(groups, whos)

    for client, ts, status, size, as_partial, look_up in rows:
        if as_partial:
            micros = (_SEP_1 + ts * 3600) * 1_000_000
            reducer.merge(
                f"\n{client}\n".encode(),
                np.array(
                    [1, max(size, 0)]
                    + [int(status // 100 == k) for k in (2, 3, 4, 5)]
                    + [int(not 2 <= status // 100 <= 5)],
                    np.int64,
                ).tobytes(),
                np.array([micros], np.int64).tobytes(),
                np.array([micros], np.int64).tobytes(),
            )
        else:
            line = _line(client, ts, status, size).encode() + b"\n"
            assert sums.add(LineBatch("t", 1, line), 1)[1:] == (1, 1)  # summed, not left
        if look_up:
            resolve()
    resolve()
    got = sums.groups()
    frame = pl.DataFrame(
        rows,
        schema={
            "client": pl.String,
            "ts": pl.Int64,
            "status": pl.Int64,
            "size": pl.Int64,
            "partial": pl.Boolean,
            "look_up": pl.Boolean,
        },
        orient="row",
    ).with_columns(who=pl.col("client").str.to_lowercase())
    frame = frame.with_columns(group=pl.col("who").replace_strict(_group_of_table()))
    kept = frame.filter(pl.col("group") >= 0)
    want = (
        kept.group_by("group")
        .agg(
            pl.len().cast(pl.Int64).alias(S.REQUESTS),
            pl.col("size").clip(0).sum().cast(pl.Int64).alias(S.BYTES),
            *[
                (pl.col("status") // 100 == k).sum().cast(pl.Int64).alias(name)
                for k, name in zip((2, 3, 4, 5), S.STATUS_CLASSES, strict=False)
            ],
            (~(pl.col("status") // 100).is_between(2, 5)).sum().cast(pl.Int64).alias("other"),
            pl.col("who").n_unique().cast(pl.Int64).alias(S.UNIQUE_IPS),
            pl.col("ts").min().alias("first"),
            pl.col("ts").max().alias("last"),
        )
        .sort("group")
    )
    # Compare the rows as sets: their numbers are the order they first appeared in.
    assert got.height == want.height
    got_rows = sorted(
        (
            r[S.REQUESTS],
            r[S.BYTES],
            r[S.UNIQUE_IPS],
            (r[S.FIRST_SEEN].timestamp() - _SEP_1) // 3600,
            (r[S.LAST_SEEN].timestamp() - _SEP_1) // 3600,
            *(r[c] for c in S.STATUS_CLASSES),
        )
        for r in got.iter_rows(named=True)
    )
    want_rows = sorted(
        (
            r[S.REQUESTS],
            r[S.BYTES],
            r[S.UNIQUE_IPS],
            r["first"],
            r["last"],
            *(r[c] for c in S.STATUS_CLASSES[:4]),
            r["other"],
        )
        for r in want.iter_rows(named=True)
    )
    assert got_rows == want_rows


def _group_of_table() -> dict[str, int]:
    return {who: _group_of(who) for who in {c.lower() for c in _POOL}}


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda r: r.assign(b"\x00\x00\x00\x00", b"\nx\n"), ValueError),  # nothing pending
        (lambda r: r.assign(b"", b"\nx\n"), ValueError),
        (lambda r: r.merge(b"\nx\n", b"", b"\x00" * 8, b"\x00" * 8), ValueError),
        (lambda r: r.merge(b"\nx\ny\n", b"\x00" * 56, b"\x00" * 8, b"\x00" * 8), ValueError),
    ],
)
def test_the_reducer_refuses_mismatched_columns(call, error):
    reducer = native.GroupSums()._reducer
    with pytest.raises(error):
        call(reducer)


def test_group_calls_need_a_grouped_reducer_and_nothing_pending():
    with pytest.raises(RuntimeError, match="per client"):
        native.Sums()._reducer.pending()
    with pytest.raises(RuntimeError, match="per group"):
        native.GroupSums()._reducer.sums()
    sums = native.GroupSums()
    sums.add(LineBatch("t", 1, _line("a.b", 1, 200, 5).encode()), 1)
    assert sums.waiting() == 1
    with pytest.raises(RuntimeError, match="pending"):
        sums.groups()
    pending = sums.pending()
    with pytest.raises(ValueError, match="out of range"):
        sums.assign(pl.Series([5], dtype=pl.Int32), pending)
    sums.assign(pl.Series([0], dtype=pl.Int32), pending)
    assert sums.groups()[S.UNIQUE_IPS].to_list() == [1]


# --- reading back the lines the scanner leaves -----------------------------------------


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(["", "junk", "x" * 50, "é ñ", "#c", "y" * 7]), max_size=30),
    st.booleans(),
    st.integers(1, 64),
    st.integers(1, 400),
)
def test_span_lines_give_back_every_line_with_its_number(
    tmp_path_factory, monkeypatch_module, lines, newline, piece, window
):
    monkeypatch_module.setattr(native, "_PIECE", piece)
    data = "\n".join(lines).encode() + (b"\n" if newline and lines else b"")
    path = tmp_path_factory.mktemp("s") / "t.log"
    path.write_bytes(data)
    sums, got = native.Sums(), []
    fd = os.open(path, os.O_RDONLY)
    offset, line_no = 0, 1
    try:
        while True:
            end, spans, n, _ = sums.read(fd, offset, window, 1)
            if end == offset:
                break
            got.extend(native.span_lines(fd, spans, "t.log", line_no))
            offset, line_no = end, line_no + n
    finally:
        os.close(fd)
    want = LineBatch("t.log", 1, data).to_frame()
    # None of these lines is of the usual shape: all come back, in order.
    rest = pl.concat(got) if got else want.clear()
    assert_frame_equal(rest, want)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as m:
        yield m


def test_span_lines_notice_a_file_that_shrank(tmp_path):
    path = tmp_path / "t.log"
    path.write_bytes(b"junk\n" * 10)
    fd = os.open(path, os.O_RDONLY)
    try:
        end, spans, n, _ = native.Sums().read(fd, 0, 100, 1)
        assert (end, n) == (50, 10)
        os.truncate(path, 20)
        with pytest.raises(OSError, match="shrank"):
            list(native.span_lines(fd, spans, "t.log", 1))
    finally:
        os.close(fd)


def test_many_clients_grow_the_tables():
    # Thousands of clients, half longer than the 16 bytes kept in the table's
    # entry: the group table and the pending tables grow several times.
    clients = [f"10.{i // 256}.{i % 256}.1" for i in range(3000)]
    clients += [f"2001:db8:aaaa:bbbb:cccc:dddd:{i // 65536:x}:{i % 65536:x}" for i in range(3000)]
    sums = native.GroupSums()
    numbers: dict[int, int] = {}

    def resolve() -> None:
        pending = sums.pending()
        labels = [len(c) % 5 for c in pending]  # a few rows of many clients each
        groups = [numbers.setdefault(label, len(numbers)) for label in labels]
        sums.assign(pl.Series(groups, dtype=pl.Int32), pending)

    for round_ in range(3):  # each client again after it has its row
        for start in range(0, len(clients), 1000):
            part = clients[start : start + 1000]
            data = "\n".join(_line(c, round_, 200, 10) for c in part).encode()
            assert sums.add(LineBatch("t", 1, data), 1)[1:] == (1000, 1000)
            if sums.waiting() >= 1500:
                resolve()
    resolve()
    got = sums.groups()
    assert got[S.REQUESTS].sum() == 3 * len(clients)
    assert got[S.BYTES].sum() == 30 * len(clients)
    want = pl.Series([len(c) % 5 for c in clients]).value_counts()
    assert sorted(got[S.UNIQUE_IPS].to_list()) == sorted(want["count"].to_list())


def _small_files(root: Path, kinds: list[str]) -> list[Path]:
    """Small logs of the clients above, gzipped or plain, each of its own length."""
    paths = []
    for k, kind in enumerate(kinds):
        text = _log(root / f"{k}.log", 150 + 37 * k, seed=20 + k).read_bytes()
        if kind == "gzip":
            path = root / f"{k}.log.gz"
            path.write_bytes(gzip.compress(text))
        else:
            path = root / f"{k}.log"
        paths.append(path)
    return paths


def _run(monkeypatch, paths, dbs, native_on: bool, **kw):
    import io

    monkeypatch.setenv("LOGANALYZER_NATIVE", "1" if native_on else "0")
    rejects = io.StringIO()
    result = pipeline.analyze(paths, dbs=dbs, by=["region"], rejects=rejects, **kw)
    return result, rejects.getvalue()


def test_small_files_leftovers_parsed_together_count_each_file(monkeypatch, dbs, tmp_path):
    # The lines the scanner leaves in small files wait for the next files' and
    # are parsed together (one parse cost some milliseconds however few lines):
    # each file's counts, its first reject and the rejects written, in order,
    # are those of parsing file by file.
    kinds = ["gzip"] * 9 + ["plain", "gzip", "plain", "gzip"]
    paths = _small_files(tmp_path, kinds)
    calls = []
    real = batches_module.parse_counted_files
    monkeypatch.setattr(
        batches_module,
        "parse_counted_files",
        lambda parts, *a, **k: calls.append(len(parts)) or real(parts, *a, **k),
    )
    fast, fast_rejects = _run(monkeypatch, paths, dbs, native_on=True)
    assert max(calls) > 1, "no two files' leftovers were parsed together"
    slow, slow_rejects = _run(monkeypatch, paths, dbs, native_on=False)
    assert_frame_equal(fast.rows, slow.rows)
    assert fast.meta["files"] == slow.meta["files"]
    assert fast.meta["lines"] == slow.meta["lines"]
    assert fast_rejects == slow_rejects
    assert all(f["lines"]["rejected"] > 0 for f in fast.meta["files"])
    # --max-bad-lines counts the lines read so far: there, file by file.
    calls.clear()
    limited, _ = _run(monkeypatch, paths, dbs, native_on=True, max_bad_lines=10**6)
    assert max(calls) == 1
    assert limited.meta["files"] == fast.meta["files"]


def test_a_small_file_in_another_format_is_named_though_its_check_waits(monkeypatch, dbs, tmp_path):
    # A file none of whose lines parse is an error naming it, as when each
    # file's leftovers were parsed at its end: also when a later file fails to
    # open before the waiting lines are parsed.
    from loganalyzer.errors import InputFileError, TooManyBadLinesError

    paths = _small_files(tmp_path, ["gzip", "gzip", "gzip"])
    wrong = tmp_path / "wrong.log.gz"
    wrong.write_bytes(gzip.compress(b"not a log line\n" * 50))
    paths.insert(2, wrong)
    combined = {"log_format": "combined"}  # detection would refuse the file at once
    archive = tmp_path / "then.zip"
    archive.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    for inputs in (paths, [*paths[:3], archive]):
        errors = []
        for native_on in (True, False):
            with pytest.raises(TooManyBadLinesError) as excinfo:
                _run(monkeypatch, inputs, dbs, native_on=native_on, **combined)
            e = excinfo.value
            errors.append((e.path, e.bad, e.total, e.first_line_no))
        assert errors[0] == errors[1] == (str(wrong), 50, 50, 1)
    with pytest.raises(InputFileError):
        _run(monkeypatch, [*paths[:2], archive], dbs, native_on=True, **combined)


@pytest.mark.parametrize(
    ("files", "two"),
    [
        pytest.param([("gz", 600_000)] * 3, True, id="small-gzip-files"),
        pytest.param([("plain", 4_000_000)] * 3, True, id="plain-files-the-scanner-reads"),
        pytest.param([("gz", 2_000_000)] * 3, False, id="gzip-files-of-2-MB"),
        pytest.param([("gz", 600_000)], False, id="one-file"),
        pytest.param([("gz", 4_000_000), ("plain", 9_000_000), ("gz", 100)], False, id="mixed"),
        pytest.param(
            [("gz", 1_000_000), ("plain", 9_000_000), ("gz", 100)], True, id="mixed-small"
        ),
        pytest.param([("gz", 100), ("stdin", 0)], False, id="with-stdin"),
    ],
)
def test_two_threads_read_many_files_with_little_to_inflate(
    tmp_path: Path, files: list[tuple[str, int]], two: bool
) -> None:
    inputs = []
    for i, (kind, size) in enumerate(files):
        if kind == "stdin":
            inputs.append(read_module.InputFile("-", None, None))
            continue
        path = tmp_path / f"f{i}"
        # Only the start is looked at (is it compressed) and the size on disk.
        head = b"\x1f\x8b\x08\x00" if kind == "gz" else b"1.2.3.4 - - "
        path.write_bytes(head + bytes(size - len(head)))
        inputs.append(read_module.InputFile(str(path), path, size))
    assert reading_module._in_turns(inputs) is two
