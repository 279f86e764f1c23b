"""Session fixtures: MMDB files built from fixtures/geo/*.json, CLI runners, goldens."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# `python -m loganalyzer` and `python -c` put the working directory first on
# sys.path, so a child started from the repository would import the source tree
# (which has no compiled scanner after a plain install) instead of the package
# the suite is meant to test: the installed one, as users get it.
os.environ["PYTHONSAFEPATH"] = "1"

from tests.helpers import build_anon_dbs, build_fixture_dbs, load_records


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite fixtures/golden/* from the current outputs (review the diff).",
    )


@pytest.fixture(scope="session")
def geo_dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """City, Country and ASN databases built from the JSON fixtures."""
    return build_fixture_dbs(tmp_path_factory.mktemp("geo"))


@pytest.fixture(scope="session")
def anon_dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Anonymous IP and Anonymous Plus databases built from fixtures/anon/*.json."""
    return build_anon_dbs(tmp_path_factory.mktemp("anon"))


@pytest.fixture(scope="session")
def city_db(geo_dbs: dict[str, Path]) -> Path:
    return geo_dbs["city"]


@pytest.fixture(scope="session")
def country_db(geo_dbs: dict[str, Path]) -> Path:
    return geo_dbs["country"]


@pytest.fixture(scope="session")
def asn_db(geo_dbs: dict[str, Path]) -> Path:
    return geo_dbs["asn"]


@pytest.fixture(scope="session")
def city_records() -> dict[str, dict]:
    return load_records("city")


@pytest.fixture(scope="session")
def asn_records() -> dict[str, dict]:
    return load_records("asn")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))
