"""What the ``loganalyzer`` group keeps in click's context: settings and ``--quiet``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click


def load_config(ctx: click.Context, path: str | None) -> None:
    """Read the settings once, for every command: the option defaults come from them."""
    if ctx.resilient_parsing:  # shell completion: never fail, never read files twice
        return
    from loganalyzer.settings import load_settings

    settings = load_settings(path)
    ctx.meta["settings"] = settings
    ctx.default_map = {**(ctx.default_map or {}), **settings.default_map()}


def setting(name: str) -> Any:
    """A value from the settings file or environment, or None outside a command."""
    ctx = click.get_current_context(silent=True)
    settings = ctx.meta.get("settings") if ctx is not None else None
    return settings.get(name) if settings is not None else None


def quiet() -> bool:
    """Whether ``--quiet`` asked for no progress bar and no notes on stderr."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.obj if ctx is not None else None
    return bool(obj and obj.get("quiet"))


def option_time(value: str | None, option: str) -> datetime | None:
    """A time option's value; one without a zone is in the settings' ``time_zone``."""
    from loganalyzer.analysis.run import parse_time

    return parse_time(value, option, zone=setting("time_zone"))


def fitting_watch(ctx: click.Context, watch: Sequence[str], by: Sequence[str]) -> tuple[str, ...]:
    """A watch list from the settings file keeps only the codes this grouping can show.

    Given on the command line, a code that does not fit is an error worth seeing;
    from the settings, it would make every ``--by country`` or ``--by asn`` fail.
    """
    if ctx.get_parameter_source("watch") != click.core.ParameterSource.DEFAULT_MAP:
        return tuple(watch)
    from loganalyzer.analysis.aggregate import resolve_grouping
    from loganalyzer.schema import COUNTRY_ISO, REGION_ISO, SUBREGION_ISO

    keys = set(resolve_grouping(by).keys)
    fits_country = COUNTRY_ISO in keys
    fits_province = bool(keys & {REGION_ISO, SUBREGION_ISO})
    return tuple(w for w in watch if (fits_province if "-" in w else fits_country))
