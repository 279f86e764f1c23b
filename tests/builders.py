"""Builders for test inputs: one valid log line with only the fields that matter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

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
