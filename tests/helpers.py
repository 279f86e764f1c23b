"""What the tests share: paths, log-line builders, fixture databases and the real CLI.

Fixtures (pytest's) live in ``conftest.py``; everything a test imports by name lives
here, so there is one place to look.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl

from loganalyzer import schema as S

ROOT = Path(__file__).resolve().parent.parent
"""The repository."""
FIXTURES = ROOT / "fixtures"
sys.path.insert(0, str(FIXTURES))

from mmdb_builder import build_anon_dbs, build_fixture_dbs, load_records, make_mmdb  # noqa: E402

__all__ = [
    "FIXTURES",
    "ROOT",
    "apache_time",
    "build_anon_dbs",
    "build_fixture_dbs",
    "lines_frame",
    "load_records",
    "log_line",
    "make_mmdb",
    "parsed_both_ways",
    "run_cli",
]


_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def apache_time(ts: datetime) -> str:
    """Format a datetime the way Apache's %t does: [14/Sep/2026:08:01:02 +0800]."""
    off = ts.utcoffset() or timedelta(0)
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hh, mm = divmod(abs(minutes), 60)
    return f"[{ts.day:02d}/{_MONTHS[ts.month - 1]}/{ts.year}:{ts:%H:%M:%S} {sign}{hh:02d}{mm:02d}]"


def log_line(
    fmt: str = "combined",
    *,
    ip: str = "81.2.69.160",
    ts: datetime | None = None,
    offset_hours: int = 0,
    request: str = "GET / HTTP/1.1",
    status: int | str = 200,
    size: int | str = 512,
    referer: str = "-",
    agent: str = "curl/8.5.0",
    user: str = "-",
    vhost: str = "www.example.org",
    port: int = 443,
) -> str:
    """Render one valid line in a preset format."""
    when = ts or datetime(2026, 9, 14, 8, 0, 0, tzinfo=UTC)
    when = when.astimezone(timezone(timedelta(hours=offset_hours)))
    common = f'{ip} - {user} {apache_time(when)} "{request}" {status} {size}'
    if fmt == "common":
        return common
    combined = f'{common} "{referer}" "{agent}"'
    if fmt == "combined":
        return combined
    if fmt == "vhost_combined":
        return f"{vhost}:{port} {combined}"
    raise ValueError(fmt)


@functools.cache
def _test_cache_home() -> str:
    home = tempfile.mkdtemp(prefix="loganalyzer-test-cache-")
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    return home


def run_cli(
    *args: str,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run the real CLI in a subprocess (python -m loganalyzer), as a user would."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LOGANALYZER_")}
    full_env["COLUMNS"] = "120"
    # A settings file in the developer's home must not change what tests see.
    full_env["XDG_CONFIG_HOME"] = str(ROOT / "fixtures" / "no-such-config-dir")
    # Nor may the tests fill the developer's cache folder with parsed lists.
    full_env["XDG_CACHE_HOME"] = _test_cache_home()
    # Verdicts from the lists a test gives, not from what loganalyzer[sources]
    # happens to ship (tests/anonymity/test_builtin.py turns them on).
    full_env["LOGANALYZER_BUILTIN_SOURCES"] = "off"
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "loganalyzer", *args],
        input=stdin,
        capture_output=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def lines_frame(texts: Sequence[str]) -> pl.DataFrame:
    """Log lines as the parser takes them: source ``t``, line numbers from 1."""
    return pl.DataFrame(
        {S.SOURCE: ["t"] * len(texts), S.LINE_NO: list(range(1, len(texts) + 1)), S.LINE: texts},
        schema={S.SOURCE: pl.String, S.LINE_NO: pl.Int64, S.LINE: pl.String},
    )


def parsed_both_ways(
    lines: pl.DataFrame, fmt: Any, columns: Any, switches: Sequence[tuple[Any, str]]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The lines parsed with the quick paths, then with ``switches`` (module, flag) off.

    Each quick path keeps a module-level switch so that a test can hold it equal,
    rejects included, to the reference path it replaces.
    """
    from loganalyzer.ingest import parse as parse_module
    from loganalyzer.ingest.presets import get_format

    fmt = get_format(fmt) if isinstance(fmt, str) else fmt

    def run() -> pl.DataFrame:
        state = parse_module.ParseState()
        return parse_module.parse_lines(lines.lazy(), fmt, columns=columns, state=state).collect()

    fast = run()
    for module, flag in switches:
        setattr(module, flag, False)
    try:
        slow = run()
    finally:
        for module, flag in switches:
            setattr(module, flag, True)
    return fast, slow
