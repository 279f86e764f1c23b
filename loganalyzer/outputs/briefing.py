"""A one-file briefing: findings in sentences, charts, tables, provenance, caveats.

The HTML briefing is self-contained: images are embedded as ``data:`` URIs,
styles are inline, there is no script, and a Content-Security-Policy forbids
the browser from fetching anything, so opening it leaks nothing and needs no
network. Every log- or database-derived string (paths, user agents, place and
network names, file names) is shown with control characters escaped and then
HTML-escaped (or Markdown-escaped), so a hostile log line stays text.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from loganalyzer import schema as S
from loganalyzer.errors import UsageError

# findings is re-exported (in __all__): it was defined here.
from loganalyzer.outputs.briefing_findings import _when, findings
from loganalyzer.outputs.briefing_sections import SECTIONS, BriefContext, Section
from loganalyzer.outputs.charts import ANONYMIZED, hour_matrix, place_label
from loganalyzer.outputs.charts.hours import _zone_words
from loganalyzer.outputs.render import _md_cell, safe_text

if TYPE_CHECKING:
    from loganalyzer.analysis.pipeline import Analysis
    from loganalyzer.ingest.read import ReadFault

BriefFormat = Literal["html", "markdown", "pdf"]

GEO_CAVEATS = (
    "IP geolocation places a network, not a person: the position is a centroid "
    "within an accuracy radius that is often tens to hundreds of kilometres, and "
    "a province or city can be wrong even when the country is right.",
    "An address is where the traffic left the internet towards this server. VPN, "
    "proxy, Tor and cloud exits are not the users behind them; a region here can "
    "be the location of a data centre.",
    "Databases age: networks move between owners and places. The build dates are "
    "in the provenance; results from an old database describe the past.",
    "Never use IP geolocation to identify a household or a person.",
)


@dataclass(frozen=True)
class InputRecord:
    """One input file as the briefing's provenance lists it.

    Attributes:
        path: the name as given.
        sha256: hex digest of the bytes on disk (compressed files as compressed),
            None for standard input.
        size: bytes on disk.
        lines: total, parsed and rejected line counts.
    """

    path: str
    sha256: str | None
    size: int | None
    lines: dict[str, int]


@dataclass(frozen=True)
class Briefing:
    """A rendered briefing and what it was made from.

    Attributes:
        text: the HTML or Markdown document.
        fmt: ``html`` or ``markdown``.
        findings: the key findings, as plain sentences (unescaped).
        regions: the analysis by region (all rows, watched marked).
        networks: the analysis by ASN.
        hourly: the analysis by region and hour.
        inputs: every input with its sha256 and line counts.
        faults: inputs that broke part-way.
        tables: the paths and user agents tables.
        files: for Markdown, the images to write beside the document, by the
            relative path the text links to (``briefing_files/01-...png``).
        sections: the extra sections (one per watched place...), as rendered.
        pdf: the PDF document, for ``fmt="pdf"`` (``text`` is then empty).
    """

    text: str
    fmt: str
    findings: tuple[str, ...]
    regions: Analysis
    networks: Analysis
    hourly: Analysis
    inputs: tuple[InputRecord, ...]
    faults: tuple[ReadFault, ...] = ()
    tables: dict[str, Analysis] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    sections: tuple[Section, ...] = ()
    pdf: bytes | None = None

    @property
    def meta(self) -> dict[str, Any]:
        """The provenance of the region analysis (line counts, files, databases)."""
        return self.regions.meta


def briefing_format(path: str | Path) -> BriefFormat:
    """The briefing format for a file name: ``.html``/``.htm``, ``.md`` or ``.pdf``.

    Raises:
        UsageError: for any other extension.
    """
    suffix = Path(path).suffix.lower()
    if suffix in (".html", ".htm"):
        return "html"
    if suffix in (".md", ".markdown"):
        return "markdown"
    if suffix == ".pdf":
        return "pdf"
    raise UsageError(f"{path}: a briefing is .html, .md or .pdf")


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _charts(
    regions: Analysis,
    networks: Analysis,
    hourly: Analysis,
    located: Analysis | None,
    *,
    watch: Sequence[str],
    tz: str,
    top_n: int,
) -> list[tuple[str, str, bytes]]:
    """(heading, alt text, PNG bytes) for each chart."""
    from loganalyzer.outputs.charts import (
        figure_bytes,
        plot_asn,
        plot_hours,
        plot_map,
        plot_regions,
        plot_timeline,
    )

    out = [
        (
            "Where requests came from",
            "Horizontal bar chart of requests per province or region; watched places highlighted.",
            figure_bytes(plot_regions(regions, top=top_n)),
        ),
        (
            "When requests arrived",
            "Line chart of requests per hour or day for the busiest and watched places.",
            figure_bytes(plot_timeline(hourly, watch=watch)),
        ),
        (
            f"Hours of activity in {_zone_words(tz)}",
            f"Heatmap of requests by hour of day and weekday in {_zone_words(tz)}.",
            figure_bytes(plot_hours(hourly, tz=tz)),
        ),
        (
            "Most active networks",
            "Horizontal bar chart of requests per autonomous system.",
            figure_bytes(plot_asn(networks, top=top_n)),
        ),
    ]
    if located is not None:
        out.append(
            (
                "Map of locations",
                "World map with circles sized by requests at each located network.",
                figure_bytes(plot_map(located)),
            )
        )
    return out


def briefing(
    paths: Sequence[str | Path],
    *,
    watch: Sequence[str] = (),
    tz: str = "UTC",
    top_n: int = 15,
    fmt: BriefFormat | str = "html",
    charts: bool = True,
    title: str = "Access briefing",
    image_dir: str = "briefing_files",
    compare_baseline: datetime | None = None,
    links: bool = False,
    **options: Any,
) -> Briefing:
    """Analyse logs and write a briefing (the library form of ``loganalyzer brief``).

    The logs are read once: every view (regions, networks, hours, map, paths,
    user agents) is summarised from the partials of that one read (see
    :func:`loganalyzer.analysis.pipeline.analyze_views`). Standard input is still
    refused (save it to a file first): the provenance gives each input's
    SHA-256, read from the file after the analysis.

    Args:
        paths: log files or globs.
        watch: country or province codes reported and highlighted.
        tz: time zone for the active hours and the heatmap.
        top_n: rows in the region and network tables and charts.
        fmt: ``html``, ``markdown`` or ``pdf`` (paginated, see
            :mod:`loganalyzer.outputs.briefing_pdf`).
        charts: embed the charts (off for a quick text-only briefing).
        title: the document's heading.
        image_dir: Markdown: the folder, relative to the document, its images
            are linked in (``<name>_files`` from the CLI); write
            :attr:`Briefing.files` there. HTML embeds its images.
        compare_baseline: adds a section comparing the requests before this
            time (the baseline) with those after, by province (a second read).
        links: adds a "Linked access" section: clusters of addresses that share
            rare traces, anonymized and not (:func:`loganalyzer.analysis.links.find_links`,
            another read).
        **options: passed to :func:`loganalyzer.analysis.pipeline.analyze_views`
            (``city_db``, ``asn_db``, ``since``, ``until``, ``where``,
            ``rejects``...).

    Returns:
        The :class:`Briefing`.

    Raises:
        UsageError: standard input, an unknown format or time zone.
    """
    from loganalyzer.analysis.pipeline import View, analyze, analyze_views
    from loganalyzer.outputs.charts.hours import _whole_hours, _zone

    if fmt not in ("html", "markdown", "pdf"):
        raise UsageError(f"a briefing is html, markdown or pdf, not {fmt!r}")
    if any(str(p) == "-" for p in paths):
        # The provenance hashes every input after the analysis: stdin is gone by then.
        raise UsageError("a briefing records each input's SHA-256; save stdin to a file first")
    zone = _zone(tz)
    views = {
        "regions": View(("region",), watch=tuple(watch)),
        "networks": View(("asn",)),
        "hourly": View(("region", "hour")),
        "paths": View((S.PATH,), top_n=10),
        "agents": View((S.USER_AGENT,), top_n=10),
        # Every path with its first and last time: "what stands out" looks for late ones.
        "all_paths": View((S.PATH,)),
    }
    if not _whole_hours(zone):
        # Hour buckets cannot be placed in a half-hour zone: each request's own
        # time is needed, so it is kept in the same read.
        views["hourly_ts"] = View(("region", S.TS))
    if charts:
        views["located"] = View(("region", S.LATITUDE, S.LONGITUDE), watch=tuple(watch))
    if watch:
        # Per watched place: what it fetched, from which networks, in which zone.
        views["place_paths"] = View(("region", S.PATH))
        views["place_networks"] = View(("region", "asn"))
        views["place_zones"] = View(("region", S.TIME_ZONE))
    # One read of the logs for every view (rejected lines are written once).
    got = analyze_views(paths, views, **options)
    regions, networks, hourly = got["regions"], got["networks"], got["hourly"]
    try:
        hour_matrix(hourly, tz=tz)
    except UsageError:
        # A zone that is whole hours at every month start but not at these times.
        again = {**options, "rejects": None, "on_bytes": None}
        hourly = got.get("hourly_ts") or analyze(paths, by=["region", S.TS], **again)
    tables = {"paths": got["paths"], "agents": got["agents"]}
    located = got.get("located")
    inputs = tuple(
        InputRecord(
            path=str(f["path"]),
            sha256=None if f["path"] == "-" else sha256_file(f["path"]),
            size=f.get("size_bytes"),
            lines=dict(f["lines"]),
        )
        for f in regions.meta["files"]
    )
    sentences = findings(regions, networks, hourly, watch=watch, tz=tz)
    images = (
        _charts(regions, networks, hourly, located, watch=watch, tz=tz, top_n=top_n)
        if charts
        else []
    )
    extra: dict[str, Analysis] = {}
    if compare_baseline is not None:
        from loganalyzer.analysis.compare import compare

        again = {**options, "rejects": None, "on_bytes": None}
        extra["compare"] = compare(
            paths, baseline_until=compare_baseline, by=["region"], watch=watch, **again
        )
    found: dict[str, Any] = {}
    if links:
        from loganalyzer.analysis.links import find_links

        found["links"] = find_links(
            paths, activity=True, **{**options, "rejects": None, "on_bytes": None}
        )
    context = BriefContext(
        views={**got, "hourly": hourly, **extra},
        watch=tuple(watch),
        tz=tz,
        charts=charts,
        extra=found,
    )
    sections = [section for build in SECTIONS for section in build(context)]
    doc = _Doc(
        title, regions, networks, tables, inputs, sentences, images, top_n, sections, image_dir
    )
    pdf = doc.pdf() if fmt == "pdf" else None
    text = doc.html() if fmt == "html" else doc.markdown() if fmt == "markdown" else ""
    return Briefing(
        text=text,
        fmt=fmt,
        findings=tuple(sentences),
        regions=regions,
        networks=networks,
        hourly=hourly,
        inputs=inputs,
        faults=regions.faults,
        tables=tables,
        files=dict(doc.files),
        sections=tuple(sections),
        pdf=pdf,
    )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return _when(value)
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{100 * value:.1f}%"
    return safe_text(str(value))


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans","Noto Sans CJK SC",
sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1a1a1a;line-height:1.45}
h1{margin-bottom:.2em}.sub{color:#555;margin-top:0}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}
th,td{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.watched td{font-weight:600;color:#a34100}
img{max-width:100%;height:auto;border:1px solid #eee}
code{word-break:break-all}.caveat{background:#fff6e5;padding:.6em 1em;border-left:4px solid #E69F00}
"""


@dataclass
class _Doc:
    title: str
    regions: Analysis
    networks: Analysis
    tables: dict[str, Analysis]
    inputs: tuple[InputRecord, ...]
    sentences: list[str]
    images: list[tuple[str, str, bytes]]
    top_n: int
    sections: list[Section] = field(default_factory=list)
    image_dir: str = "briefing_files"
    files: dict[str, bytes] = field(default_factory=dict)

    def _image_link(self, heading: str, png: bytes) -> str:
        """Markdown: a file beside the document, linked by relative path (no megabytes inline)."""
        words = "".join(c if c.isascii() and c.isalnum() else " " for c in heading.lower()).split()
        name = f"{self.image_dir}/{len(self.files) + 1:02d}-{'-'.join(words[:6]) or 'chart'}.png"
        self.files[name] = png
        return name

    def _html_sections(self) -> list[str]:
        e = _html_text
        parts = []
        for sec in self.sections:
            parts.append(f'<section id="{e(sec.id)}"><h2>{e(sec.heading)}</h2>')
            parts += [f"<p>{e(p)}</p>" for p in sec.paragraphs]
            for caption, header, body in sec.tables:
                parts += [f"<h3>{e(caption)}</h3>", _html_table(header, body)]
            for alt, png in sec.images:
                data = base64.b64encode(png).decode("ascii")
                parts.append(
                    f'<figure><img src="data:image/png;base64,{data}" alt="{e(alt)}" '
                    'width="1600" height="900"></figure>'
                )
            parts.append("</section>")
        return parts

    def _md_sections(self) -> list[str]:
        m = _md_cell
        out: list[str] = []
        for sec in self.sections:
            out += [f"## {m(sec.heading)}", ""]
            for p in sec.paragraphs:
                out += [m(p), ""]
            for caption, header, body in sec.tables:
                out += [f"### {m(caption)}", "", *_md_table(header, body), ""]
            for alt, png in sec.images:
                out += [f"![{m(alt)}]({self._image_link(sec.heading, png)})", ""]
        return out

    def _region_rows(self) -> tuple[list[str], list[list[Any]], list[bool]]:
        rows = self.regions.rows
        keep = pl.int_range(pl.len()) < self.top_n
        if S.WATCHED in rows.columns:
            keep = keep | pl.col(S.WATCHED)
        shown = rows.filter(keep)
        header = ["place", "code", "requests", "share", "unique IPs", "first seen", "last seen"]
        anon = ANONYMIZED in rows.columns
        if anon:
            header.insert(3, "anonymized")
        body, marks = [], []
        for r in shown.iter_rows(named=True):
            line: list[Any] = [
                place_label(r),
                r.get(S.REGION_ISO) or r.get(S.COUNTRY_ISO),
                r[S.REQUESTS],
                r[S.SHARE],
                r[S.UNIQUE_IPS],
                r[S.FIRST_SEEN],
                r[S.LAST_SEEN],
            ]
            if anon:
                line.insert(3, r.get(ANONYMIZED))
            body.append(line)
            marks.append(bool(r.get(S.WATCHED)))
        return header, body, marks

    def _network_rows(self) -> tuple[list[str], list[list[Any]]]:
        header = ["AS number", "organisation", "requests", "share", "unique IPs"]
        body = [
            [
                f"AS{r[S.ASN]}" if r.get(S.ASN) is not None else place_label(r),
                r.get(S.AS_ORG),
                r[S.REQUESTS],
                r[S.SHARE],
                r[S.UNIQUE_IPS],
            ]
            for r in self.networks.rows.head(self.top_n).iter_rows(named=True)
        ]
        return header, body

    def _simple(self, key: str, col: str, label: str) -> tuple[list[str], list[list[Any]]]:
        a = self.tables[key]
        body = [
            [r.get(col), r[S.REQUESTS], r[S.SHARE], r[S.UNIQUE_IPS]]
            for r in a.rows.iter_rows(named=True)
        ]
        return [label, "requests", "share", "unique IPs"], body

    def _provenance(self) -> list[str]:
        meta = self.regions.meta
        lines = meta["lines"]
        out = [
            f"Lines: {lines['total']:,} read, {lines['parsed']:,} parsed, "
            f"{lines['rejected']:,} rejected"
            + (
                " (" + ", ".join(f"{n:,} {r}" for r, n in lines["rejected_by_reason"].items()) + ")"
                if lines["rejected"]
                else ""
            )
            + f"; {lines['matched']:,} requests in this briefing."
        ]
        for d in meta.get("databases", []):
            out.append(
                f"Database {d['path']}: {d['type']}, built {d['build_date']}"
                + (f" ({d['description']})" if d.get("description") else "")
                + "."
            )
        for src in meta.get("sources", []):
            dated = f", data of {src['date']}" if src.get("date") else ""
            out.append(
                f"Anonymizer source {src['path']}: {src['kind']}, {src['entries']:,} entries"
                f"{dated}, sha256 {src['sha256']}."
            )
        # Stale anonymizer lists and the like: a reader must see them next to the numbers.
        out += [f"Warning: {w}" for w in meta.get("warnings", [])]
        if meta.get("filters"):
            out.append("Filters: " + ", ".join(meta["filters"]) + ".")
        if meta.get("since") or meta.get("until"):
            out.append(
                f"Time window: from {meta.get('since') or '-'} until {meta.get('until') or '-'}."
            )
        out.append(
            f"Made by loganalyzer {meta['tool']['version']} at {_when(meta.get('generated_at'))}."
        )
        return out

    # --- PDF --------------------------------------------------------------------------

    def pdf(self) -> bytes:
        from loganalyzer.outputs.briefing_pdf import Block, pdf_bytes

        tr = self.regions.meta.get("time_range") or {}
        names = ", ".join(Path(i.path).name for i in self.inputs)
        blocks: list[Block] = [
            ("h1", self.title),
            ("p", f"{_when(tr.get('first'))} to {_when(tr.get('last'))}; {names}"),
            ("h2", "Key findings"),
            *[("p", f"• {s}") for s in self.sentences],
        ]
        for sec in self.sections:
            blocks += [("h2", sec.heading), *[("p", p) for p in sec.paragraphs]]
            for caption, header, body in sec.tables:
                blocks += [("h3", caption), ("table", (header, _shown(body)))]
            blocks += [("image", (sec.heading, png)) for _alt, png in sec.images]
        header, body, _marks = self._region_rows()
        blocks += [("h2", "Requests by province or region"), ("table", (header, _shown(body)))]
        header, body = self._network_rows()
        blocks += [("h2", "Requests by network (AS)"), ("table", (header, _shown(body)))]
        header, body = self._simple("paths", S.PATH, "path")
        blocks += [("h2", "Most requested paths"), ("table", (header, _shown(body)))]
        blocks += [("h2", "Provenance"), *[("p", p) for p in self._provenance()]]
        blocks += [("h2", "Caveats"), *[("p", c) for c in GEO_CAVEATS]]
        blocks += [("image", (heading, png)) for heading, _alt, png in self.images]
        return pdf_bytes(self.title, blocks)

    # --- HTML -------------------------------------------------------------------------

    def html(self) -> str:
        e = _html_text
        tr = self.regions.meta.get("time_range") or {}
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            # Nothing may be fetched or run, even if some text escaped escaping.
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "img-src data:; style-src 'unsafe-inline'\">",
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{e(self.title)}</title>",
            f"<style>{_CSS}</style></head><body>",
            f"<h1>{e(self.title)}</h1>",
            f'<p class="sub">{e(_when(tr.get("first")))} to {e(_when(tr.get("last")))}; '
            f"{e(', '.join(Path(i.path).name for i in self.inputs))}</p>",
            '<section id="findings"><h2>Key findings</h2><ul>',
            *[f"<li>{e(s)}</li>" for s in self.sentences],
            "</ul></section>",
            *self._html_sections(),
        ]
        if self.images:
            parts.append('<section id="charts"><h2>Charts</h2>')
            for heading, alt, png in self.images:
                data = base64.b64encode(png).decode("ascii")
                parts.append(
                    f"<figure><h3>{e(heading)}</h3>"
                    f'<img src="data:image/png;base64,{data}" alt="{e(alt)}" '
                    'width="1600" height="900"></figure>'
                )
            parts.append("</section>")
        header, body, marks = self._region_rows()
        parts += ['<section id="regions"><h2>Requests by province or region</h2>']
        parts.append(_html_table(header, body, marks))
        if any(marks):
            parts.append(
                "<p>Highlighted rows are watched; a zero row means no access from there.</p>"
            )
        parts.append("</section>")
        header, body = self._network_rows()
        parts += ['<section id="networks"><h2>Requests by network (AS)</h2>']
        parts += [_html_table(header, body), "</section>"]
        header, body = self._simple("paths", S.PATH, "path")
        parts += ['<section id="paths"><h2>Most requested paths</h2>']
        parts += [_html_table(header, body), "</section>"]
        header, body = self._simple("agents", S.USER_AGENT, "user agent")
        parts += ['<section id="agents"><h2>Most frequent user agents</h2>']
        parts += [_html_table(header, body), "</section>"]
        parts += ['<section id="provenance"><h2>Provenance</h2>', "<table><thead><tr>"]
        parts.append(
            "<th>input</th><th>sha256</th><th class=n>bytes</th><th class=n>lines</th>"
            "<th class=n>parsed</th><th class=n>rejected</th></tr></thead><tbody>"
        )
        for i in self.inputs:
            parts.append(
                f"<tr><td><code>{e(i.path)}</code></td><td><code>{e(i.sha256 or 'stdin')}</code>"
                f"</td><td class=n>{e(_cell(i.size))}</td><td class=n>{i.lines['total']:,}</td>"
                f"<td class=n>{i.lines['parsed']:,}</td>"
                f"<td class=n>{i.lines['rejected']:,}</td></tr>"
            )
        parts.append("</tbody></table><ul>")
        parts += [f"<li>{e(p)}</li>" for p in self._provenance()]
        parts += [
            "</ul></section>",
            '<section id="caveats"><h2>Caveats</h2><div class="caveat"><ul>',
        ]
        parts += [f"<li>{e(c)}</li>" for c in GEO_CAVEATS]
        parts += ["</ul></div></section>", "</body></html>", ""]
        return "\n".join(parts)

    # --- Markdown ---------------------------------------------------------------------

    def markdown(self) -> str:
        m = _md_cell
        tr = self.regions.meta.get("time_range") or {}
        out = [
            f"# {m(self.title)}",
            "",
            f"{m(_when(tr.get('first')))} to {m(_when(tr.get('last')))}; "
            f"{m(', '.join(Path(i.path).name for i in self.inputs))}",
            "",
            "## Key findings",
            "",
            *[f"- {m(s)}" for s in self.sentences],
            "",
            *self._md_sections(),
        ]
        if self.images:
            out += ["## Charts", ""]
            for heading, alt, png in self.images:
                out += [
                    f"### {m(heading)}",
                    "",
                    f"![{m(alt)}]({self._image_link(heading, png)})",
                    "",
                ]
        header, body, marks = self._region_rows()
        out += ["## Requests by province or region", "", *_md_table(header, body, marks), ""]
        header, body = self._network_rows()
        out += ["## Requests by network (AS)", "", *_md_table(header, body), ""]
        header, body = self._simple("paths", S.PATH, "path")
        out += ["## Most requested paths", "", *_md_table(header, body), ""]
        header, body = self._simple("agents", S.USER_AGENT, "user agent")
        out += ["## Most frequent user agents", "", *_md_table(header, body), ""]
        out += ["## Provenance", ""]
        out += _md_table(
            ["input", "sha256", "bytes", "lines", "parsed", "rejected"],
            [
                [
                    i.path,
                    i.sha256 or "stdin",
                    i.size,
                    i.lines["total"],
                    i.lines["parsed"],
                    i.lines["rejected"],
                ]
                for i in self.inputs
            ],
        )
        out += ["", *[f"- {m(p)}" for p in self._provenance()], "", "## Caveats", ""]
        out += [
            f"> {m(c)}" + ("\n>" if k < len(GEO_CAVEATS) - 1 else "")
            for k, c in enumerate(GEO_CAVEATS)
        ]
        out.append("")
        return "\n".join(out)


def _shown(body: list[list[Any]]) -> list[list[str]]:
    return [[_cell(v) for v in row] for row in body]


def _html_text(value: Any) -> str:
    return html.escape(safe_text(str(value)), quote=True)


def _html_table(header: list[str], body: list[list[Any]], marks: list[bool] | None = None) -> str:
    numeric = [
        all(isinstance(row[i], (int, float)) or row[i] is None for row in body) and bool(body)
        for i in range(len(header))
    ]
    head = "".join(
        f"<th{' class=n' if numeric[i] else ''}>{_html_text(h)}</th>" for i, h in enumerate(header)
    )
    rows = []
    for k, row in enumerate(body):
        cls = ' class="watched"' if marks and marks[k] else ""
        cells = "".join(
            f"<td{' class=n' if numeric[i] else ''}>{_html_text(_cell(v))}</td>"
            for i, v in enumerate(row)
        )
        rows.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _md_table(
    header: list[str], body: list[list[Any]], marks: list[bool] | None = None
) -> list[str]:
    cols = ([""] if marks else []) + header
    out = [
        "| " + " | ".join(_md_cell(c) for c in cols) + " |",
        "|" + "|".join("---" for _ in cols) + "|",
    ]
    for k, row in enumerate(body):
        lead = (["\\*" if marks[k] else ""]) if marks else []
        out.append("| " + " | ".join(lead + [_md_cell(_cell(v)) for v in row]) + " |")
    return out


__all__ = [
    "GEO_CAVEATS",
    "BriefFormat",
    "Briefing",
    "InputRecord",
    "briefing",
    "briefing_format",
    "findings",
    "sha256_file",
]
