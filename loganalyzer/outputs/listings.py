"""The short listings of the informational commands, as text or JSON.

``--version``, ``db info``, ``sources info``, ``sources update``, ``formats``
and ``config show`` describe the tool's set-up rather than a log. Each function
returns the text a command prints; the command line only echoes it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from loganalyzer.errors import GeoDatabaseError

if TYPE_CHECKING:
    from loganalyzer.anonymity.sources import AnonymizerSources
    from loganalyzer.anonymity.update import FetchResult
    from loganalyzer.geo.databases import GeoDatabases
    from loganalyzer.settings import Settings


def version_lines(
    version: str, *, city_db: str | None, asn_db: str | None, geoip_dir: str | None
) -> list[str]:
    """The version, then the City and ASN databases a report would use (or why none)."""
    from loganalyzer.geo.databases import GeoDatabases, open_database_info
    from loganalyzer.outputs.render import safe_text

    out = [f"loganalyzer, version {version}"]
    for role, given in (("city", city_db), ("asn", asn_db)):
        try:
            if given:
                info = open_database_info(given, role)  # type: ignore[arg-type]
            else:
                dbs = GeoDatabases.open(geoip_dir=geoip_dir, search=True)
                info = getattr(dbs, role)
        except GeoDatabaseError as exc:
            out.append(f"{role} database: unusable ({safe_text(str(exc))})")
            continue
        if info is None:
            out.append(f"{role} database: none found")
        else:
            out.append(
                f"{role} database: {safe_text(info.path)} "
                f"({info.database_type}, built {info.build_date})"
            )
    return out


def database_rows(dbs: GeoDatabases, now: float | None = None) -> list[dict[str, Any]]:
    """One record per role (city, asn): the database's details and age in days."""
    now = time.time() if now is None else now
    rows: list[dict[str, Any]] = []
    for role in ("city", "asn"):
        info = getattr(dbs, role)
        if info is None:
            rows.append({"role": role, "path": None, "age_days": None})
            continue
        rows.append({**info.as_dict(), "age_days": int((now - info.build_epoch) // 86400)})
    return rows


def render_databases(rows: Sequence[dict[str, Any]], searched: Sequence[str]) -> str:
    """``db info``'s lines: path, type, build date and age, or where it looked."""
    from loganalyzer.outputs.render import safe_text

    out = []
    for r in rows:
        if r["path"] is None:
            out.append(f"{r['role']:5} not found (searched: {', '.join(searched) or 'nothing'})")
        else:
            out.append(
                f"{r['role']:5} {safe_text(r['path'])}  {r['type']}  built {r['build_date']} "
                f"({r['age_days']} days ago)"
            )
    return "\n".join(out)


def source_rows(sources: AnonymizerSources | None) -> list[dict[str, Any]]:
    """One record per loaded source, with what ``sources update`` recorded of it.

    Files of a ``--sources-dir`` that were not loaded follow, as ``{"path",
    "skipped": why}``.
    """
    from loganalyzer.anonymity.update import fetch_record

    rows = [i.as_dict() for i in sources.infos] if sources else []
    for r in rows:
        record = fetch_record(r["path"], r["sha256"])
        if record is not None:
            r["fetched"] = record
    if sources is not None:
        rows += [{"path": path, "skipped": why} for path, why in sources.skipped]
    return rows


def render_sources(rows: Sequence[dict[str, Any]]) -> str:
    """``sources info``'s lines: each source, when and where it was fetched."""
    from loganalyzer.anonymity.sources import describe
    from loganalyzer.outputs.render import safe_text

    if not rows:
        from loganalyzer.anonymity import builtin

        hint = "" if builtin.available() else f"; or {builtin.EXTRA_HINT} for built-in lists"
        return (
            "no anonymizer sources given: every address would be 'not listed' "
            "(pass --sources-dir, --anon-db, --tor-exits, --ip-list, --cloud-ranges or "
            f"--asn-list{hint})"
        )
    out = []
    for r in rows:
        if "skipped" in r:
            out.append(safe_text(f"skipped {r['path']}: {r['skipped']}"))
            continue
        out.append(safe_text(describe(r)))
        got = r.get("fetched") or {}
        if got.get("fetched_at"):
            changed = "" if got["same_file"] else " (the file has changed since)"
            out.append(safe_text(f"  fetched {got['fetched_at']} from {got['url']}{changed}"))
        if got.get("last_failure"):
            fail = got["last_failure"]
            out.append(safe_text(f"  last update failed {fail.get('at')}: {fail.get('error')}"))
    return "\n".join(out)


def update_line(result: FetchResult) -> str:
    """One line for a fetched source (stdout) or a failed one (``Error: ...``)."""
    from loganalyzer.outputs.render import safe_text

    r = result
    if r.ok and r.entry is not None:
        return (
            f"{r.name:18} {r.entry['entries']:>9,} entries "
            f"{r.entry['size_bytes']:>11,} bytes  sha256 {r.entry['sha256'][:12]}  "
            f"{safe_text(str(r.path))}"
        )
    failed = f"Error: {r.name}: {safe_text(r.url or '')}: {safe_text(r.error or '')}"
    return f"{failed} (kept the previous {r.path.name})" if r.path.exists() else failed


def render_formats() -> str:
    """Every preset: its description, aliases, definition and an example line."""
    from loganalyzer.ingest.presets import ALIASES, PRESETS
    from loganalyzer.outputs.render import safe_text

    aliases: dict[str, list[str]] = {}
    for alias, name in ALIASES.items():
        aliases.setdefault(name, []).append(alias)
    out = []
    for fmt in PRESETS.values():
        also = f"  aliases:  {', '.join(aliases[fmt.name])}\n" if fmt.name in aliases else ""
        definition = "regex" if fmt.syntax == "regex" else fmt.syntax
        out.append(
            f"{fmt.name}\n  {fmt.description}\n{also}"
            f"  {definition}: {safe_text(fmt.template)}\n  example:  {safe_text(fmt.example)}\n"
        )
    return "\n".join(out)


def render_settings(settings: Settings, *, as_json: bool) -> str:
    """``config show``: the settings file, then each setting, its value and source."""
    from loganalyzer.outputs.render import safe_text
    from loganalyzer.settings import describe

    records = describe(settings)
    if as_json:
        doc = {
            "file": str(settings.file) if settings.file else None,
            "searched": str(settings.searched) if settings.searched else None,
            "settings": records,
        }
        return json.dumps(doc, indent=2, sort_keys=True)
    file_note = (
        f"settings file: {settings.file}"
        if settings.file
        else f"settings file: none (looked for {settings.searched})"
    )
    out = [safe_text(file_note)]
    for r in records:
        value = r["value"]
        shown = "-" if value is None or value == [] else value
        if isinstance(shown, list):
            shown = ", ".join(shown)
        elif isinstance(shown, bool):
            shown = "true" if shown else "false"  # as the settings file writes it
        out.append(f"{r['name']:<11} {safe_text(str(shown))}  [{safe_text(r['source'])}]")
    return "\n".join(out)


__all__ = [
    "database_rows",
    "render_databases",
    "render_formats",
    "render_settings",
    "render_sources",
    "source_rows",
    "update_line",
    "version_lines",
]
