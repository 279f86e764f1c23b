"""Format detection: per file, by match rate, with a clear error when nothing fits."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loganalyzer import schema as S
from loganalyzer.errors import ExitCode, InputError
from loganalyzer.ingest.detect import (
    MIN_MATCH_RATE,
    SAMPLE_LINES,
    FormatDetectionError,
    detect_format,
    parse,
)
from loganalyzer.ingest.presets import PRESETS
from tests.helpers import log_line


def _lines(lines: list[str], source: str = "t.log") -> pl.DataFrame:
    return pl.DataFrame(
        {S.SOURCE: [source] * len(lines), S.LINE_NO: range(1, len(lines) + 1), S.LINE: lines},
        schema={S.SOURCE: pl.String, S.LINE_NO: pl.Int64, S.LINE: pl.String},
    )


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_example_is_detected_as_itself(name: str) -> None:
    found = detect_format(_lines([PRESETS[name].example] * 3), source="t.log")
    assert (found.format.name, found.rate, found.sampled) == (name, 1.0, 3)
    assert found.rates[0] == (name, 1.0)


@pytest.mark.parametrize(
    ("lines", "expected", "runner_up"),
    [
        # A combined line is also a common line (trailing fields are tolerated):
        # the tie goes to the format with more fields.
        pytest.param([log_line("combined")] * 4, "combined", ("common", 1.0), id="combined"),
        pytest.param([log_line("common")] * 4, "common", None, id="common"),
        pytest.param(
            [log_line("combined") + ' "175.167.3.4"'] * 4,
            "nginx_main",
            ("combined", 1.0),
            id="nginx-main-over-combined",
        ),
        pytest.param(
            [log_line("vhost_combined")] * 4,
            "vhost_combined",
            ("combined_vhost", 1.0),  # %v reads "host:443" too, but %v:%p keeps the port
            id="vhost-combined-over-combined-vhost",
        ),
        pytest.param(
            ["www.example.org " + log_line("combined")] * 4,
            "combined_vhost",
            ("common_vhost", 1.0),  # which would drop the referer and the agent
            id="combined-vhost-over-common-vhost",
        ),
        # One common line among combined ones: combined reads 3 of 4, common 4 of 4.
        pytest.param(
            [log_line("combined")] * 3 + [log_line("common")],
            "common",
            ("combined", 0.75),
            id="mixed-goes-to-the-one-reading-most",
        ),
    ],
)
def test_ambiguous_lines_go_to_the_more_specific_format(lines, expected, runner_up) -> None:
    found = detect_format(_lines(lines), source="t.log")
    assert found.format.name == expected
    every = detect_format(_lines(lines), source="t.log", exhaustive=True)
    assert (every.format.name, every.rate) == (expected, found.rate)
    if runner_up is not None:
        assert every.rates[1] == runner_up


def test_blank_and_comment_lines_are_not_sampled() -> None:
    lines = ["", "# a comment", log_line(), "   ", log_line(ip="2408:8200::1"), "#"]
    found = detect_format(_lines(lines), source="t.log")
    assert (found.format.name, found.rate, found.sampled) == ("combined", 1.0, 2)


def test_a_start_crowded_with_comments_is_read_past() -> None:
    # More blank and comment lines than the quick first look covers.
    lines = ["", "# comment"] * (2 * SAMPLE_LINES) + [log_line("common")] * 3
    found = detect_format(_lines(lines), source="t.log")
    assert (found.format.name, found.rate, found.sampled) == ("common", 1.0, 3)


def test_only_the_first_lines_are_sampled() -> None:
    lines = [log_line("common")] * SAMPLE_LINES + ["junk"] * 500
    found = detect_format(_lines(lines), source="t.log")
    assert (found.format.name, found.rate, found.sampled) == ("common", 1.0, SAMPLE_LINES)


def test_w3c_header_lines_come_with_the_sample() -> None:
    lines = [
        "#Software: Microsoft Internet Information Services 10.0",
        "#Fields: time c-ip date sc-status cs-method cs-uri-stem",
        "08:00:01 81.2.69.160 2026-09-14 200 GET /a",
        "08:00:02 81.2.69.160 2026-09-14 404 GET /b",
    ]
    found = detect_format(_lines(lines), source="t.log")
    assert (found.format.name, found.rate, found.sampled) == ("w3c", 1.0, 2)


def test_no_data_lines_detects_nothing_and_raises_nothing() -> None:
    found = detect_format(_lines(["", "# only a comment"]), source="t.log")
    assert (found.format.name, found.rate, found.sampled, found.rates) == ("combined", None, 0, ())


@pytest.mark.parametrize(
    ("lines", "rates", "message"),
    [
        pytest.param(
            ["junk", "more junk", "", "still junk"],
            (),
            "no preset reads any of them",
            id="nothing-fits",
        ),
        pytest.param(
            [log_line("common"), "junk", "junk", "junk"],
            (("common", 0.25),),
            "closest: common 25%",
            id="quarter",
        ),
        # Exactly half is not enough: a file must be mostly in its format.
        pytest.param(
            [log_line("common"), log_line("common"), "junk", "junk"],
            (("common", 0.5),),
            "closest: common 50%",
            id="exactly-half",
        ),
        pytest.param(
            [log_line("combined"), "junk", "junk", "junk"],
            (("combined", 0.25), ("common", 0.25)),
            "closest: combined 25%, common 25%",
            id="two-close",
        ),
    ],
)
def test_a_file_no_format_fits_is_an_input_error(lines, rates, message) -> None:
    with pytest.raises(FormatDetectionError) as excinfo:
        detect_format(_lines(lines, "odd.log"), source="odd.log")
    err = excinfo.value
    data = sum(1 for line in lines if line.strip())
    assert isinstance(err, InputError)
    assert err.exit_code == ExitCode.INPUT
    assert (err.path, err.sampled) == ("odd.log", data)
    assert tuple(r for r in err.rates if r[1] > 0) == rates
    assert str(err) == (
        f"odd.log: no known log format fits its first {data} lines ({message}); pass "
        "--log-format with a preset, 'apache:<LogFormat>' or 'nginx:<log_format>'"
    )


def test_the_threshold_is_more_than_half() -> None:
    assert MIN_MATCH_RATE == 0.5
    lines = [log_line("common")] * 3 + ["junk"] * 2
    found = detect_format(_lines(lines), source="t.log")
    assert (found.format.name, found.rate) == ("common", 0.6)


def test_json_records_of_another_kind_do_not_count_against_json_formats() -> None:
    startup = '{"level":"info","ts":1789344000.1,"logger":"admin","msg":"admin endpoint started"}'
    lines = [startup] * 6 + [PRESETS["caddy"].example] * 2
    found = detect_format(_lines(lines), source="caddy.log")
    assert (found.format.name, found.rate) == ("caddy", 1.0)
    rejects = parse(_lines(lines), fmt="caddy").rejects.collect()
    assert rejects[S.REASON].to_list() == ["not an access record"] * 6


def test_parse_auto_detects_and_parses() -> None:
    lines = _lines(["#Fields: date time c-ip sc-status", "2026-09-14 08:00:01 81.2.69.160 200"])
    rows = parse(lines, fmt="auto").rows.collect()
    assert rows.select(S.CLIENT, S.STATUS).rows() == [("81.2.69.160", 200)]


@pytest.mark.parametrize(
    ("spec", "name", "rate"),
    [
        pytest.param("auto", "haproxy", 1.0, id="auto"),
        pytest.param(None, "haproxy", 1.0, id="none-is-auto"),
        pytest.param("combined", "combined", None, id="named"),
        pytest.param(PRESETS["aws_elb"], "aws_elb", None, id="logformat"),
    ],
)
def test_format_for_names_or_detects(spec, name, rate) -> None:
    from loganalyzer.ingest.detect import format_for

    found = format_for(spec, _lines([PRESETS["haproxy"].example]), source="t.log")
    assert (found.format.name, found.rate) == (name, rate)


# --- the bounded search chooses what parsing with every preset chooses -------------

_EXAMPLES = [p.example for p in PRESETS.values()]


@st.composite
def _samples(draw: st.DrawFn) -> list[str]:
    # Mostly one preset's lines, with others, junk and damaged lines mixed in, so
    # shares land near each other and near the 50% line.
    main = draw(st.sampled_from(_EXAMPLES))
    lines = []
    for _ in range(draw(st.integers(1, 12))):
        pick = draw(st.integers(0, 10))
        if pick < 5:
            line = main
        elif pick < 7:
            line = draw(st.sampled_from(_EXAMPLES))
        elif pick < 8:
            line = draw(st.text(max_size=30))
        elif pick < 9:
            # Matches the pattern but not as a time: bounds are only bounds.
            line = draw(st.sampled_from(_EXAMPLES))
            line = line.replace("/Sep/", "/Xyz/").replace("2026-09-14", "2026-19-44")
        else:
            line = draw(st.sampled_from(_EXAMPLES))
            cut = draw(st.integers(0, len(line)))
            line = line[:cut] + draw(st.text(max_size=3)) + line[cut + 1 :]
        lines.append(line.replace("\n", " ").replace("\r", " "))
    return lines


@given(_samples())
@settings(max_examples=200, deadline=None)
def test_bounded_detection_matches_trying_every_preset(lines: list[str]) -> None:
    def outcome(**kw: bool) -> tuple:
        try:
            found = detect_format(_lines(lines), source="t.log", **kw)
        except FormatDetectionError as err:
            return ("error", err.rates)
        return (found.format.name, found.rate, found.sampled)

    assert outcome() == outcome(exhaustive=True)
