"""``loganalyzer config``: the effective settings."""

from __future__ import annotations

import click

from loganalyzer.cli.command_options import json_option


@click.group()
def config() -> None:
    """Settings: a TOML file, environment variables and built-in defaults.

    \b
    Example:
        loganalyzer config show
        loganalyzer --config ./team.toml config show --json
    """


@config.command("show")
@json_option()
@click.pass_context
def config_show(ctx: click.Context, as_json: bool) -> None:
    """Print the effective settings and where each came from.

    Precedence: command line > environment > settings file > defaults. The file is
    --config FILE, else $LOGANALYZER_CONFIG, else $XDG_CONFIG_HOME/loganalyzer/config.toml
    (~/.config when XDG_CONFIG_HOME is unset).

    \b
    Example:
        loganalyzer config show
        LOGANALYZER_OUTPUT=csv loganalyzer config show --json
    """
    from loganalyzer.outputs.listings import render_settings

    click.echo(render_settings(ctx.meta["settings"], as_json=as_json))
