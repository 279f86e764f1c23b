"""How every chart looks: the palette, the size, the fonts, and the frame of a figure.

The Okabe-Ito colour-blind-safe palette, 1600x900 pixels, the installed fonts
that can draw the labels (:func:`drawable`), label text made safe for
matplotlib (:func:`_plain`: controls and ``$`` escaped, undrawable characters
replaced), and the figure every chart starts from (:func:`_new_figure`: title,
subtitle, footnote) inside the chart style (:func:`_style`). matplotlib is
imported inside the functions only.
"""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from loganalyzer.outputs.render import safe_text

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


# Okabe & Ito (2008), "Color Universal Design": distinguishable with any common
# colour-vision deficiency, and in greyscale print by lightness.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
SERIES_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
BAR_COLOR = OKABE_ITO["blue"]
WATCH_COLOR = OKABE_ITO["vermillion"]
BUCKET_COLOR = "#9A9A9A"
ANON_COLOR = OKABE_ITO["sky_blue"]
WATCH_ANON_COLOR = OKABE_ITO["orange"]

WIDTH_PX, HEIGHT_PX, DPI = 1600, 900, 100
MAX_BARS = 40
LABEL_CHARS = 48
TITLE_CHARS = 80  # at 22 pt bold, what 1600 pixels hold (measured on wide capitals)
# Families tried in order, per glyph (matplotlib >= 3.6 falls back along the
# list). Only installed ones are used, so matplotlib never logs a missing family.
_FONT_CANDIDATES = (
    "DejaVu Sans",
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans CJK KR",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "IPAGothic",
    "Noto Sans",
)


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:  # pragma: no cover - matplotlib is a dependency
        from loganalyzer.errors import MissingDependencyError

        raise MissingDependencyError("charts need matplotlib: pip install matplotlib") from exc


@functools.cache
def _fonts() -> tuple[tuple[str, ...], frozenset[int]]:
    """Installed font families to use, and every code point they can draw."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    files: dict[str, str] = {}
    for entry in font_manager.fontManager.ttflist:
        if entry.style == "normal" and entry.weight in (400, "normal", "regular"):
            files.setdefault(entry.name, entry.fname)
        else:
            files.setdefault(entry.name + "\0any", entry.fname)
    families: list[str] = []
    points: set[int] = set()
    for name in _FONT_CANDIDATES:
        fname = files.get(name) or files.get(name + "\0any")
        if fname is None:
            continue
        families.append(name)
        points.update(FT2Font(fname).get_charmap())
    return tuple(families) or ("DejaVu Sans",), frozenset(points)


def drawable(text: str) -> bool:
    """Whether every character of ``text`` has a glyph in an installed font."""
    points = _fonts()[1]
    return all(ord(c) in points or c.isspace() for c in text)


def _plain(text: str) -> str:
    """Text made safe for a matplotlib label: no controls, no mathtext, no missing glyphs."""
    points = _fonts()[1]
    shown = "".join(c if ord(c) in points or c.isspace() else "?" for c in safe_text(text))
    return shown.replace("$", r"\$")


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _name(value: Any, fallback: str) -> str:
    """A place or organisation name, or ``fallback`` when it cannot be drawn."""
    if value is None:
        return fallback
    text = safe_text(str(value))
    return text if drawable(text) else fallback


def _rc() -> dict[str, Any]:
    families, _ = _fonts()
    return {
        "font.family": list(families),
        "font.size": 14,
        "axes.titlesize": 13,
        "axes.labelsize": 14,
        "xtick.labelsize": 13,
        "ytick.labelsize": 13,
        "legend.fontsize": 12,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlelocation": "left",
        # SVG keeps text as text (searchable, accessible); PDF embeds TrueType.
        "svg.fonttype": "none",
        "svg.hashsalt": "loganalyzer",
        "pdf.fonttype": 42,
    }


@contextmanager
def _style() -> Iterator[None]:
    # rc_context restores every setting on exit; tick labels are made at draw
    # time, so saving runs inside it too (see figure_bytes).
    import matplotlib

    with matplotlib.rc_context(_rc()):  # type: ignore[arg-type]
        yield


def _new_figure(title: str, sub: str, *, footnote: str = "") -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")
    # A title that states a finding is a sentence: wrapped, never cut at the figure's edge.
    heading = "\n".join(textwrap.wrap(_plain(title), TITLE_CHARS)[:3])
    fig.suptitle(heading, x=0.01, ha="left", fontsize=22, fontweight="bold")
    ax = fig.add_subplot()
    ax.set_title("\n".join(textwrap.wrap(_plain(sub), 105)), color="#444444", pad=12)
    note = footnote or "IP geolocation is approximate: it places networks, not people."
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    engine = fig.get_layout_engine()
    # Room at the bottom for the footnote, which the layout does not know about.
    if isinstance(engine, ConstrainedLayoutEngine):
        engine.set(rect=(0, 0.035, 1, 0.965))
    fig.text(0.01, 0.008, _plain(note), fontsize=11, color="#555555", ha="left", va="bottom")
    return fig, ax


def _say_empty(ax: Axes, what: str = "No requests in the selected logs and time range.") -> None:
    """An empty chart says so, instead of showing axes that look like data."""
    ax.text(
        0.5, 0.5, what, transform=ax.transAxes, ha="center", va="center", fontsize=20,
        color="#555555",
    )  # fmt: skip


def _thousands(ax_axis: Any) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax_axis.set_major_locator(MaxNLocator(integer=True))
    ax_axis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:,.0f}"))


__all__ = [
    "ANON_COLOR",
    "BAR_COLOR",
    "BUCKET_COLOR",
    "DPI",
    "HEIGHT_PX",
    "LABEL_CHARS",
    "MAX_BARS",
    "OKABE_ITO",
    "SERIES_COLORS",
    "WATCH_ANON_COLOR",
    "WATCH_COLOR",
    "WIDTH_PX",
    "drawable",
]
