"""The CLI on a real terminal (a pty): tables fit the width, log text cannot drive it."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest

from tests.helpers import ROOT, log_line

ANSI = re.compile(rb"\x1b\[[0-9;]*m")


def _on_a_terminal(args: list[str], columns: int, cwd=None) -> bytes:
    """Run the CLI with stdout on a pty of ``columns`` columns; what it wrote."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOGANALYZER_", "COLUMNS"))}
    env["XDG_CONFIG_HOME"] = str(ROOT / "fixtures" / "no-such-config-dir")
    env["LOGANALYZER_BUILTIN_SOURCES"] = "off"  # as run_cli: only the lists a test gives
    proc = subprocess.Popen(
        [sys.executable, "-m", "loganalyzer", *args],
        stdout=follower,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
    )
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed its side
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    return out.replace(b"\r\n", b"\n")


@pytest.mark.parametrize("columns", [80, 100])
@pytest.mark.parametrize("by", [["region"], ["region", "asn"]])
def test_the_table_fits_and_keeps_its_keys(columns, by):
    args = ["report", "--sample", "--top", "5", *[a for b in by for a in ("--by", b)]]
    text = ANSI.sub(b"", _on_a_terminal(args, columns)).decode()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= columns
    header = next(line for line in lines if "region code" in line)
    for key in ("cc", "country", "region code", "region", *(["asn"] if "asn" in by else [])):
        assert key in header
    assert "CN-LN" in text
    # Whatever number did not fit is named below the table, never silently cut.
    stats = ("share", "unique IPs", "bytes", "first seen", "last seen")
    missing = [name for name in stats if name not in header]
    hidden = next((line for line in lines if line.startswith("not shown at this width")), "")
    if "asn" in by:
        missing = [m for m in missing if m not in ("first seen", "last seen")]
    for name in missing:
        assert name in text[text.index("not shown at this width") :], name
    assert bool(hidden) == bool(missing) or "asn" in by


def test_a_wide_terminal_shows_every_number():
    text = ANSI.sub(b"", _on_a_terminal(["report", "--sample", "--top", "3"], 160)).decode()
    for name in ("requests", "share", "unique IPs", "bytes", "first seen", "last seen"):
        assert name in text
    assert "not shown at this width" not in text


@pytest.mark.parametrize("output", ["csv", "markdown", "json", "table"])
def test_log_text_cannot_drive_the_terminal(tmp_path, output):
    log = tmp_path / "a.log"
    log.write_text(log_line(request="GET /\x1b]0;pwned\x07\x1b[2J HTTP/1.1") + "\n")
    city = ROOT / "loganalyzer" / "sample" / "sample-City.mmdb"
    args = ["report", str(log), "--city-db", str(city), "--by", "path", "-O", output]
    out = _on_a_terminal(args, 120, cwd=tmp_path)
    payload = ANSI.sub(b"", out)
    assert b"\x1b" not in payload
    assert b"\x07" not in payload
    assert b"pwned" in payload  # shown, escaped, not dropped
