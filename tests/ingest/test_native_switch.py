"""``LOGANALYZER_NATIVE=0`` means what it says (issue 26).

The reference comparison (``tests/analysis/test_reference.py``) runs each report with
the switch on and off; it covers the native code only if the switch turns all
of it off, ``count_lines`` and ``public_v6`` included, and the two runs can
only be compared if they also write the same rejects.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Any

import pytest
from polars.testing import assert_frame_equal

import loganalyzer
from loganalyzer.errors import InputError
from loganalyzer.geo import addresses
from loganalyzer.ingest import native, read

pytestmark = pytest.mark.skipif(not native.AVAILABLE, reason="built without a C compiler")


class _Tripwire:
    """Stands in for the native module: every function it is asked for records and fails."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def call(*args: object, **kwargs: object) -> Any:
            self.calls.append(name)
            raise AssertionError(f"native {name} ran")

        return call


@pytest.fixture(scope="module")
def mixed_log(tmp_path_factory, city_db) -> Path:
    # A third of the clients IPv6 (public_v6), gzipped (count_lines per piece).
    from loganalyzer.analysis.bench import generate_log

    folder = tmp_path_factory.mktemp("switch")
    plain = generate_log(folder / "g.log", lines=800, seed=3, city_db=city_db)
    packed = folder / "g.log.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    return packed


def _trip(monkeypatch) -> _Tripwire:
    wire = _Tripwire()
    monkeypatch.setattr(native, "_clf", wire)
    monkeypatch.setattr(read, "_native_count_lines", wire.count_lines)
    monkeypatch.setattr(addresses, "_public_v6", wire.public_v6)
    return wire


def test_switched_off_no_native_function_runs(monkeypatch, mixed_log, city_db):
    monkeypatch.setenv("LOGANALYZER_NATIVE", "1")
    want = loganalyzer.analyze([mixed_log], by=["region"], city_db=city_db).rows
    monkeypatch.setenv("LOGANALYZER_NATIVE", "0")
    wire = _trip(monkeypatch)
    got = loganalyzer.analyze([mixed_log], by=["region"], city_db=city_db).rows
    assert wire.calls == []
    assert_frame_equal(got, want)


def test_switched_on_the_tripwires_are_reached(monkeypatch, mixed_log, city_db):
    # The test above proves something only if this run meets the stand-ins.
    monkeypatch.setenv("LOGANALYZER_NATIVE", "1")
    wire = _trip(monkeypatch)
    with pytest.raises(AssertionError, match="native"):
        loganalyzer.analyze([mixed_log], by=["region"], city_db=city_db)
    assert wire.calls


def test_count_lines_obeys_the_switch(monkeypatch):
    wire = _trip(monkeypatch)
    monkeypatch.setenv("LOGANALYZER_NATIVE", "0")
    assert read.count_lines(memoryview(b"a\nb\n")) == 2
    assert read.count_lines(bytearray(b"a\nb")) == 1
    assert wire.calls == []
    monkeypatch.setenv("LOGANALYZER_NATIVE", "1")
    with pytest.raises(AssertionError):
        read.count_lines(b"a\n")
    assert wire.calls == ["count_lines"]


GOOD = (
    '175.167.3.4 - - [14/Sep/2026:08:01:02 +0800] "GET / HTTP/1.1" 200 512 '
    '"https://example.org/" "Mozilla/5.0 (X11; Linux x86_64)"\n'
)


def _rejects_of_a_failing_run(monkeypatch, city_db, switch: str, paths: list[Path]) -> str:
    monkeypatch.setenv("LOGANALYZER_NATIVE", switch)
    out = io.StringIO()
    with pytest.raises(InputError, match="did not match"):
        loganalyzer.analyze(paths, log_format="combined", city_db=city_db, rejects=out)
    return out.getvalue()


def _files(tmp_path: Path, order: list[str]) -> list[Path]:
    texts = {
        "good": GOOD * 5,
        # A small file that parses, with a line of its own that does not.
        "mixed": GOOD * 3 + "a line of another kind\n" + GOOD,
        # No line parses: the run fails at this file's end.
        "garbage": "garbage line one\nnot a log line\n",
    }
    paths = []
    for i, name in enumerate(order):
        path = tmp_path / f"{i}-{name}.log"
        path.write_text(texts[name])
        paths.append(path)
    return paths


def test_a_run_failing_at_its_last_file_writes_the_same_rejects_both_ways(
    tmp_path, monkeypatch, city_db
):
    paths = _files(tmp_path, ["good", "mixed", "garbage"])
    on = _rejects_of_a_failing_run(monkeypatch, city_db, "1", paths)
    off = _rejects_of_a_failing_run(monkeypatch, city_db, "0", paths)
    assert on == off
    assert "1-mixed.log" in on
    assert "2-garbage.log" in on


def test_a_run_failing_before_a_small_file_writes_the_same_rejects_both_ways(
    tmp_path, monkeypatch, city_db
):
    paths = _files(tmp_path, ["good", "garbage", "mixed"])
    on = _rejects_of_a_failing_run(monkeypatch, city_db, "1", paths)
    off = _rejects_of_a_failing_run(monkeypatch, city_db, "0", paths)
    assert "1-garbage.log" in off
    assert "2-mixed.log" not in off
    assert on == off
