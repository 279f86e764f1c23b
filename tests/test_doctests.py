"""The examples in the package's docstrings, run against the installed package.

pytest's ``--doctest-modules`` would collect them from the source tree, which after
a plain install is not the package under test; the standard library's doctest
finder reads the installed modules instead.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import loganalyzer


def _examples() -> list[doctest.DocTest]:
    found: list[doctest.DocTest] = []
    finder = doctest.DocTestFinder()
    names = [
        m.name
        for m in pkgutil.walk_packages(loganalyzer.__path__, "loganalyzer.")
        if m.name != "loganalyzer.__main__"  # importing it runs the CLI
    ]
    for name in ["loganalyzer", *sorted(names)]:
        module = importlib.import_module(name)
        found += [t for t in finder.find(module, name) if t.examples]
    return sorted(found, key=lambda t: t.name)


EXAMPLES = _examples()


def test_examples_were_found() -> None:
    # A walk that found nothing would make every case below vanish silently.
    assert len(EXAMPLES) >= 20


@pytest.mark.parametrize("test", EXAMPLES, ids=lambda t: t.name)
def test_docstring_example(test: doctest.DocTest) -> None:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    out: list[str] = []
    result = runner.run(test, out=out.append, clear_globs=True)
    assert result.failed == 0, "".join(out)
