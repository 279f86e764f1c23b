"""Dirty bytes never crash and never turn a well-formed line into a reject."""

from __future__ import annotations

import polars as pl
import pytest

from loganalyzer import schema as S
from loganalyzer.ingest.detect import parse
from loganalyzer.ingest.presets import PRESETS
from loganalyzer.ingest.read import LineBatch

# Where each preset's example line carries free text, and its client.
SLOTS = {
    "combined": (b"Mozilla/5.0 (X11; Linux x86_64)", "2.136.4.5"),
    "nginx_main": (b"curl/8.5.0", "10.0.0.5"),
    "npm_proxy": (b"/login", "175.167.3.4"),
    "vhost_combined": (b"curl/8.5.0", "81.2.69.160"),
    "haproxy": (b"/login", "175.167.3.4"),
    "aws_alb": (b"curl/8.5.0", "175.167.3.4"),
    "aws_s3": (b"curl/8.5.0", "81.2.69.160"),
    "cloudfront": (b"/index.html", "2.136.4.5"),
    "w3c": (b"Mozilla/5.0+(Windows+NT+10.0)", "81.2.69.160"),
    "caddy": (b"curl/8.5.0", "175.167.3.4"),
    "traefik": (b"curl/8.5.0", "81.2.69.160"),
    "json": (b"curl/8.5.0", "175.167.3.4"),
    "vsftpd": (b"/pub/file.iso", "81.2.69.160"),
    "xferlog": (b"/pub/file.iso", "2.136.4.5"),
}

DIRT = {
    "invalid-utf8": b"\xff\xfe\xc3(",
    "latin1": "caf\xe9 r\xe9sum\xe9".encode("latin-1"),
    "big5": "\u6e2c\u8a66".encode("big5"),
    "nul": b"a\x00b",
    "control": b"\x1b[31mred\x07",
    "utf8": "\u8fbd\u5b81".encode(),
}


@pytest.mark.parametrize("dirt", list(DIRT))
@pytest.mark.parametrize("name", list(SLOTS))
def test_dirty_bytes_in_free_text(name: str, dirt: str) -> None:
    slot, client = SLOTS[name]
    example = PRESETS[name].example.encode()
    assert slot in example
    dirty = example.replace(slot, slot + DIRT[dirt], 1)
    good = b"\n".join([example, dirty, example]) + b"\n"
    result = parse(LineBatch("dirty.log", 1, good).to_frame(), fmt=name)
    assert result.rejects.collect().height == 0
    assert result.rows.collect()[S.CLIENT].to_list() == [client] * 3


@pytest.mark.parametrize("name", ["combined", "w3c", "haproxy", "caddy"])
def test_a_one_megabyte_line_still_parses(name: str) -> None:
    slot, client = SLOTS[name]
    example = PRESETS[name].example.encode()
    huge = example.replace(slot, slot + b"A" * (1 << 20), 1)
    frame = LineBatch("big.log", 1, huge + b"\n" + example + b"\n").to_frame()
    rows = parse(frame, fmt=name).rows.collect()
    assert rows[S.CLIENT].to_list() == [client, client]
    assert max(len(v or "") for v in rows.select(pl.all().cast(pl.String)).row(0)) > 1 << 20
