"""The documentation's promises: the README's set-up commands and tour, docs/ and the code agree.

The README is for users; the reference lives in docs/. These tests keep both true:
the set-up commands CI runs, every command in the README tour and in the generated
CLI reference, the exit-code and preset tables, the Python examples, links between
pages, and the decision records' shape.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from loganalyzer.cli import cli
from loganalyzer.errors import ExitCode
from tests.helpers import ROOT

DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _doc(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _section(text: str, heading: str) -> str:
    """The text under ``heading`` (a whole heading line), up to the next heading of its level."""
    level = heading.split(" ", 1)[0]
    body = text.split(f"\n{heading}\n", 1)[1]
    return re.split(rf"\n{level} ", body, maxsplit=1)[0]


def _setup_commands() -> list[str]:
    section = README.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_readme_opens_with_two_setup_commands() -> None:
    commands = _setup_commands()
    assert commands == [
        "pip install . && loganalyzer report --sample",
        "pip install -c .ci/constraints.txt '.[test]' && pytest",
    ]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert _setup_commands()[1] in ci.splitlines()


def test_readme_is_a_user_guide_under_25_kb() -> None:
    assert len((ROOT / "README.md").read_bytes()) < 25_000
    sections = re.findall(r"(?m)^## (.+)$", README)
    for needed in ("Set-up", "A first real run", "Commands", "Exit codes", "Layout"):
        assert needed in sections, needed
    first_run = _section(README, "## A first real run")
    for needle in (
        "MaxMind",
        "DB-IP",
        "loganalyzer report",
        "loganalyzer plot",
        "loganalyzer brief",
    ):
        assert needle in first_run, needle


def _commands(group: object = cli, prefix: str = "loganalyzer") -> list[str]:
    """Every command path under the group, subcommands included."""
    import click

    assert isinstance(group, click.Group)
    paths = []
    for name, command in sorted(group.commands.items()):
        paths.append(f"{prefix} {name}")
        if isinstance(command, click.Group):
            paths.extend(_commands(command, f"{prefix} {name}"))
    return paths


def test_every_command_is_documented() -> None:
    names = set(cli.commands)
    assert names == {
        "report",
        "ips",
        "links",
        "enrich",
        "db",
        "sources",
        "formats",
        "bench",
        "lookup",
        "compare",
        "config",
        "plot",
        "brief",
    }
    tour = _section(README, "## Commands")
    for name in names:
        assert f"`{name}`" in tour, f"{name} has no row in the README's command tour"
        assert f"loganalyzer {name}" in tour, f"{name} has no example in the README's tour"
    reference = _doc("cli.md")
    for path in _commands():
        assert re.search(rf"(?m)^#+ {re.escape(path)}$", reference), f"docs/cli.md lacks {path}"


def test_every_command_has_help_with_examples() -> None:
    for name, command in cli.commands.items():
        if name in ("db", "sources", "config"):  # groups: their subcommands carry the examples
            continue
        assert command.help, name
        assert "Example" in command.help, name


def test_cli_reference_is_generated_from_the_commands() -> None:
    # A clean environment: no settings or terminal width may leak into the help text.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGANALYZER_")}
    env.pop("COLUMNS", None)
    env["XDG_CONFIG_HOME"] = str(ROOT / "fixtures" / "no-such-config-dir")
    generated = subprocess.run(
        [sys.executable, str(DOCS / "gen_cli.py")],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    ).stdout
    committed = _doc("cli.md")
    assert committed == generated, "docs/cli.md is stale: run python docs/gen_cli.py > docs/cli.md"


def _exit_codes(text: str) -> set[int]:
    return {int(m) for m in re.findall(r"^\| (\d+) \|", text, re.MULTILINE)}


def test_exit_codes_tables_match_enum() -> None:
    codes = {int(c) for c in ExitCode}
    assert _exit_codes(_section(README, "## Exit codes")) == codes
    assert _exit_codes(_doc("exit-codes.md")) == codes


def test_presets_table_lists_every_preset_and_alias() -> None:
    from loganalyzer.ingest.presets import ALIASES, PRESETS

    table = _section(_doc("formats.md"), "## Presets")
    first_column = re.findall(r"^\| (.+?) \|", table, re.MULTILINE)
    names = set(re.findall(r"`([a-z_0-9]+)`", " ".join(first_column)))
    assert names == set(PRESETS) | set(ALIASES)


def test_workflow_and_settings_pages_cover_the_daily_commands() -> None:
    workflows = _doc("workflows.md")
    for heading, needle in (
        ("## Look up addresses", "loganalyzer lookup"),
        ("## Compare two periods", "loganalyzer compare"),
        ("## Follow a live log", "report --follow"),
    ):
        assert needle in _section(workflows, heading), needle
    settings = _doc("settings.md")
    for needle in ("loganalyzer config show", "_LOGANALYZER_COMPLETE=bash_source loganalyzer"):
        assert needle in settings, needle


def test_python_api_page_examples_pass() -> None:
    # The README's examples run through pytest's --doctest-glob; this page's run here.
    page = DOCS / "python-api.md"
    test = doctest.DocTestParser().get_doctest(
        page.read_text(encoding="utf-8"), {}, "python-api.md", str(page), 0
    )
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    out: list[str] = []
    result = runner.run(test, out=out.append, clear_globs=True)
    assert result.attempted > 10
    assert result.failed == 0, "".join(out)


def test_layout_paragraph_names_every_package_folder() -> None:
    layout = _section(README, "## Layout")
    package = ROOT / "loganalyzer"
    folders = [p.name for p in package.iterdir() if (p / "__init__.py").exists()]
    assert folders
    for name in folders:
        assert f"`loganalyzer/{name}/`" in layout, name
    for name in ("errors.py", "schema.py", "settings.py", "tests/", "fixtures/", "docs/", ".ci/"):
        assert name in layout, name


def _pages() -> list[Path]:
    """README, CHANGELOG and every Markdown page in docs/."""
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted(DOCS.rglob("*.md"))]


def test_no_development_narrative_in_user_docs() -> None:
    # docs/cli.md is generated from the help texts, so this holds them too.
    for page in _pages():
        text = page.read_text(encoding="utf-8")
        name = page.relative_to(ROOT)
        for pattern in (r"\bsessions?\b", r"\bsittings?\b", r"\.\./shared", r"\bissue \d+"):
            assert not re.search(pattern, text, re.IGNORECASE), f"{name}: {pattern}"


def _slug(heading: str) -> str:
    """The anchor GitHub and MkDocs give a heading (for the headings these pages use)."""
    text = re.sub(r"[^\w\s-]", "", heading).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    # Links in code blocks and code spans are not links.
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.exists(), f"{page.relative_to(ROOT)}: {target} does not exist"
        if anchor:
            headings = re.findall(r"(?m)^#+ (.+)$", file.read_text(encoding="utf-8"))
            slugs = {_slug(h) for h in headings}
            assert anchor in slugs, f"{page.relative_to(ROOT)}: no heading for #{anchor} in {path}"


def test_decision_records_have_their_sections_and_are_indexed() -> None:
    folder = DOCS / "decisions"
    records = sorted(folder.glob("[0-9][0-9][0-9][0-9]-*.md"))
    index = (folder / "index.md").read_text(encoding="utf-8")
    numbers = [int(r.name[:4]) for r in records]
    assert numbers == list(range(1, len(records) + 1)), "records are numbered without gaps"
    for number, record in zip(numbers, records, strict=True):
        text = record.read_text(encoding="utf-8")
        assert text.startswith(f"# {number}. "), record.name
        assert re.search(r"(?m)^Date: \d{4}-\d{2}-\d{2}$", text), record.name
        for heading in ("## Status", "## Context", "## Decision", "## Consequences"):
            assert f"\n{heading}\n" in text, f"{record.name}: {heading}"
        assert f"]({record.name})" in index, f"{record.name} is not in decisions/index.md"
    layout = [r for r in records if r.name.endswith("-package-layout.md")]
    assert layout, "the package layout has a decision record"
