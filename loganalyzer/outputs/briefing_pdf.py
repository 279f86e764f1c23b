"""The briefing as a paginated PDF, drawn with matplotlib's multi-page PDF backend.

See docs/decisions/0042: matplotlib is already a dependency and already draws every
chart, so the PDF needs no HTML engine, no system libraries and no browser. Text
pages are laid out here, line by line (headings, wrapped paragraphs, tables as
aligned text); each chart gets a page of its own. Text is embedded as TrueType
(``pdf.fonttype`` 42), so the PDF is searchable and its text extractable.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from typing import Any

from loganalyzer.outputs.charts.style import _plain, _rc

PAGE = (11.69, 8.27)  # A4 landscape, inches
TOP, BOTTOM, LEFT = 0.93, 0.06, 0.05
STYLES = {"h1": (20, "bold", 0.05), "h2": (15, "bold", 0.04), "h3": (12, "bold", 0.032),
          "p": (10.5, "normal", 0.026), "row": (9, "normal", 0.022)}  # fmt: skip
WRAP = {"h1": 70, "h2": 95, "h3": 115, "p": 128, "row": 150}

Block = tuple[str, Any]
"""("h1" | "h2" | "h3" | "p", text), ("table", (header, rows)) or ("image", (caption, png))."""


def _cells(row: Sequence[Any]) -> list[str]:
    return [str(c) for c in row]


def _table_lines(header: list[str], body: list[list[Any]]) -> list[str]:
    """A table as aligned text lines, long cells shortened so a row fits the page."""
    rows = [_cells(header), *[_cells(r) for r in body]]
    widths = [min(48, max(len(r[i]) for r in rows)) for i in range(len(header))]
    out = []
    for r in rows:
        cells = [c if len(c) <= w else c[: w - 1] + "…" for c, w in zip(r, widths, strict=True)]
        out.append("   ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    return out


def pdf_bytes(title: str, blocks: Sequence[Block]) -> bytes:
    """Lay out the blocks on A4 landscape pages and return the PDF.

    Args:
        title: the document's title (PDF metadata and the running head).
        blocks: headings, paragraphs, tables and images, in order.
    """
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure
    from matplotlib.image import imread

    buf = io.BytesIO()
    with matplotlib.rc_context(_rc()):  # type: ignore[arg-type]
        pdf = PdfPages(buf, metadata={"Title": title, "CreationDate": None, "ModDate": None})
        state: dict[str, Any] = {"fig": None, "y": TOP, "page": 0}

        def new_page() -> Figure:
            if state["fig"] is not None:
                pdf.savefig(state["fig"])  # type: ignore[no-untyped-call]
            fig = Figure(figsize=PAGE)
            state["page"] += 1
            fig.text(LEFT, 0.025, _plain(f"{title} · page {state['page']}"), fontsize=8,
                     color="#666666")  # fmt: skip
            state["fig"], state["y"] = fig, TOP
            return fig

        def line(kind: str, text: str, mono: bool = False) -> None:
            size, weight, step = STYLES[kind]
            if state["fig"] is None or state["y"] - step < BOTTOM:
                new_page()
            state["fig"].text(
                LEFT, state["y"], _plain(text), fontsize=size, fontweight=weight, va="top",
                family="monospace" if mono else None,
            )  # fmt: skip
            state["y"] -= step

        for kind, payload in blocks:
            if kind == "image":
                caption, png = payload
                fig = new_page()
                ax = fig.add_axes((0.03, 0.08, 0.94, 0.84))
                ax.imshow(imread(io.BytesIO(png), format="png"))
                ax.set_axis_off()
                fig.text(LEFT, 0.95, _plain(caption), fontsize=11, fontweight="bold")
                state["y"] = BOTTOM  # the next block starts a new page
            elif kind == "table":
                header, body = payload
                for text in _table_lines(header, body):
                    line("row", text, mono=True)
                state["y"] -= 0.01
            else:
                if kind in ("h1", "h2") and state["fig"] is not None and state["y"] < 0.3:
                    new_page()  # a heading near the foot of a page starts the next one
                for text in textwrap.wrap(str(payload), WRAP[kind]) or [""]:
                    line(kind, text)
                state["y"] -= 0.008
        if state["fig"] is None:
            new_page()
        pdf.savefig(state["fig"])  # type: ignore[no-untyped-call]
        pdf.close()  # type: ignore[no-untyped-call]
    return buf.getvalue()


__all__ = ["Block", "pdf_bytes"]
