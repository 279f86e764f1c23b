"""The command line: options in, one library call, output out, exit codes.

Every command is a thin adapter over the library, in its own module under
:mod:`loganalyzer.cli.commands`. Shared options reach a command as typed objects
(:mod:`loganalyzer.cli.options`), and errors become exit codes in one place
(:mod:`loganalyzer.cli.errors`), so each failure is one ``Error: ...`` line on
stderr with a documented code, and a traceback only with ``--traceback``.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import click

from loganalyzer.cli.context import load_config, setting
from loganalyzer.cli.errors import EPILOG_EXIT_CODES, exit_code_of

COMMANDS = (
    "bench",
    "brief",
    "compare",
    "config",
    "db",
    "enrich",
    "formats",
    "ips",
    "links",
    "lookup",
    "plot",
    "report",
    "sources",
)
"""Each command lives in ``loganalyzer.cli.commands.<name>`` under the same name."""


class _Commands(dict[str, click.Command]):
    """The group's commands, each module imported when its command is first asked for.

    A run imports only the command it runs: importing all the modules (and what
    they import at the top) cost some 60 ms of every run's start. Iterating gives
    the names alone; items, values and lookups import what they return.
    """

    def _load(self, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        if not dict.__contains__(self, name):
            import importlib

            module = importlib.import_module(f"loganalyzer.cli.commands.{name}")
            dict.__setitem__(self, name, getattr(module, name))
        command: click.Command = dict.__getitem__(self, name)
        return command

    def __getitem__(self, name: str) -> click.Command:
        command = self._load(name)
        if command is None:
            raise KeyError(name)
        return command

    def get(self, name: str, default: Any = None) -> Any:
        return self._load(name) or default

    def __contains__(self, name: object) -> bool:
        return name in COMMANDS

    def __iter__(self) -> Iterator[str]:
        return iter(COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS)

    def keys(self) -> Any:
        return list(COMMANDS)

    def items(self) -> Any:
        return [(name, self[name]) for name in COMMANDS]

    def values(self) -> Any:
        return [self[name] for name in COMMANDS]


def _show_version(ctx: click.Context) -> None:
    from loganalyzer import __version__
    from loganalyzer.outputs.listings import version_lines

    lines = version_lines(
        __version__,
        city_db=setting("city_db"),
        asn_db=setting("asn_db"),
        geoip_dir=setting("geoip_dir"),
    )
    for line in lines:
        click.echo(line)
    ctx.exit(0)


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EPILOG_EXIT_CODES,
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=str),
    is_eager=True,
    expose_value=False,
    callback=lambda ctx, _param, value: load_config(ctx, value),
    metavar="FILE",
    help="Settings file [env: LOGANALYZER_CONFIG; default: "
    "$XDG_CONFIG_HOME/loganalyzer/config.toml]. See: loganalyzer config show.",
)
# Not eager, so that it runs after --config and names the databases that config picks.
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    callback=lambda ctx, _param, value: _show_version(ctx) if value else None,
    help="Show the version and the databases in use, then exit.",
)
@click.option(
    "--traceback", is_flag=True, help="Show the full traceback on errors (for bug reports)."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or notes on stderr.")
@click.pass_context
def cli(ctx: click.Context, traceback: bool, quiet: bool) -> None:
    """Who reached this server, from which countries, provinces and networks, and when.

    \b
    Start with the bundled sample:
        loganalyzer report --sample
    Then your own logs (plain, .gz, .bz2, .xz, .zst; globs and - for stdin):
        loganalyzer report /var/log/nginx/access.log* --geoip-dir /usr/share/GeoIP
    """
    ctx.ensure_object(dict)
    ctx.obj["traceback"] = traceback
    ctx.obj["quiet"] = quiet


cli.commands = _Commands()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (mapped in :mod:`loganalyzer.cli.errors`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    return exit_code_of(
        lambda: cli.main(args=args, prog_name="loganalyzer", standalone_mode=False),
        show_traceback="--traceback" in args,
    )


def run() -> None:
    """Console-script entry point."""
    # What is imported by now (Polars, NumPy, the package) lives until the exit:
    # kept out of the collector's sight, it is not walked again by the full
    # collection that parsing a source's JSON sets off (28 ms of a first run
    # with the benchmark's lists). A program importing the package is left be.
    gc.freeze()
    sys.exit(main())


__all__ = ["cli", "main", "run"]
