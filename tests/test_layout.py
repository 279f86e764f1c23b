"""The package's folders import one way only: cli -> outputs -> analysis -> geo/anonymity -> ingest.

A newcomer should be able to guess where a thing lives from the tree, and a change
should not quietly make a lower stage depend on a higher one (rendering inside the
anonymity code, say). The table below is the rule; the test walks every module's
imports with ``ast``, including those inside functions and ``TYPE_CHECKING`` blocks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "loganalyzer"

CORE = {"_startup", "_clf", "_version", "errors", "schema", "settings"}
"""Top-level modules every stage may use; they import no other part of the package."""

MAY_IMPORT: dict[str, set[str]] = {
    "core": set(),
    "ingest": {"core"},
    "geo": {"core", "ingest"},
    "anonymity": {"core", "ingest"},
    "analysis": {"core", "ingest", "geo", "anonymity"},
    "outputs": {"core", "ingest", "geo", "anonymity", "analysis"},
    "cli": {"core", "ingest", "geo", "anonymity", "analysis", "outputs", "api"},
    # The package's __init__ re-exports the public API; only the CLI's entry uses it.
    "api": {"core", "ingest", "geo", "anonymity", "analysis", "outputs"},
    "main": {"cli"},
}


def _unit(parts: list[str]) -> str:
    """The layer of a module named by its parts under ``loganalyzer``."""
    if not parts or parts == ["__init__"]:
        return "api"
    if parts == ["__main__"]:
        return "main"
    if parts[0] in CORE:
        return "core"
    if parts[0] in MAY_IMPORT:
        return parts[0]
    raise AssertionError(f"loganalyzer.{'.'.join(parts)} is in no layer: add it to the table")


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> list[tuple[int, list[str]]]:
    """Each import of the package's own modules, as parts under ``loganalyzer``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = list(path.relative_to(PACKAGE).with_suffix("").parts)
    found: list[tuple[int, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "loganalyzer":
                    found.append((node.lineno, alias.name.split(".")[1:]))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level]
                module = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "loganalyzer":
                module = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:
                # `from loganalyzer import schema` names a module, not the API.
                sub = [*module, alias.name]
                if (
                    PACKAGE.joinpath(*sub).with_suffix(".py").exists()
                    or PACKAGE.joinpath(*sub).is_dir()
                    or sub == ["_clf"]
                ):
                    found.append((node.lineno, sub))
                else:
                    found.append((node.lineno, module))
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_one_way(path: Path) -> None:
    here = _unit(list(path.relative_to(PACKAGE).with_suffix("").parts))
    wrong = [
        f"line {line}: loganalyzer.{'.'.join(parts)}"
        for line, parts in _imports(path)
        if (there := _unit(parts)) != here and there not in MAY_IMPORT[here]
    ]
    assert not wrong, f"{here} may import only {sorted(MAY_IMPORT[here])}: {wrong}"


def test_no_import_cycles_between_modules() -> None:
    graph: dict[str, set[str]] = {}
    for path in _modules():
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        graph[name] = set()
        for _, parts in _imports(path):
            target = ".".join(parts) or "__init__"
            if PACKAGE.joinpath(*parts).is_dir():
                target += ".__init__"
            graph[name].add(target)
    # Depth-first search for a back edge, reporting the cycle it closes.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt in graph and not state.get(nxt):
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if not state.get(node):
            visit(node)


def test_no_module_grows_past_800_lines_without_a_reason() -> None:
    # A long module must say in its docstring why it stays whole.
    long = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 800:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if "Why one module" not in doc:
                long.append(f"{path.relative_to(PACKAGE)} ({text.count(chr(10))} lines)")
    assert not long, f"split these, or state 'Why one module' in the docstring: {long}"
