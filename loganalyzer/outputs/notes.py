"""What a run says beside its output: rejected lines, databases, sources, read faults.

Each function returns the lines for stderr, built from an analysis's ``meta``;
the command line prints them (unless ``--quiet``), a notebook may log them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loganalyzer.ingest.read import ReadFault


def rejects_summary(meta: Mapping[str, Any], rejects_path: str | None) -> str | None:
    """One line on the rejected lines and where they are, or None when none was.

    Example:
        >>> meta = {"lines": {"rejected": 2, "total": 9,
        ...     "rejected_by_reason": {"blank line": 2}},
        ...     "files": [{"path": "a.log", "lines": {"rejected": 2}}]}
        >>> rejects_summary(meta, None)
        'Rejected 2 of 9 lines (in a.log): 2 blank line; see them with --rejects FILE'
    """
    lines = meta["lines"]
    if not lines["rejected"]:
        return None
    reasons = ", ".join(f"{n:,} {r}" for r, n in lines["rejected_by_reason"].items())
    with_rejects = [f for f in meta["files"] if f["lines"]["rejected"]]
    hint = f"; written to {rejects_path}" if rejects_path else "; see them with --rejects FILE"
    where = f" (in {with_rejects[0]['path']}" if with_rejects else ""
    if len(with_rejects) > 1:
        others = len(with_rejects) - 1
        where += f" and {others:,} other file{'s' if others > 1 else ''}"
    where += ")" if with_rejects else ""
    return f"Rejected {lines['rejected']:,} of {lines['total']:,} lines{where}: {reasons}{hint}"


def database_notes(meta: Mapping[str, Any]) -> list[str]:
    """One line per GeoIP database used: path, type and build date."""
    return [
        f"Database: {d['path']} ({d['type']}, built {d['build_date']})" for d in meta["databases"]
    ]


def source_notes(meta: Mapping[str, Any]) -> list[str]:
    """The anonymizer sources loaded, the note when there are none, and their warnings."""
    from loganalyzer.analysis.meta import NO_ANON_SOURCES
    from loganalyzer.outputs.render import safe_text

    given = [src for src in meta.get("sources", []) if not src.get("package")]
    out = [
        f"Source: {safe_text(src['path'])} ({src['kind']}, {src['entries']:,} entries)"
        for src in given
    ]
    packaged = [src for src in meta.get("sources", []) if src.get("package")]
    if packaged:
        # Forty-odd lists: one line (meta.sources and `sources info` name each).
        entries = sum(src["entries"] for src in packaged)
        out.append(
            f"Source: built-in lists of {safe_text(packaged[0]['package'])} "
            f"({len(packaged)} lists, {entries:,} entries; --no-builtin-sources leaves them out)"
        )
    out += [
        f"Skipped source: {safe_text(skip['path'])}: {safe_text(skip['why'])}"
        for skip in meta.get("sources_skipped", [])
    ]
    if meta.get("anonymizers") == NO_ANON_SOURCES:
        out.append(f"Note: {NO_ANON_SOURCES}")
        from loganalyzer.anonymity import builtin

        if not builtin.available():
            out.append(
                f"Note: {builtin.EXTRA_HINT} adds built-in VPN/datacenter, cloud, scanner "
                "and crawler lists, used with no file given"
            )
    out += [f"Warning: {safe_text(warning)}" for warning in meta.get("warnings", [])]
    return out


def fault_warnings(faults: Sequence[ReadFault]) -> list[str]:
    """One warning per input left out (``--keep-going``) or broken off part-way."""
    return [
        f"Warning: {f.source}: skipped: {f.problem}"
        if f.skipped
        else f"Warning: {f.source}: {f.problem} after line {f.line_no}"
        for f in faults
    ]


__all__ = ["database_notes", "fault_warnings", "rejects_summary", "source_notes"]
