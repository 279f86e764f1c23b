"""The fuzz harness (``tests/fuzz/fuzz_native.py``) in the ordinary test run.

Its corpus passes, and so do inputs built here from its dictionary: a short
fuzz without coverage guidance, so that neither the harness nor the module's
promises it checks drift between the campaigns of ``docs/fuzzing.md``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loganalyzer.ingest import native

pytestmark = pytest.mark.skipif(not native.AVAILABLE, reason="built without a C compiler")

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"
_spec = importlib.util.spec_from_file_location("fuzz_native", FUZZ / "fuzz_native.py")
assert _spec is not None
assert _spec.loader is not None
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)

TOKENS = harness.dictionary(FUZZ / "log.dict")


@pytest.mark.parametrize("seed", sorted(p.name for p in (FUZZ / "corpus").iterdir()))
def test_the_harness_passes_its_corpus(seed: str) -> None:
    harness.one_input((FUZZ / "corpus" / seed).read_bytes())


def test_the_corpus_stays_small() -> None:
    # Kept in the repository: a campaign's finds are minimised before they join it.
    sizes = [p.stat().st_size for p in (FUZZ / "corpus").iterdir()]
    assert len(sizes) <= 40
    assert sum(sizes) <= 64 * 1024


def test_the_dictionary_holds_log_tokens() -> None:
    assert b"\n" in TOKENS
    assert b"[14/Sep/2026:08:01:02 +0800]" in TOKENS
    assert b'\\"' in TOKENS


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=6)), max_size=60).map(b"".join)
)
def test_the_harness_passes_inputs_made_of_its_tokens(data: bytes) -> None:
    harness.one_input(data)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=4096))
def test_the_harness_passes_any_bytes(data: bytes) -> None:
    harness.one_input(data)
