"""Time normalisation: every format's time to UTC, the written offset kept, --assume-tz."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loganalyzer import schema as S
from loganalyzer.ingest.detect import parse
from loganalyzer.ingest.parse import REASON_BAD_TIME, ParseOptions, _clf_stages, _time_exprs
from loganalyzer.ingest.presets import PRESETS


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


# --- Apache's %t: the quick fixed-width path against chrono's general parser -------

_MONTHS = ["Jan", "Feb", "Oct", "Dec", "jan", "OCT", "Foo", ""]


@st.composite
def _clf_times(draw: st.DrawFn) -> str:
    day = draw(st.integers(0, 33))
    month = draw(st.sampled_from(_MONTHS))
    year = draw(st.integers(0, 10_000))
    h, m, s = (draw(st.integers(0, 62)) for _ in range(3))
    sign = draw(st.sampled_from(["+", "-", " ", "++"]))
    off = draw(st.integers(0, 9999))
    colon = draw(st.sampled_from(["", "", ":"]))
    width = draw(st.sampled_from(["%02d", "%d"]))
    text = (
        f"[{width % day}/{month}/{year:04d}:{h:02d}:{m:02d}:{s:02d} "
        f"{sign}{off // 100:02d}{colon}{off % 100:02d}]"
    )
    # A few characters replaced, dropped or added, so the fuzz stays near the form.
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(text)))
        junk = draw(st.text(alphabet="0123456789+-: /[]\tJOa\u00e9", max_size=2))
        text = text[:at] + junk + text[at + draw(st.integers(0, 1)) :]
    return text


def _general_clf(t: pl.Expr) -> list[pl.Expr]:
    # What the quick path replaced: chrono's %z parser for every value.
    ts = t.str.to_datetime("[%d/%b/%Y:%H:%M:%S %z]", strict=False, time_unit="us")
    return [
        ts.dt.convert_time_zone("UTC").alias("ts"),
        t.str.extract(r" ([+-]\d{4})\]$").alias("off"),
    ]


@given(st.lists(_clf_times(), min_size=1, max_size=60))
@settings(max_examples=150, deadline=None)
def test_clf_quick_path_matches_the_general_parser(values: list[str]) -> None:
    frame = pl.DataFrame({"t": values}, schema={"t": pl.String})
    t = pl.col("t")
    ts, off = _time_exprs("clf", t, pl.lit(None), "UTC")
    quick = _clf_stages(frame.lazy(), t).select(ts.alias("ts"), off.alias("off")).collect()
    general = frame.select(_general_clf(t))
    # Compared in Polars: year 0 is a value there but not a Python datetime.
    assert quick.equals(general), pl.concat(
        [frame, quick, general.rename(str.upper)], how="horizontal"
    )


def test_clf_quick_path_edges() -> None:
    values = [
        "[14/Sep/2026:08:00:01 +0800]",  # the usual form
        "[29/Feb/2023:00:00:00 +0000]",  # no such day
        "[10/Oct/2000:13:55:60 -0700]",  # leap second
        "[10/Oct/2000:23:59:59 -2359]",  # the largest offset
        "[10/Oct/2000:23:59:59 +2400]",  # one beyond
        "[10/Oct/2000:23:59:59 +0060]",  # minutes out of range
        "[1/Oct/2000:13:55:36 -0700]",  # one-digit day: the general parser
        "[10/Oct/2000:13:55:36 -07:00]",
        "x10/Oct/2000:13:55:36 -0700]",
        "[10/Oct/2000:13:55:36 -0700",
    ]
    frame = pl.DataFrame({"t": values})
    t = pl.col("t")
    ts, off = _time_exprs("clf", t, pl.lit(None), "UTC")
    quick = _clf_stages(frame.lazy(), t).select(ts.alias("ts"), off.alias("off")).collect()
    assert quick.equals(frame.select(_general_clf(t)))
    assert quick.row(0) == (_utc(2026, 9, 14, 0, 0, 1), "+0800")
    assert quick["ts"].null_count() >= 4  # the impossible ones stay unreadable
