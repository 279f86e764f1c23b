"""Saying so when nothing matched, instead of a report that is silently empty.

A filter with a typo-free but wrong value (``--where status=5O3``), a ``--since``
after the log ends, or a compare period with no request gives a report of no
rows, which reads as "no access" in a briefing. When lines were parsed but none
matched, ``meta.nothing_matched`` says which filters and period were asked for
and what time range the logs do cover, and the command exits with
:data:`~loganalyzer.errors.ExitCode.NOTHING_MATCHED`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any


def asked_for(meta: Mapping[str, Any]) -> list[str]:
    """The filters and time bounds of a report, as a person would write them."""
    out = [f"--where {f}" for f in meta.get("filters") or []]
    out += [f"--{bound} {meta[bound]}" for bound in ("since", "until") if meta.get(bound)]
    return out


def note_nothing_matched(
    meta: dict[str, Any],
    paths: Sequence[str | Path],
    unfiltered: Callable[..., Any],
) -> None:
    """Set ``meta["nothing_matched"]``: False, or what was asked and what the logs hold.

    Args:
        meta: a report's ``meta``, updated in place.
        paths: the logs, to know whether they can be read again (not stdin).
        unfiltered: the analysis function the report came from, with its reading
            arguments bound; called as ``unfiltered(tuple(paths), by=("day",))`` only when
            nothing matched, for the time range the logs do cover.
    """
    lines = meta.get("lines") or {}
    filters = asked_for(meta)
    if lines.get("matched") or not lines.get("parsed") or not filters:
        meta["nothing_matched"] = False
        return
    covers: Mapping[str, str | None] = {"first": None, "last": None}
    if all(str(p) != "-" for p in paths):
        covers = unfiltered(tuple(paths), by=("day",)).meta["time_range"]
    meta["nothing_matched"] = {"asked": filters, "log_time_range": dict(covers)}


def nothing_matched_message(meta: Mapping[str, Any]) -> str | None:
    """One line for stderr when ``meta`` says nothing matched, else None."""
    found = meta.get("nothing_matched")
    if not found:
        return None
    tr = found.get("log_time_range") or {}
    span = (
        f"the logs cover {tr['first']} to {tr['last']}"
        if tr.get("first")
        else "the logs' time range is unknown (read from stdin)"
    )
    asked = " ".join(found.get("asked", []))
    period = found.get("period")
    if period:
        reads = "gone" if period == "current" else "new"
        return f"the {period} period holds no request ({asked}); {span}; every row reads {reads}"
    return f"no request matched ({asked}); {span}; the output is empty"


__all__ = ["asked_for", "note_nothing_matched", "nothing_matched_message"]
