"""``loganalyzer formats``: the log format presets."""

from __future__ import annotations

import click


@click.command()
def formats() -> None:
    """List the log formats, with their definition and an example line.

    Without --log-format each file's format is detected from its first lines
    (the preset that reads most of them); name one to skip detection.

    \b
    Example:
        loganalyzer formats
        loganalyzer report access.log --log-format vhost_combined
        loganalyzer report access.log -f nginx:'$remote_addr [$time_local] "$request" $status'
    """
    from loganalyzer.outputs.listings import render_formats

    click.echo(render_formats())
