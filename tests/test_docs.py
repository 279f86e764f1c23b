"""The README's promises: its two set-up commands, its commands, its exit codes."""

from __future__ import annotations

import re
from pathlib import Path

from loganalyzer.cli import cli
from loganalyzer.errors import ExitCode

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _setup_commands() -> list[str]:
    section = README.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_readme_opens_with_two_setup_commands() -> None:
    commands = _setup_commands()
    assert commands == [
        "pip install . && loganalyzer report --sample",
        "pip install -c .ci/constraints.txt -e '.[test]' && pytest",
    ]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert _setup_commands()[1] in ci.splitlines()


def test_every_command_is_documented() -> None:
    names = set(cli.commands)
    assert names == {
        "report",
        "ips",
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
    for name in names:
        assert f"loganalyzer {name}" in README, name


def test_every_command_has_help_with_examples() -> None:
    for name, command in cli.commands.items():
        if name in ("db", "sources", "config"):  # groups: their subcommands carry the examples
            continue
        assert command.help, name
        assert "Example" in command.help, name


def test_exit_codes_table_matches_enum() -> None:
    table = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", table, re.MULTILINE)}
    assert documented == {int(c) for c in ExitCode}


def test_presets_table_lists_every_preset_and_alias() -> None:
    from loganalyzer.ingest.presets import ALIASES, PRESETS

    table = README.split("### Log formats", 1)[1].split("\n- ", 1)[0]
    first_column = re.findall(r"^\| (.+?) \|", table, re.MULTILINE)
    names = set(re.findall(r"`([a-z_0-9]+)`", " ".join(first_column)))
    assert names == set(PRESETS) | set(ALIASES)


def test_analyst_workflow_section_sits_before_the_python_api() -> None:
    sections = re.findall(r"(?m)^## (.+)$", README)
    assert sections.index("Analyst workflow") == sections.index("Python API") - 1
    workflow = README.split("## Analyst workflow", 1)[1].split("\n## ", 1)[0]
    for needle in (
        "loganalyzer lookup",
        "loganalyzer compare",
        "report --follow",
        "loganalyzer config show",
        "_LOGANALYZER_COMPLETE=bash_source loganalyzer",
    ):
        assert needle in workflow, needle
