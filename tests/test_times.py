"""Time normalisation: every format's time to UTC, the written offset kept, --assume-tz."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from loganalyzer import schema as S
from loganalyzer.formats import PRESETS
from loganalyzer.parse import REASON_BAD_TIME, ParseOptions, parse


def _row(line: str, fmt: str, tz: str = "UTC") -> dict:
    lines = pl.DataFrame({S.SOURCE: ["t.log"], S.LINE_NO: [1], S.LINE: [line]})
    result = parse(lines, fmt=fmt, options=ParseOptions(assume_tz=tz))
    assert result.rejects.collect().height == 0, result.rejects.collect().rows()
    return result.rows.collect().row(0, named=True)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


ISO = "nginx:$remote_addr $time_iso8601"
CASES = [
    # (format, line, --assume-tz, ts in UTC, utc_offset)
    ("common", '81.2.69.160 - - [14/Sep/2026:08:00:01 +0800] "GET / HTTP/1.1" 200 5', "UTC",
     _utc(2026, 9, 14, 0, 0, 1), "+0800"),
    # A zone written in the line wins over --assume-tz.
    ("common", '81.2.69.160 - - [14/Sep/2026:08:00:01 -0230] "GET / HTTP/1.1" 200 5',
     "Asia/Shanghai", _utc(2026, 9, 14, 10, 30, 1), "-0230"),
    (ISO, "81.2.69.160 2026-09-14T08:00:01+08:00", "UTC", _utc(2026, 9, 14, 0, 0, 1), "+0800"),
    (ISO, "81.2.69.160 2026-09-14T08:00:01Z", "Asia/Shanghai", _utc(2026, 9, 14, 8, 0, 1),
     "+0000"),
    (ISO, "81.2.69.160 2026-09-14T08:00:01.250-05:00", "UTC",
     datetime(2026, 9, 14, 13, 0, 1, 250000, tzinfo=UTC), "-0500"),
    (ISO, "81.2.69.160 2026-09-14T08:00:01", "UTC", _utc(2026, 9, 14, 8, 0, 1), None),
    (ISO, "81.2.69.160 2026-09-14T08:00:01", "+08:00", _utc(2026, 9, 14, 0, 0, 1), None),
    (ISO, "81.2.69.160 2026-09-14T08:00:01", "+0800", _utc(2026, 9, 14, 0, 0, 1), None),
    ("nginx:$remote_addr $msec", "81.2.69.160 1789344001.5", "Asia/Shanghai",
     datetime(2026, 9, 14, 0, 0, 1, 500000, tzinfo=UTC), None),
    # HAProxy's accept date has no zone.
    ("haproxy", PRESETS["haproxy"].example, "UTC",
     datetime(2026, 9, 14, 8, 1, 2, 345000, tzinfo=UTC), None),
    ("haproxy", PRESETS["haproxy"].example, "Asia/Shanghai",
     datetime(2026, 9, 14, 0, 1, 2, 345000, tzinfo=UTC), None),
    # vsftpd and xferlog: ctime without a zone (vsftpd writes UTC unless use_localtime).
    ("vsftpd", PRESETS["vsftpd"].example, "UTC", _utc(2026, 9, 14, 8, 1, 2), None),
    ("xferlog", PRESETS["xferlog"].example, "Europe/Madrid", _utc(2026, 9, 14, 6, 1, 2), None),
    # A wrong weekday does not make the time unreadable.
    ("vsftpd", 'Fri Sep  4 08:01:02 2026 [pid 1] CONNECT: Client "81.2.69.160"', "UTC",
     _utc(2026, 9, 4, 8, 1, 2), None),
    # W3C date and time are UTC by definition, whatever --assume-tz says.
    ("w3c", PRESETS["w3c"].example, "Asia/Shanghai", _utc(2026, 9, 14, 0, 1, 2), "+0000"),
    ("traefik", PRESETS["traefik"].example, "UTC",
     datetime(2026, 9, 14, 0, 1, 2, 123456, tzinfo=UTC), "+0000"),
    ("caddy", PRESETS["caddy"].example, "Asia/Shanghai",
     datetime(2026, 9, 14, 0, 1, 2, 500000, tzinfo=UTC), None),
    ("cloudflare", PRESETS["cloudflare"].example, "UTC", _utc(2026, 9, 14, 0, 1, 2), None),
    ("json:ts=t", '{"remote_addr":"81.2.69.160","t":"14/Sep/2026:08:00:01 +0800"}', "UTC",
     _utc(2026, 9, 14, 0, 0, 1), "+0800"),
    ("json:ts=t", '{"remote_addr":"81.2.69.160","t":1789344001000}', "UTC",
     _utc(2026, 9, 14, 0, 0, 1), None),
    # Fall back: 02:30 happens twice in Madrid on 2026-10-25; the first is taken.
    (ISO, "81.2.69.160 2026-10-25T02:30:00", "Europe/Madrid", _utc(2026, 10, 25, 0, 30, 0),
     None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fmt", "line", "tz", "ts", "offset"),
    [pytest.param(*c, id=f"{c[0]}|{c[2]}|{i}") for i, c in enumerate(CASES)],
)
def test_time_to_utc(fmt: str, line: str, tz: str, ts: datetime, offset: str | None) -> None:
    row = _row(line, fmt, tz)
    assert (row[S.TS], row[S.UTC_OFFSET]) == (ts, offset)


def test_w3c_local_fields_follow_assume_tz() -> None:
    lines = [
        "#Fields: date-local time-local c-ip sc-status",
        "2026-09-14 08:00:01 81.2.69.160 200",
    ]
    frame = pl.DataFrame({S.SOURCE: ["t.log"] * 2, S.LINE_NO: [1, 2], S.LINE: lines})
    rows = parse(frame, fmt="w3c", options=ParseOptions(assume_tz="Asia/Shanghai")).rows
    assert rows.collect()[S.TS].to_list() == [_utc(2026, 9, 14, 0, 0, 1)]


def test_a_time_that_never_happened_is_unreadable() -> None:
    # Spring forward: 02:30 does not exist in Madrid on 2026-03-29.
    lines = pl.DataFrame(
        {S.SOURCE: ["t.log"], S.LINE_NO: [1], S.LINE: ["81.2.69.160 2026-03-29T02:30:00"]}
    )
    result = parse(lines, fmt=ISO, options=ParseOptions(assume_tz="Europe/Madrid"))
    assert result.rejects.collect()[S.REASON].to_list() == [REASON_BAD_TIME]
