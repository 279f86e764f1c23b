"""Places are ISO 3166 codes, checked: a name or a typo is refused, never a confident zero."""

from __future__ import annotations

import pytest

from loganalyzer.errors import UsageError
from loganalyzer.geo.places import check_place, place_name
from tests.helpers import run_cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--watch", "Liaoning"],
            "--watch 'Liaoning' is not an ISO 3166 code; did you mean CN-LN (Liaoning Sheng)?",
            id="watch-a-name",
        ),
        pytest.param(
            ["--watch", "CN-XX"],
            "--watch 'CN-XX': China (CN) has no ISO 3166-2 subdivision 'XX'",
            id="watch-unknown-subdivision",
        ),
        pytest.param(
            ["--where", "region_iso=LN"],
            "--where region_iso 'LN' is not an ISO 3166-2 subdivision code (CN-LN); "
            "did you mean CN-LN (Liaoning Sheng)?",
            id="where-code-without-country",
        ),
        pytest.param(
            ["--where", "region_iso==CN-LN"],
            "did you mean CN-LN (Liaoning Sheng)?",
            id="where-doubled-equals",
        ),
        pytest.param(
            ["--where", "country_iso=Spain"],
            "did you mean ES (Spain)?",
            id="where-country-name",
        ),
        pytest.param(
            ["--where", "country_iso=CN-LN"],
            "--where country_iso 'CN-LN' is not a country code (ES)",
            id="where-subdivision-as-country",
        ),
    ],
)
def test_a_place_that_is_not_an_iso_code_is_a_usage_error(args, message):
    r = run_cli("report", "--sample", *args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr.decode()
    assert r.stdout == b""


def test_known_codes_in_any_case_still_report():
    r = run_cli("report", "--sample", "--watch", "cn-ln", "--where", "country_iso=cn,es")
    assert r.returncode == 0, r.stderr
    assert "CN-LN" in r.stdout.decode()


def test_a_watched_place_with_no_access_is_named():
    r = run_cli("report", "--sample", "--watch", "FR", "-O", "csv")
    assert r.returncode == 0, r.stderr
    zero = [ln for ln in r.stdout.decode().splitlines() if ",FR," in ln]
    assert len(zero) == 1
    assert zero[0].startswith("ok,FR,France,")


@pytest.mark.parametrize(
    ("code", "name"),
    [("ES", "Spain"), ("CN-LN", "Liaoning Sheng"), ("XK", "Kosovo"), ("GB-ENG", "England")],
)
def test_codes_the_geoip_databases_write_are_known(code, name):
    assert check_place(code, option="--watch") == code
    assert place_name(code) == name


def test_a_country_given_where_a_subdivision_is_needed_is_refused():
    with pytest.raises(UsageError, match="is not an ISO 3166-2 subdivision code"):
        check_place("ES", option="--where region_iso", subdivision=True)
