"""Settings: a TOML file, environment variables and defaults, with their sources.

Precedence is command line > environment > file > defaults. The command line is
click's business (an option given wins over everything); this module resolves
the other three and remembers where each value came from, so ``config show``
can say why a database or a watch list is in effect.

The file lives at ``$XDG_CONFIG_HOME/loganalyzer/config.toml`` (``~/.config``
when ``XDG_CONFIG_HOME`` is unset), or wherever ``--config FILE`` /
``$LOGANALYZER_CONFIG`` points. Relative paths in it are relative to the file.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from loganalyzer.errors import UsageError

ENV_CONFIG = "LOGANALYZER_CONFIG"
OUTPUTS = ("table", "csv", "json", "parquet", "markdown")


@dataclass(frozen=True)
class _Spec:
    kind: str  # "path", "paths", "codes", "text", "bool"
    env: str | None
    default: Any
    help: str


SPECS: dict[str, _Spec] = {
    "city_db": _Spec("path", "LOGANALYZER_CITY_DB", None, "City or Country MMDB"),
    "asn_db": _Spec("path", "LOGANALYZER_ASN_DB", None, "ASN MMDB"),
    "geoip_dir": _Spec("path", "LOGANALYZER_GEOIP_DIR", None, "folder of MMDB files"),
    "logs": _Spec("paths", None, (), "logs read when a command is given none"),
    "log_format": _Spec("text", "LOGANALYZER_LOG_FORMAT", "auto", "input log format"),
    "watch": _Spec("codes", None, (), "countries / provinces always shown (--watch)"),
    "output": _Spec("text", "LOGANALYZER_OUTPUT", "table", "output format without -O or -o"),
    "time_zone": _Spec(
        "text", "LOGANALYZER_TIME_ZONE", "UTC", "zone of times given without one (--since ...)"
    ),
    "lang": _Spec("text", "LOGANALYZER_LANG", "en", "language of place names"),
    "builtin_sources": _Spec(
        "bool",
        "LOGANALYZER_BUILTIN_SOURCES",
        True,
        "use the lists loganalyzer[sources] installs (--no-builtin-sources)",
    ),
}
"""Every setting: its kind, environment variable, default and meaning."""


class ConfigError(UsageError):
    """A settings file that cannot be read or holds a value that cannot work."""

    def __init__(self, path: str | Path, problem: str, line: int | None = None) -> None:
        self.path, self.problem, self.line = str(path), problem, line
        super().__init__(self.path, problem, line)

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.problem}"


@dataclass(frozen=True)
class Setting:
    """One effective setting.

    Attributes:
        name: the key (``city_db``, ``watch``, ...).
        value: the value in effect (a string, a tuple of strings, or None).
        source: ``default``, ``env NAME`` or ``file PATH``.
    """

    name: str
    value: Any
    source: str


@dataclass(frozen=True)
class Settings:
    """The effective settings, before the command line has its say.

    Attributes:
        values: every setting by name.
        file: the settings file read, or None.
        searched: the file that was looked for when none was found.
    """

    values: dict[str, Setting]
    file: Path | None = None
    searched: Path | None = None

    def get(self, name: str) -> Any:
        """The value of a setting."""
        return self.values[name].value

    def default_map(self) -> dict[str, Any]:
        """Option defaults for click, per command, from what is not a built-in default.

        Environment values are included too: for options that click also reads from
        the environment it makes no difference, and for the others it keeps
        environment above file.
        """
        common: dict[str, Any] = {}
        for name in ("city_db", "asn_db", "geoip_dir", "lang", "log_format"):
            s = self.values[name]
            if s.source == "default":
                continue
            # The library reads $LOGANALYZER_GEOIP_DIR itself when no folder is given.
            if name == "geoip_dir" and s.source.startswith("env"):
                continue
            common[name] = s.value
        with_watch = dict(common)
        if self.values["watch"].source != "default":
            with_watch["watch"] = list(self.get("watch"))
        geo_only = {k: v for k, v in common.items() if k in ("city_db", "asn_db", "geoip_dir")}
        return {
            "report": with_watch,
            "enrich": dict(common),
            "compare": with_watch,
            "lookup": dict(common),
            "db": {"info": geo_only},
            "plot": with_watch,
            "brief": with_watch,
        }


def default_path(env: Mapping[str, str] | None = None) -> Path:
    """Where the settings file is looked for (XDG base directory rules).

    Example:
        >>> str(default_path({"XDG_CONFIG_HOME": "/cfg"}))
        '/cfg/loganalyzer/config.toml'
    """
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or ""
    # The spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "loganalyzer" / "config.toml"


_LINE_RE = re.compile(r"\(at line (\d+), column \d+\)")
_END = "(at end of document)"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(path, "no such settings file") from None
    except IsADirectoryError:
        raise ConfigError(path, "is a directory, not a settings file") from None
    except OSError as exc:
        raise ConfigError(path, f"cannot read ({exc.strerror})") from None
    try:
        doc = text.decode("utf-8")
        return tomllib.loads(doc)
    except UnicodeDecodeError:
        raise ConfigError(path, "is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib only puts the position in the message before Python 3.14.
        message = str(exc)
        m = _LINE_RE.search(message)
        if m:
            line: int | None = int(m.group(1))
        elif _END in message:
            line = len(doc.splitlines()) or 1
        else:
            line = None
        problem = _LINE_RE.sub("", message).replace(_END, "").strip()
        raise ConfigError(path, f"invalid TOML: {problem}", line) from None


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _check_bool(name: str, raw: Any, where: str) -> bool:
    if isinstance(raw, bool):
        return raw
    text = raw.strip().lower() if isinstance(raw, str) else None
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ConfigError(where, f"{name} must be true or false, not {raw!r}")


def _check(name: str, raw: Any, path: Path) -> Any:
    spec = SPECS[name]
    if spec.kind == "bool":
        return _check_bool(name, raw, str(path))
    if spec.kind in ("path", "text"):
        if not isinstance(raw, str) or not raw.strip():
            raise ConfigError(path, f"{name} must be a non-empty string")
        value: Any = raw
        if spec.kind == "path":
            p = Path(raw).expanduser()
            value = str(p if p.is_absolute() else path.parent / p)
        return _check_text(name, value, str(path))
    if not isinstance(raw, list) or not all(isinstance(v, str) and v.strip() for v in raw):
        raise ConfigError(path, f"{name} must be a list of strings")
    if spec.kind == "paths":
        out = []
        for v in raw:
            p = Path(v).expanduser()
            out.append(str(p if p.is_absolute() else path.parent / p))
        return tuple(out)
    return tuple(v.strip().upper() for v in raw)


def _check_text(name: str, value: str, where: str) -> str:
    if name == "output" and value not in OUTPUTS:
        raise ConfigError(where, f"output must be one of {', '.join(OUTPUTS)}, not {value!r}")
    if name == "time_zone":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                where, f"time_zone {value!r} is not a known zone (e.g. UTC, Asia/Shanghai)"
            ) from None
    return value


def load_settings(
    path: str | Path | None = None, *, env: Mapping[str, str] | None = None
) -> Settings:
    """Resolve every setting from the environment, a settings file and the defaults.

    Args:
        path: an explicit settings file (``--config``); it must exist. Without it,
            ``$LOGANALYZER_CONFIG``, then the XDG location (which may be absent).
        env: the environment (default ``os.environ``).

    Returns:
        The :class:`Settings`, each with its source.

    Raises:
        ConfigError: unreadable file, invalid TOML (with its line), an unknown key
            or a value of the wrong kind.

    Example:
        >>> s = load_settings(env={"XDG_CONFIG_HOME": "/nonexistent", "LOGANALYZER_LANG": "de"})
        >>> s.values["lang"]
        Setting(name='lang', value='de', source='env LOGANALYZER_LANG')
        >>> s.values["output"].source
        'default'
    """
    env = os.environ if env is None else env
    explicit = path if path is not None else env.get(ENV_CONFIG) or None
    file_path = Path(explicit).expanduser() if explicit else default_path(env)
    data: dict[str, Any] = {}
    found: Path | None = None
    if explicit or file_path.is_file():
        data = _read_toml(file_path)
        found = file_path
    unknown = sorted(set(data) - set(SPECS))
    if unknown:
        raise ConfigError(
            file_path,
            f"unknown setting {unknown[0]!r}; known: {', '.join(SPECS)}",
        )
    values: dict[str, Setting] = {}
    for name, spec in SPECS.items():
        if spec.env and env.get(spec.env):
            value = env[spec.env]
            checked = (
                _check_bool(name, value, f"${spec.env}")
                if spec.kind == "bool"
                else _check_text(name, value, f"${spec.env}")
            )
            values[name] = Setting(name, checked, f"env {spec.env}")
        elif name in data:
            values[name] = Setting(name, _check(name, data[name], file_path), f"file {file_path}")
        else:
            values[name] = Setting(name, spec.default, "default")
    return Settings(values, file=found, searched=None if found else file_path)


def describe(settings: Settings) -> list[dict[str, Any]]:
    """The settings as records for ``config show``: name, value, source, meaning."""
    out = []
    for name, s in settings.values.items():
        value = list(s.value) if isinstance(s.value, tuple) else s.value
        out.append({"name": name, "value": value, "source": s.source, "help": SPECS[name].help})
    return out


__all__ = [
    "ENV_CONFIG",
    "SPECS",
    "ConfigError",
    "Setting",
    "Settings",
    "default_path",
    "describe",
    "load_settings",
]
