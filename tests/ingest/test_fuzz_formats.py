"""Every preset's parser, fuzzed: any text gives rows or rejects, never an error.

Lines are the preset's own example mutated (characters replaced, cut, doubled)
and free text, so the fuzzer spends its time near the formats' structure.
"""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loganalyzer import schema as S
from loganalyzer.ingest.parse import ParseState, parse_lines, split_parsed
from loganalyzer.ingest.presets import PRESETS


@st.composite
def _mutated(draw: st.DrawFn, example: str) -> str:
    line = example
    for _ in range(draw(st.integers(0, 4))):
        if not line:
            break
        at = draw(st.integers(0, len(line) - 1))
        action = draw(st.sampled_from(["replace", "cut", "double", "insert"]))
        junk = draw(st.text(min_size=1, max_size=3))
        if action == "replace":
            line = line[:at] + junk + line[at + 1 :]
        elif action == "cut":
            line = line[:at]
        elif action == "double":
            line = line[:at] + line[at:] + line[at:]
        else:
            line = line[:at] + junk + line[at:]
    return line.replace("\n", " ").replace("\r", " ")


@pytest.mark.parametrize("name", sorted(PRESETS))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_any_line_is_parsed_or_rejected(name, data):
    fmt = PRESETS[name]
    lines = data.draw(
        st.lists(
            st.one_of(
                _mutated(fmt.example),
                st.text(max_size=80).map(lambda t: t.replace("\n", " ").replace("\r", " ")),
                st.just(fmt.example),
            ),
            min_size=1,
            max_size=6,
        )
    )
    frame = pl.LazyFrame(
        {
            S.SOURCE: ["fuzz.log"] * len(lines),
            S.LINE_NO: list(range(1, len(lines) + 1)),
            S.LINE: lines,
        },
        schema={S.SOURCE: pl.String, S.LINE_NO: pl.Int64, S.LINE: pl.String},
    )
    parsed = parse_lines(frame, fmt, state=ParseState()).collect()
    result = split_parsed(parsed.lazy())
    rows, rejects = result.rows.collect(), result.rejects.collect()
    assert rows.height + rejects.height == len(lines)
    # Every reject keeps its line and a reason; an unchanged example always parses.
    assert rejects[S.REASON].null_count() == 0
    assert sorted(rejects[S.LINE_NO].to_list() + rows[S.LINE_NO].to_list()) == list(
        range(1, len(lines) + 1)
    )
    for i, line in enumerate(lines, start=1):
        if line == fmt.example:
            assert i in rows[S.LINE_NO].to_list()
