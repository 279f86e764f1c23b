"""Session fixtures: MMDB files built from fixtures/geo/*.json, CLI runners, goldens."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
sys.path.insert(0, str(FIXTURES))

from mmdb_builder import build_anon_dbs, build_fixture_dbs, load_records, make_mmdb  # noqa: E402

__all__ = ["build_anon_dbs", "build_fixture_dbs", "load_records", "make_mmdb", "run_cli"]


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


@functools.cache
def _test_cache_home() -> str:
    home = tempfile.mkdtemp(prefix="loganalyzer-test-cache-")
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    return home


def run_cli(
    *args: str,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run the real CLI in a subprocess (python -m loganalyzer), as a user would."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LOGANALYZER_")}
    full_env["COLUMNS"] = "120"
    # A settings file in the developer's home must not change what tests see.
    full_env["XDG_CONFIG_HOME"] = str(ROOT / "fixtures" / "no-such-config-dir")
    # Nor may the tests fill the developer's cache folder with parsed lists.
    full_env["XDG_CACHE_HOME"] = _test_cache_home()
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "loganalyzer", *args],
        input=stdin,
        capture_output=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
        check=False,
    )
