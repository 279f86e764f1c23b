"""The suite tests the package as installed, native scanner included.

CI installs without ``-e``; a run that imported the source tree instead would test
a package with no compiled module and skip the native comparisons unnoticed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import loganalyzer
from tests.helpers import ROOT

SOURCE = (ROOT / "loganalyzer").resolve()
"""The package's source tree, which must not be what the suite imports."""

in_ci = pytest.mark.skipif(
    not os.environ.get("CI"), reason="a developer may test an editable install; CI may not"
)


@in_ci
def test_the_installed_package_is_under_test() -> None:
    here = Path(loganalyzer.__file__).resolve().parent
    assert here != SOURCE, f"imported the source tree at {here}"


@in_ci
def test_children_import_the_installed_package_too() -> None:
    # The CLI tests start `python -m loganalyzer` from the repository root.
    code = "import loganalyzer, loganalyzer._clf; print(loganalyzer.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert Path(out.strip()).resolve().parent != SOURCE


@in_ci
def test_the_native_scanner_was_built() -> None:
    # The build is optional for users without a compiler; CI has one, so a
    # missing module means the build broke and the native tests would skip.
    import loganalyzer._clf  # noqa: F401
