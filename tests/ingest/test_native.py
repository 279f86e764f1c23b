"""The native scanner against the Polars parser: the same requests, counts and rejects.

The scanner (``loganalyzer/native/scan.c``) accepts only common or combined lines it
is sure of and hands every other line back for the Polars parser. Whatever the
bytes, the two routes together must give what the Polars parser gives alone:
the same rows (line numbers, clients, UTC times, statuses, bytes) and the same
rejects with the same reasons.
"""

from __future__ import annotations

import importlib
import itertools

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from loganalyzer import schema as S
from loganalyzer.ingest import native
from loganalyzer.ingest.parse import ParseOptions, parse_lines, split_parsed
from loganalyzer.ingest.presets import COMBINED, COMMON, get_format
from loganalyzer.ingest.read import LineBatch, count_lines

pytestmark = pytest.mark.skipif(not native.AVAILABLE, reason="built without a C compiler")

parse_module = importlib.import_module("loganalyzer.ingest.parse")

COLUMNS = frozenset({S.CLIENT, S.TS, S.STATUS, S.BYTES})
KINDS = {"common": (0, COMMON), "combined": (1, COMBINED)}

GOOD = (
    '175.167.3.4 - - [14/Sep/2026:08:01:02 +0800] "GET / HTTP/1.1" 200 512 '
    '"https://example.org/" "Mozilla/5.0 (X11; Linux x86_64)"'
)


def _polars(batch: LineBatch, fmt) -> tuple[pl.DataFrame, pl.DataFrame]:
    result = split_parsed(parse_lines(batch.to_frame().lazy(), fmt, columns=COLUMNS))
    return result.rows.collect(), result.rejects.collect()


def _native(batch: LineBatch, kind: int, fmt) -> tuple[pl.DataFrame, pl.DataFrame, int, int]:
    scanned = native.scan(batch, kind)
    rest = split_parsed(parse_lines(scanned.rest.lazy(), fmt, columns=COLUMNS))
    slow = rest.rows.collect()
    rows = pl.concat([scanned.rows.select(slow.columns), slow]).sort(S.LINE_NO)
    return rows, rest.rejects.collect(), scanned.rows.height, scanned.lines


def _same(data: bytes, name: str, first_line_no: int = 1) -> int:
    """Both routes on one batch; returns how many lines the scanner accepted."""
    kind, fmt = KINDS[name]
    batch = LineBatch("t.log", first_line_no, data)
    want_rows, want_rejects = _polars(batch, fmt)
    rows, rejects, accepted, lines = _native(batch, kind, fmt)
    assert_frame_equal(rows, want_rows)
    assert_frame_equal(rejects, want_rejects)
    assert lines == want_rows.height + want_rejects.height
    return accepted


# (line, accepted by the scanner for combined, for common)
CASES = [
    (GOOD, True, True),
    ('::1 - - [14/Sep/2026:08:01:02 -0230] "GET / HTTP/1.1" 404 - "-" "curl/8"', True, True),
    ('1.2.3.4 - frank [29/Feb/2024:23:59:59 +0000] "" - 0 "" ""', True, True),
    # The user agent's closing quote may be missing; anything may follow it after a space.
    ('1.2.3.4 - - [01/Jan/2024:00:00:01 +0800] "GET / HTTP/1.1" 200 5 "-" "cut', True, True),
    ('1.2.3.4 - - [01/Jan/2024:00:00:01 +0800] "GET / HTTP/1.1" 200 5 "-" "ua" x y', True, True),
    ('1.2.3.4 - - [01/Jan/2024:00:00:01 +0800] "GET / HTTP/1.1" 200 5 "-" "ua"x', False, True),
    # Escaped quotes and backslashes stay inside their field.
    (
        r'1.2.3.4 - - [01/Jan/2024:00:00:01 +0800] "GET /\"a\\ HTTP/1.1" 200 5 "-" "a\"b"',
        True,
        True,
    ),
    (r'1.2.3.4 - - [01/Jan/2024:00:00:01 +0800] "GET / HTTP/1.1" 200 5 "-" "ua\\', True, True),
    ('1.2.3.4 - - [01/Jan/2024:00:00:01 +0800] "GET / HTTP/1.1" 200 5 "-" "ua\\', False, True),
    # Several spaces between fields, as the regex's " +" allows.
    ('1.2.3.4  -   - [01/Jan/2024:00:00:01 +0800]  "GET /"  200  5  "-"  "ua"', True, True),
    # Times the scanner leaves to the general parser, valid or not.
    ('1.2.3.4 - - [1/Jan/2024:00:00:01 +0800] "GET /" 200 5 "-" "ua"', False, False),
    ('1.2.3.4 - - [01/JAN/2024:00:00:01 +0800] "GET /" 200 5 "-" "ua"', False, False),
    ('1.2.3.4 - - [30/Feb/2024:00:00:01 +0800] "GET /" 200 5 "-" "ua"', False, False),
    ('1.2.3.4 - - [01/Jan/2024:24:00:00 +0000] "GET /" 200 5 "-" "ua"', False, False),
    ('1.2.3.4 - - [01/Jan/2024:00:00:60 +0000] "GET /" 200 5 "-" "ua"', False, False),
    ('1.2.3.4 - - [01/Jan/2024:00:00:01 +2400] "GET /" 200 5 "-" "ua"', False, False),
    ('1.2.3.4 - - [01/Jan/2024:00:00:01 +07:00] "GET /" 200 5 "-" "ua"', False, False),
    ('1.2.3.4 - - [01/Jan/1969:00:00:01 +0000] "GET /" 200 5 "-" "ua"', False, False),
    ('1.2.3.4 - - [01/Jan/2024:00:00:01] "GET /" 200 5 "-" "ua"', False, False),
    # Numbers: a status of three digits or "-", bytes up to parse.MAX_BYTES (2^48);
    # the general parser reads a larger count as null.
    ('1.2.3.4 - - [01/Jan/2024:00:00:01 +0000] "GET /" 2000 5 "-" "ua"', False, False),
    ('1.2.3.4 - - [01/Jan/2024:00:00:01 +0000] "GET /" 20 5 "-" "ua"', False, False),
    ('1.2.3.4 - - [01/Jan/2024:00:00:01 +0000] "GET /" 200 5x "-" "ua"', False, False),
    ('1.2.3.4 - - [01/Jan/2024:00:00:01 +0000] "GET /" 200 281474976710656 "-" "u"', True, True),
    ('1.2.3.4 - - [01/Jan/2024:00:00:01 +0000] "GET /" 200 281474976710657 "-" "u"', False, False),
    (
        '1.2.3.4 - - [01/Jan/2024:00:00:01 +0000] "GET /" 200 123456789012345678 "-" "u"',
        False,
        False,
    ),
    (
        '1.2.3.4 - - [01/Jan/2024:00:00:01 +0000] "GET /" 200 1234567890123456789 "-" "u"',
        False,
        False,
    ),
    # Bytes the scanner never decides: tabs, control bytes, non-ASCII.
    ('1.2.3.4 - - [01/Jan/2024:00:00:01 +0000] "GET /" 200 5 "-" "Mozilla\tX"', False, False),
    ('1.2.3.4 - - [01/Jan/2024:00:00:01 +0000] "GET /é" 200 5 "-" "ua"', False, False),
    ('1.2.3.4\t- - [01/Jan/2024:00:00:01 +0000] "GET /" 200 5 "-" "ua"', False, False),
    ('1.2.3.4 - - [01/Jan/2024:00:00:01 +0000] "GET /\x7f" 200 5 "-" "ua"', False, False),
    # Lines that are not requests at all.
    ("", False, False),
    ("# a comment", False, False),
    ("   ", False, False),
    (' 1.2.3.4 - - [01/Jan/2024:00:00:01 +0000] "GET /" 200 5 "-" "ua"', False, False),
    ('1.2.3.4 - - [01/Jan/2024:00:00:01 +0000] "GET /', False, False),
    ('1.2.3.4 - - [01/Jan/2024:00:00:01 +0000] "GET /" 200 5', False, True),
    ('1.2.3.4 - - [01/Jan/2024:00:00:01 +0000] "GET /" 200 5 ', False, True),
]


@pytest.mark.parametrize("name", KINDS)
@pytest.mark.parametrize(("line", "combined", "common"), CASES)
def test_each_line_as_the_polars_parser_reads_it(line, combined, common, name):
    accepted = _same(line.encode() + b"\n", name, first_line_no=41)
    assert accepted == (combined if name == "combined" else common)


@pytest.mark.parametrize("name", KINDS)
def test_a_batch_of_every_case_keeps_line_numbers_and_ends(name):
    data = "\n".join(c[0] for c in CASES).encode()
    # Windows line ends, a lone CR inside a line, and no newline at the very end.
    _same(data, name)
    _same(data.replace(b"\n", b"\r\n") + b"\r\n", name)
    _same(data.replace(b"GET /", b"GET \r/") + b"\n\n", name)
    _same(b"", name)


def test_invalid_utf8_goes_to_the_polars_parser_and_is_shown_escaped():
    data = (GOOD + "\n").encode() + GOOD.encode().replace(b"Mozilla", b"Mo\xffzilla") + b"\n"
    assert _same(data, "combined") == 1


def test_a_batch_starting_like_compressed_data_is_still_text():
    # 0x1f, '(' and 'x' open gzip, zstd and zlib streams; Polars sniffs them.
    for start in (b"\x1f", b"(", b"x"):
        data = start + b"ab - - junk\n" + (GOOD + "\n").encode()
        _same(data, "combined")
        _same((GOOD.replace("175.167.3.4", start.decode() + "1.2.3.4") + "\n").encode(), "combined")


_TOKENS = st.sampled_from(
    ["1.2.3.4", "2001:db8::1", "-", "frank", 'a"b', "x\\y", "é", "a\tb", "[1", "1]", ""]
)
_DAYS = st.sampled_from(["01", "14", "29", "30", "31", "00", "32", "1", "9x"])
_MONTHS = st.sampled_from(["Jan", "Feb", "Sep", "Dec", "feb", "JAN", "Xyz", "Ja"])
_YEARS = st.sampled_from(["2024", "2023", "2100", "1970", "2199", "1969", "2200", "0000", "24"])
_CLOCK = st.sampled_from(["00:00:00", "23:59:59", "12:30:45", "24:00:00", "00:60:00", "1:2:3"])
_ZONES = st.sampled_from(["+0000", "-0000", "+0800", "-0230", "+2359", "+2400", "+0060", "+08:00"])
_QUOTED = st.text(alphabet=st.sampled_from(list('ab /"\\é\t\x01')), max_size=8)
_STATUS = st.sampled_from(["200", "404", "-", "2000", "20", "abc", "099"])
_BYTES = st.sampled_from(["0", "512", "-", "12a", "", "18446744073709551616", "007"])
_SEP = st.sampled_from([" ", " ", " ", "  ", "\t", ""])


@st.composite
def _lines(draw) -> str:
    time = f"[{draw(_DAYS)}/{draw(_MONTHS)}/{draw(_YEARS)}:{draw(_CLOCK)} {draw(_ZONES)}]"
    parts = [
        draw(_TOKENS) or "1.2.3.4",
        draw(_TOKENS) or "-",
        draw(_TOKENS) or "-",
        time,
        '"' + draw(_QUOTED) + '"',
        draw(_STATUS),
        draw(_BYTES),
        '"' + draw(_QUOTED) + '"',
        '"' + draw(_QUOTED) + draw(st.sampled_from(['"', "", '" tail', '"x'])),
    ]
    cut = draw(st.integers(min_value=4, max_value=len(parts)))
    line = ""
    for part in parts[:cut]:
        line += (draw(_SEP) if line else "") + part
    return line


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(_lines(), st.just(GOOD), st.sampled_from(["", "#x", " "])), max_size=12),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
    st.sampled_from(list(KINDS)),
)
def test_any_batch_reads_the_same_both_ways(lines, end, last_newline, name):
    data = end.join(lines) + (end if last_newline and lines else "")
    _same(data.encode(), name)


def test_the_benchmark_generator_s_lines_are_read_by_the_scanner(tmp_path, city_db):
    from loganalyzer.analysis.bench import generate_log

    log = generate_log(tmp_path / "g.log", lines=2000, seed=3, city_db=city_db)
    accepted = _same(log.read_bytes(), "combined")
    # Nearly all: the generator's malformed lines and odd times are left to Polars.
    assert accepted > 1900


@given(st.binary(max_size=300))
def test_count_lines_counts_newlines(data):
    assert count_lines(data) == data.count(b"\n")


@pytest.mark.parametrize(
    ("fmt", "columns", "options", "kind"),
    [
        ("combined", COLUMNS, None, 1),
        ("common", COLUMNS, None, 0),
        # A --log-format that spells out a preset is the preset.
        ('apache:%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"', COLUMNS, None, 1),
        ("combined", {*COLUMNS, S.PATH}, None, None),
        ("combined", None, None, None),
        ("combined", COLUMNS, ParseOptions(client_ip="xff"), None),
        ("vhost_combined", COLUMNS, None, None),
        ("nginx_main", COLUMNS, None, None),
    ],
)
def test_which_reports_take_the_scanner(fmt, columns, options, kind):
    assert native.kind_for(get_format(fmt), columns, options) == kind


def test_the_scanner_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("LOGANALYZER_NATIVE", "0")
    assert native.kind_for(COMBINED, COLUMNS, None) is None
    monkeypatch.setenv("LOGANALYZER_NATIVE", "1")
    monkeypatch.setattr(parse_module, "QUICK_CLF_TIMES", False)
    assert native.kind_for(COMBINED, COLUMNS, None) is None


# --- per-client sums (the report's path) ----------------------------------------------

aggregate_module = importlib.import_module("loganalyzer.analysis.aggregate")
GROUPING = aggregate_module.resolve_grouping(["region"])
KEYS = [S.CLIENT]


def _merged(parts: list[pl.DataFrame]) -> pl.DataFrame:
    merged = aggregate_module.merge_partials(parts, KEYS).collect()
    return merged.sort(S.CLIENT)


def _sums_equal_partials(batches: list[LineBatch], name: str) -> int:
    """Sums over the batches, plus the rest through Polars, against Polars alone."""
    kind, fmt = KINDS[name]
    want_parts, want_rejects = [], []
    for batch in batches:
        rows, rejects = _polars(batch, fmt)
        want_parts.append(aggregate_module.partials(rows.lazy(), GROUPING).collect())
        want_rejects.append(rejects)
    sums = native.Sums()
    parts, rejects, summed = [], [], 0
    for batch in batches:
        rest, lines, accepted = sums.add(batch, kind)
        slow = split_parsed(parse_lines(rest.lazy(), fmt, columns=COLUMNS))
        parts.append(aggregate_module.partials(slow.rows, GROUPING).collect())
        rejects.append(slow.rejects.collect())
        assert lines == batch.data.count(b"\n") + (not batch.data.endswith(b"\n"))
        summed += accepted
    order = parts[0].columns
    parts.append(sums.partial().select(order))
    assert_frame_equal(_merged(parts), _merged(want_parts))
    assert_frame_equal(pl.concat(rejects), pl.concat(want_rejects))
    return summed


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(_lines(), st.just(GOOD), st.sampled_from(["", "#x"])), max_size=20),
    st.lists(st.integers(min_value=0, max_value=20), max_size=3),
    st.sampled_from(list(KINDS)),
)
def test_sums_over_any_batches_equal_the_partials_of_polars_rows(lines, cuts, name):
    batches, start = [], 0
    for cut in [*sorted(set(cuts)), len(lines)]:
        cut = min(cut, len(lines))
        if cut > start:
            text = "".join(line + "\n" for line in lines[start:cut])
            batches.append(LineBatch("t.log", start + 1, text.encode()))
            start = cut
    if batches:
        _sums_equal_partials(batches, name)


def test_sums_of_a_batch_cut_in_two_halves(tmp_path, city_db):
    # Above a megabyte a batch is summed by two threads, each into its own
    # table; a client in both halves has two partial rows that merge.
    from loganalyzer.analysis.bench import generate_log

    log = generate_log(tmp_path / "g.log", lines=4000, seed=5, city_db=city_db)
    data = log.read_bytes()
    big = data * (3 * 2**20 // len(data) + 1)
    batches = [LineBatch("g.log", 1, big), LineBatch("g.log", 1 + big.count(b"\n"), data)]
    summed = _sums_equal_partials(batches, "combined")
    sums = native.Sums()
    sums.add(batches[0], 1)
    partial = sums.partial()
    # The two threads' tables are folded into one row per client.
    assert partial[S.CLIENT].is_unique().all()
    assert partial[S.REQUESTS].sum() > 0.95 * big.count(b"\n")
    assert summed > 0.95 * (big.count(b"\n") + data.count(b"\n"))
    assert native.Sums().partial().height == 0


def test_sums_refuse_a_second_thread_while_one_adds():
    # The GIL is released while a batch is summed: a second caller must wait
    # its turn, not race on the tables. Two threads share one Sums here.
    import threading

    sums = native.Sums()
    big = LineBatch("t.log", 1, (GOOD + "\n").encode() * 200_000)
    errors: list[BaseException] = []

    def add() -> None:
        try:
            sums.add(big, 1)
        except RuntimeError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = sums.partial()["requests"].sum()
    # Every add either ran in full or was refused whole.
    assert total == 200_000 * (4 - len(errors))
    assert all("in use" in str(e) for e in errors)


# --- batches in pieces, and the reader's help -------------------------------------------


def _pieces(data: bytes, cuts: list[int]) -> tuple[bytes, ...]:
    """``data`` cut at the given offsets (repeats give empty pieces)."""
    edges = [0, *sorted(min(c, len(data)) for c in cuts), len(data)]
    return tuple(data[a:b] for a, b in itertools.pairwise(edges))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(_lines(), st.just(GOOD), st.sampled_from(["", "#x"])), max_size=16),
    st.lists(st.integers(min_value=0, max_value=3000), max_size=12),
    st.booleans(),
    st.booleans(),
    st.sampled_from(list(KINDS)),
)
def test_a_batch_in_pieces_sums_as_the_batch_joined(lines, cuts, last_newline, helped, name):
    # A decompressor's pieces end anywhere: mid-line, a line across several
    # pieces, empty pieces, the file's last line without its newline.
    text = "\n".join(lines) + ("\n" if last_newline and lines else "")
    data = text.encode()
    if not data:
        return
    batch = LineBatch("t.log", 1, _pieces(data, cuts), compressed=helped)
    assert batch.data == data
    _sums_equal_partials([batch], name)
    kind = KINDS[name][0]
    joined, pieced = native.Sums(), native.Sums()
    want = joined._reducer.add(data, kind, 1)
    got = pieced._reducer.add_pieces(batch.pieces, kind, helped)
    assert got == want  # lines, accepted, the lines left and their numbers
    assert_frame_equal(pieced.partial().sort(S.CLIENT), joined.partial().sort(S.CLIENT))


def test_a_line_across_many_pieces_and_pieces_of_nothing():
    kind = KINDS["combined"][0]
    long_ua = "x" * 5000
    line = GOOD.replace("Mozilla/5.0 (X11; Linux x86_64)", long_ua)
    data = f"{GOOD}\n{line}\n\n{GOOD}".encode()  # no newline at the end
    pieces = (b"", *_pieces(data, [3, 200, 1000, 1001, 1001, 3000, len(data) - 2]), b"")
    got = native.Sums()._reducer.add_pieces(pieces, kind)
    assert got == native.Sums()._reducer.add(data, kind, 1)
    lines, accepted, rest, _ = got
    assert (lines, accepted, rest) == (4, 3, b"\n")  # the blank line, left for Polars
    assert native.Sums()._reducer.add_pieces((), kind) == (0, 0, b"", b"")


def _helped(sums: native.Sums, batches: list[LineBatch], kind: int) -> tuple[int, list]:
    """Add the batches while a second thread helps: how many pieces it summed,
    and what each add returned."""
    import threading

    done = threading.Event()
    helped = [0]
    results = []

    def helper() -> None:
        while not done.is_set():
            helped[0] += sums.help(20)

    thread = threading.Thread(target=helper)
    thread.start()
    try:
        for batch in batches:
            rest, lines, accepted = sums.add(batch, kind)
            results.append((rest.to_dicts(), lines, accepted))
    finally:
        done.set()
        thread.join()
    return helped[0], results


def _generated(tmp_path, city_db, megabytes: int) -> tuple[bytes, list[LineBatch]]:
    from loganalyzer.analysis.bench import generate_log

    log = generate_log(tmp_path / "g.log", lines=4000, seed=5, city_db=city_db)
    data = log.read_bytes()
    data = data * (megabytes * 2**20 // len(data) + 1)
    # Pieces of 64 KiB as a decompressor hands them out, cut mid-line, and
    # one of a megabyte, which the helper may still be summing when the
    # adding thread has done the rest.
    pieces = _pieces(data, [1000, 2**20, *range(2**20 + 65_536, len(data), 65_536)])
    half = len(pieces) // 2
    first = LineBatch("g.log", 1, pieces[:half], compressed=True)
    line_no = 1 + first.data.count(b"\n")
    return data, [first, LineBatch("g.log", line_no, pieces[half:], compressed=True)]


def test_sums_helped_by_a_second_thread_equal_sums_alone(tmp_path, city_db):
    # The reader's thread sums pieces of the batch being added into a table of
    # its own while the queue is full. Whoever sums which piece, the sums are
    # the same. Retried until the helper has summed some: which thread takes a
    # piece is up to the scheduler.
    data, batches = _generated(tmp_path, city_db, 3)
    kind = KINDS["combined"][0]
    alone = native.Sums()
    want_results = []
    for batch in batches:
        rest, lines, accepted = alone.add(batch, kind)
        want_results.append((rest.to_dicts(), lines, accepted))
    want = alone.partial().sort(S.CLIENT)
    assert want[S.REQUESTS].sum() > 0.95 * data.count(b"\n")
    for _ in range(50):
        sums = native.Sums()
        helped, results = _helped(sums, batches, kind)
        assert results == want_results
        assert_frame_equal(sums.partial().sort(S.CLIENT), want)
        if helped:
            break
    assert helped, "the helper never summed a piece"


def test_group_sums_helped_by_a_second_thread_equal_sums_alone(tmp_path, city_db):
    # The helper reads the client-to-group table while the adding thread does,
    # and neither writes it; pending clients go to the helper's own table.
    _, batches = _generated(tmp_path, city_db, 3)
    kind = KINDS["combined"][0]

    def run(helper: bool) -> tuple[pl.DataFrame, int]:
        sums, helped = native.GroupSums(), 0
        for i, batch in enumerate(batches):
            if helper:
                helped += _helped(sums, [batch], kind)[0]
            else:
                sums.add(batch, kind)
            pending = sums.pending()
            # Groups by the client's last digit; every tenth client left out.
            groups = [-1 if c.endswith("0") else int(c[-1], 16) % 4 + 4 * i for c in pending]
            sums.assign(pl.Series(groups, dtype=pl.Int32), pending)
        return sums.groups(), helped

    want, _ = run(False)
    for _ in range(50):
        got, helped = run(True)
        assert_frame_equal(got, want)
        if helped:
            break
    assert helped, "the helper never summed a piece"


def test_group_sums_of_many_clients_equal_their_lines_grouped():
    # 30,000 clients, a third of them IPv6 longer than the 16 bytes kept in an
    # entry: the table of clients grows in place from 1,024 slots ten times,
    # between batches and within them.
    clients = [
        f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" if i % 3 else f"2001:db8:{i:x}::{i % 97:x}:1"
        for i in range(30_000)
    ]
    lines = [
        f"{clients[(i * 7919) % len(clients)]} - - [10/Oct/2026:13:55:{i % 60:02d} +0000] "
        f'"GET /{i} HTTP/1.1" {(200, 301, 404, 500)[i % 4]} {i % 1000} "-" "ua"'
        for i in range(90_000)
    ]
    kind = KINDS["combined"][0]

    def group_of(client: str) -> int:
        # Every seventh client is left out; the rest fall into 13 groups.
        n = sum(map(ord, client))
        return -1 if n % 7 == 0 else n % 13

    sums = native.GroupSums()
    for start in range(0, len(lines), 20_000):
        text = "".join(f"{ln}\n" for ln in lines[start : start + 20_000])
        sums.add(LineBatch("t.log", start + 1, text.encode()), kind)
        pending = sums.pending()
        sums.assign(pl.Series([group_of(c) for c in pending], dtype=pl.Int32), pending)
    got = sums.groups()
    frame = pl.DataFrame({S.CLIENT: [ln.split(" ", 1)[0] for ln in lines]}).with_columns(
        pl.Series("bytes", [int(ln.rsplit(" ", 3)[-3]) for ln in lines]),
        pl.col(S.CLIENT).map_elements(group_of, return_dtype=pl.Int64).alias("g"),
    )
    want = (
        frame.filter(pl.col("g") >= 0)
        .group_by("g")
        .agg(pl.len().alias(S.REQUESTS), pl.col("bytes").sum(), pl.col(S.CLIENT).n_unique())
        .sort("g")
    )
    assert got.height == 13
    assert got[S.REQUESTS].to_list() == want[S.REQUESTS].to_list()
    assert got[S.BYTES].to_list() == want["bytes"].to_list()
    assert got[S.UNIQUE_IPS].to_list() == want[S.CLIENT].to_list()


def test_help_without_a_batch_waits_and_returns_nothing():
    import threading
    import time

    sums = native.Sums()
    start = time.perf_counter()
    assert sums.help(30) == 0
    assert time.perf_counter() - start >= 0.025
    assert sums.help(0) == 0
    # One helper at a time: a second one gets nothing, at once.
    first = threading.Thread(target=sums.help, args=(2000,))
    first.start()
    time.sleep(0.2)
    assert sums.help(2000) == 0
    assert first.is_alive()
    first.join()


# --- IPv6 canonical text ------------------------------------------------------------------

addresses_module = importlib.import_module("loganalyzer.geo.addresses")


def _v6_texts(ip) -> list[str]:
    full = ip.exploded
    return [str(ip), full, full.upper(), f"[{ip}]", f"{ip}%eth0", f"{ip}\t", f"::ffff:{ip}"]


@given(st.lists(st.ip_addresses(v=6), max_size=30), st.lists(st.ip_addresses(v=4), max_size=3))
def test_public_v6_agrees_with_the_per_address_path(v6, v4):
    clients = [t for ip in v6 for t in _v6_texts(ip)] + [str(ip) for ip in v4] + ["", "::", "x:y"]
    quick = addresses_module._public_v6_series(pl.Series(clients)).to_list()
    assert len(quick) == len(clients)
    for client, known in zip(clients, quick, strict=True):
        if known:
            assert known == addresses_module._global_v6(client)
        elif set(client) <= set("0123456789abcdefABCDEF:"):
            # Plain hex and colons: the native path decides these alone.
            assert addresses_module._global_v6(client) is None


def test_public_v6_reads_the_usual_forms():
    clients = ["2A00:1450:4001:0811:0000:0000:0000:200E", "2001:db8::1", "2001:200::1", "fe80::1"]
    assert addresses_module._public_v6_series(pl.Series(clients)).to_list() == [
        "2a00:1450:4001:811::200e",
        "",
        "2001:200::1",
        "",
    ]


# --- reading files by offset (plain files in a report) ---------------------------------


def _read_all(path, kind: int, window: int) -> tuple[native.Sums, list[pl.DataFrame], int, int]:
    import os

    sums = native.Sums()
    fd = os.open(path, os.O_RDONLY)
    offset, line_no, rests, lines, accepted = 0, 1, [], 0, 0
    try:
        while True:
            end, spans, n, a = sums.read(fd, offset, window, kind)
            if end == offset:
                break
            assert end > offset
            rests.extend(native.span_lines(fd, spans, "t.log", line_no))
            offset, line_no, lines, accepted = end, line_no + n, lines + n, accepted + a
    finally:
        os.close(fd)
    assert offset == path.stat().st_size
    return sums, rests, lines, accepted


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(_lines(), st.just(GOOD), st.sampled_from(["", "#x", "x" * 300])), max_size=25
    ),
    st.booleans(),
    st.integers(min_value=1, max_value=400),
    st.sampled_from(list(KINDS)),
)
def test_reading_a_file_by_windows_sums_every_line_once(
    tmp_path_factory, lines, newline, window, name
):
    kind, fmt = KINDS[name]
    data = "\n".join(lines).encode() + (b"\n" if newline and lines else b"")
    path = tmp_path_factory.mktemp("w") / "t.log"
    path.write_bytes(data)
    sums, rests, n_lines, accepted = _read_all(path, kind, window)
    want_rows, want_rejects = _polars(LineBatch("t.log", 1, data), fmt)
    assert n_lines == want_rows.height + want_rejects.height
    slow_parts, rejects = [], []
    for rest in rests:
        slow = split_parsed(parse_lines(rest.lazy(), fmt, columns=COLUMNS))
        slow_parts.append(aggregate_module.partials(slow.rows, GROUPING).collect())
        rejects.append(slow.rejects.collect())
    want = aggregate_module.partials(want_rows.lazy(), GROUPING).collect()
    got = [*slow_parts, sums.partial().select(want.columns)]
    assert_frame_equal(_merged(got), _merged([want]))
    empty = want_rejects.clear()
    assert_frame_equal(pl.concat([empty, *rejects]), want_rejects)
    assert accepted + sum(r.height for r in rests) == n_lines


def test_a_report_reads_a_plain_file_by_offset(tmp_path, city_db, monkeypatch):
    # Small batches and windows: the first batch through the reader, then many
    # windows of two shares each, with lines across every boundary. The same
    # report as with the scanner off.
    import functools

    from loganalyzer.analysis.bench import generate_log
    from loganalyzer.ingest.read import iter_batches

    pipeline = importlib.import_module("loganalyzer.analysis.pipeline")
    reading = importlib.import_module("loganalyzer.analysis.reading")
    log = generate_log(tmp_path / "g.log", lines=3000, seed=9, city_db=city_db)
    big = tmp_path / "big.log"
    big.write_bytes(log.read_bytes() * 3)
    monkeypatch.setattr(reading, "iter_batches", functools.partial(iter_batches, batch_bytes=5000))
    monkeypatch.setattr(reading, "_DIRECT_WINDOW", 70_001)
    read = []
    monkeypatch.setattr(
        native.Sums,
        "read",
        lambda s, *a, real=native.Sums.read, **k: read.append(a) or real(s, *a, **k),
    )
    fast = pipeline.analyze([big], log_format="auto", by=["ip"]).rows
    assert len(read) > 10
    monkeypatch.setenv("LOGANALYZER_NATIVE", "0")
    slow = pipeline.analyze([big], log_format="auto", by=["ip"]).rows
    assert fast.height > 50
    assert_frame_equal(fast, slow)


def test_a_file_whose_start_is_all_comments_is_detected_from_its_first_batch(
    tmp_path, city_db, monkeypatch
):
    # The scanner reads a file from its first byte when the file's start holds
    # the lines detection samples; here it does not, and the first batch
    # decides the format as it always did, the scanner reading on after it.
    from loganalyzer.analysis.bench import generate_log

    pipeline = importlib.import_module("loganalyzer.analysis.pipeline")
    reading = importlib.import_module("loganalyzer.analysis.reading")
    log = generate_log(tmp_path / "g.log", lines=2000, seed=4, city_db=city_db)
    odd = tmp_path / "odd.log"
    odd.write_bytes(
        b"# " + b"x" * 97 + b"\n" * 1 + (b"# " + b"x" * 97 + b"\n") * 3000 + log.read_bytes()
    )
    heads = []
    real = reading._direct_head
    monkeypatch.setattr(reading, "_direct_head", lambda *a: heads.append(real(*a)) or heads[-1])
    fast = pipeline.analyze([odd], by=["ip"])
    assert heads == [None]
    assert fast.meta["files"][0]["format"] == "combined"
    monkeypatch.setenv("LOGANALYZER_NATIVE", "0")
    slow = pipeline.analyze([odd], by=["ip"])
    assert_frame_equal(fast.rows, slow.rows)
    assert fast.meta["lines"] == slow.meta["lines"]


def test_the_hash_seed_changes_nothing_but_the_order():
    # Each run hashes clients with a random seed (a crafted log must not make
    # every insert probe a long chain); the sums are the same whatever it is.
    data = "\n".join(
        GOOD.replace(
            "175.167.3.4", f"2001:db8:{i % 7}::{i}" if i % 3 else f"10.0.{i % 9}.{i % 250}"
        )
        for i in range(5000)
    ).encode()
    frames = []
    for seed in (0, 1, 2**64 - 1):
        clf = importlib.import_module("loganalyzer._clf")
        reducer = clf.Reducer(seed=seed)
        reducer.add(data, 1)
        n, names, sums, first, last = reducer.sums()
        clients = pl.scan_lines(names, name=S.CLIENT).collect().to_series().slice(1).to_list()
        # Per client: its seven sums (stored column by column), first and last time.
        rows = [
            (
                client,
                [sums[(c * n + i) * 8 : (c * n + i) * 8 + 8] for c in range(7)],
                first[i * 8 : i * 8 + 8],
                last[i * 8 : i * 8 + 8],
            )
            for i, client in enumerate(clients)
        ]
        frames.append(sorted(rows))
    assert frames[0] == frames[1] == frames[2]
    assert len(frames[0]) > 1000


@pytest.mark.parametrize("start", ["log", "comments", "nginx-json"])
def test_a_compressed_file_s_format_from_its_start_as_from_its_first_batch(
    tmp_path, city_db, start
):
    # Detection samples a file's first data lines, so the reader detects from
    # the first batch's start when it holds enough of them, and from the whole
    # batch otherwise: the same format and rate either way.
    import gzip

    from loganalyzer.analysis.bench import generate_log
    from loganalyzer.ingest.detect import format_for
    from loganalyzer.ingest.presets import AUTO
    from loganalyzer.ingest.read import expand_inputs, iter_batches

    reading = importlib.import_module("loganalyzer.analysis.reading")
    log = generate_log(tmp_path / "g.log", lines=6000, seed=4, city_db=city_db).read_bytes()
    if start == "comments":  # more than the start that is looked at first
        log = (b"# " + b"x" * 97 + b"\n") * 3000 + log
    elif start == "nginx-json":
        log = b"".join(
            b'{"remote_addr": "175.167.3.%d", "time_local": "14/Sep/2026:08:01:02 +0800", '
            b'"request": "GET / HTTP/1.1", "status": "200", "body_bytes_sent": "5"}\n' % (i % 250)
            for i in range(6000)
        )
    path = tmp_path / "a.log.gz"
    path.write_bytes(gzip.compress(log))
    batch = next(iter_batches(expand_inputs([path])[0]))
    assert len(batch.data) > 256 * 1024
    found, lines = reading._detect(expand_inputs([path])[0], batch, None)
    want = format_for(AUTO, batch.to_frame(), source=str(path))
    assert (found.format, found.rate, found.sampled) == (want.format, want.rate, want.sampled)
    assert (lines is None) == (start != "comments")


# Groups drawn mostly zero, so that runs of zeros (and ties between runs) are common.
_GROUP = st.one_of(st.just(0), st.just(0), st.integers(0, 0xFFFF), st.sampled_from([1, 0xFFFF]))


@settings(max_examples=300)
@given(st.lists(st.lists(_GROUP, min_size=8, max_size=8), max_size=20))
def test_v6_texts_are_ipaddress_texts(addresses: list[list[int]]) -> None:
    import ipaddress

    import numpy as np

    values = [int.from_bytes(b"".join(g.to_bytes(2, "big") for g in groups), "big")
              for groups in addresses]  # fmt: skip
    hi = np.array([v >> 64 for v in values], np.uint64)
    lo = np.array([v & (1 << 64) - 1 for v in values], np.uint64)
    expected = [str(ipaddress.IPv6Address(v)) for v in values]
    # ipaddress writes an IPv4-mapped address in dotted form from Python 3.13 on.
    mapped = [v >> 32 == 0xFFFF for v in values]
    got = native.v6_texts(hi, lo)
    assert [t for t, m in zip(got, mapped, strict=True) if not m] == [
        t for t, m in zip(expected, mapped, strict=True) if not m
    ]
    assert len(got) == len(values)
