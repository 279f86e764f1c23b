"""Byte totals that cannot overflow (issue 26).

A line's byte count is attacker-controlled: eighteen or nineteen digits drove a
client's ``bytes_sent`` negative. A count past ``parse.MAX_BYTES`` (2^48, 256 TiB
in one response) is now null, the line still parsed, on the Polars path and the
scanner's alike (the scanner hands such a line to the Polars path); and the
scanner's sums stop at the largest Int64 instead of wrapping.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import loganalyzer
from loganalyzer import schema as S
from loganalyzer.ingest import native
from loganalyzer.ingest.parse import MAX_BYTES, parse_lines, split_parsed
from loganalyzer.ingest.presets import COMBINED, get_format
from loganalyzer.ingest.read import LineBatch

pytestmark = pytest.mark.skipif(not native.AVAILABLE, reason="built without a C compiler")


INT64_MAX = (1 << 63) - 1
# Past 2^63 in all when each line gives MAX_BYTES.
PAST_INT64 = (1 << 15) + 10


def _line(client: str, written: str) -> str:
    return f'{client} - - [01/Jan/2024:00:00:01 +0000] "GET / HTTP/1.1" 200 {written} "-" "ua"\n'


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("0", 0),
        (str(MAX_BYTES), MAX_BYTES),
        (str(MAX_BYTES + 1), None),
        ("123456789012345678", None),
        ("9223372036854775807", None),
        ("18446744073709551616", None),
        ("1" * 40, None),
        ("-", None),
    ],
)
def test_a_count_past_the_bound_is_null_and_its_line_still_parsed(written, value):
    batch = LineBatch("t.log", 1, _line("1.2.3.4", written).encode())
    parsed = split_parsed(parse_lines(batch.to_frame().lazy(), COMBINED))
    rows, rejects = parsed.rows.collect(), parsed.rejects.collect()
    assert rejects.is_empty()
    assert rows[S.BYTES].to_list() == [value]
    # The scanner decides only the counts within the bound; the rest it hands
    # back, for the Polars path to make null as above.
    scanned = native.scan(batch, 1)
    within = written == "-" or value is not None
    assert scanned.rows.height == (1 if within else 0)
    assert scanned.rest.height == (0 if within else 1)
    if within:
        assert scanned.rows[S.BYTES].to_list() == [value]


def test_a_negative_count_from_a_json_log_is_null():
    record = (
        '{"logger":"http.log.access","ts":1789372801.25,"status":200,"size":%s,'
        '"request":{"client_ip":"175.167.3.4","method":"GET","uri":"/"}}'
    )
    for size, value in (("-5", None), ("5", 5), (str(MAX_BYTES + 1), None)):
        frame = LineBatch("c.log", 1, (record % size).encode()).to_frame().lazy()
        rows = split_parsed(parse_lines(frame, get_format("caddy"))).rows.collect()
        assert rows[S.BYTES].to_list() == [value]


def test_the_scanner_s_sums_stop_at_the_largest_int64():
    # Each count is within the bound, their sum is not: before, it read as
    # -9220557287087669248.
    sums = native.Sums()
    _, lines, accepted = sums.add(
        LineBatch("t.log", 1, _line("1.2.3.4", str(MAX_BYTES)).encode() * PAST_INT64), 1
    )
    assert lines == accepted == PAST_INT64
    partial = sums.partial()
    assert partial[S.BYTES].to_list() == [INT64_MAX]
    assert partial[S.REQUESTS].to_list() == [PAST_INT64]


def test_merged_partials_stop_at_the_largest_int64():
    import numpy as np

    from loganalyzer import _clf

    reducer = _clf.Reducer(seed=1)

    def merge(bytes_sent: int) -> None:
        sums = np.zeros(7, np.int64)
        sums[0], sums[1] = 1, bytes_sent
        when = np.zeros(1, np.int64).tobytes()
        reducer.merge(b"\nc\n", sums.tobytes(), when, when)

    merge(INT64_MAX - 1)
    merge(INT64_MAX - 1)
    # A partial Polars summed past 2^63 arrives wrapped, negative: as large.
    merge(-5)
    n, _, sums, _, _ = reducer.sums()
    assert n == 1
    assert np.frombuffer(sums, np.int64).reshape(7, n)[:2, 0].tolist() == [3, INT64_MAX]


def _report(path: Path, city_db: Path, by: list[str]) -> pl.DataFrame:
    return loganalyzer.analyze([path], log_format="combined", by=by, city_db=city_db).rows


_COUNTS = st.one_of(
    st.integers(0, 10**25).map(str),
    st.sampled_from(["-", str(MAX_BYTES), str(MAX_BYTES + 1), str(INT64_MAX), str(1 << 64)]),
    st.integers(17, 30).map(lambda n: "9" * n),
)
_CLIENTS = st.sampled_from(["175.167.3.4", "1.2.3.4", "2001:db8::1", "10.0.0.1"])


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.tuples(_CLIENTS, _COUNTS), min_size=1, max_size=40))
def test_no_report_total_is_ever_negative(monkeypatch, city_db, lines):
    text = "".join(_line(client, written) for client, written in lines)
    want: dict[str, int] = {}
    for client, written in lines:
        value = int(written) if written != "-" else 0
        want[client] = want.get(client, 0) + (value if value <= MAX_BYTES else 0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "huge.log"
        path.write_text(text)
        for switch in ("1", "0"):
            monkeypatch.setenv("LOGANALYZER_NATIVE", switch)
            by_ip = _report(path, city_db, ["ip"])
            assert dict(zip(by_ip[S.CLIENT_IP], by_ip[S.BYTES], strict=True)) == want
            for by in (["country"], ["region"]):
                totals = _report(path, city_db, by)[S.BYTES]
                assert (totals >= 0).all()
                assert totals.sum() == sum(want.values())


def test_the_polars_path_s_sums_stop_at_the_largest_int64(tmp_path, city_db, monkeypatch):
    monkeypatch.setenv("LOGANALYZER_NATIVE", "0")
    path = tmp_path / "huge.log"
    path.write_text(_line("1.2.3.4", str(MAX_BYTES)) * PAST_INT64)
    assert _report(path, city_db, ["ip"])[S.BYTES].to_list() == [INT64_MAX]


def test_the_scanner_s_report_stops_at_the_largest_int64(tmp_path, city_db, monkeypatch):
    monkeypatch.setenv("LOGANALYZER_NATIVE", "1")
    path = tmp_path / "huge.log"
    path.write_text(_line("1.2.3.4", str(MAX_BYTES)) * PAST_INT64)
    for by in (["ip"], ["country"]):
        assert _report(path, city_db, by)[S.BYTES].to_list() == [INT64_MAX]


@pytest.mark.parametrize("switch", ["1", "0"])
def test_counts_out_of_bounds_are_counted_in_meta_and_said(tmp_path, monkeypatch, city_db, switch):
    monkeypatch.setenv("LOGANALYZER_NATIVE", switch)
    path = tmp_path / "mixed.log"
    path.write_text(
        _line("1.2.3.4", "512")
        + _line("1.2.3.4", str(MAX_BYTES + 1))
        + _line("1.2.3.5", "18446744073709551615")
        + _line("1.2.3.5", "-")
    )
    a = loganalyzer.analyze([path], city_db=city_db, by=["ip"])
    assert a.meta["lines"]["parsed"] == 4
    assert a.meta["lines"]["bytes_out_of_range"] == 2  # "-" is no count, not a bad one
    assert a.meta["files"][0]["bytes_out_of_range"] == 2
    assert any("2 lines had a byte count out of bounds" in w for w in a.meta["warnings"])
    assert a.rows[S.BYTES].sum() == 512
