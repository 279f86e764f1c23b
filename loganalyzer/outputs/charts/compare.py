"""The compare chart: each place's share of requests in a baseline and a current period."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import polars as pl

from loganalyzer import schema as S
from loganalyzer.analysis.aggregate import top as keep_top
from loganalyzer.errors import UsageError
from loganalyzer.outputs.charts.labels import (
    _databases_text,
    _files_text,
    _group_title,
    _when,
    fit_labels,
    place_label,
    scope_parts,
)
from loganalyzer.outputs.charts.style import (
    BAR_COLOR,
    MAX_BARS,
    OKABE_ITO,
    WATCH_COLOR,
    _new_figure,
    _plain,
    _require_matplotlib,
    _say_empty,
    _short,
    _style,
)
from loganalyzer.outputs.render import safe_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from loganalyzer.analysis.pipeline import Analysis

NEW_COLOR = OKABE_ITO["orange"]
GONE_COLOR = OKABE_ITO["purple"]
BASELINE_EDGE = OKABE_ITO["black"]


def compare_subtitle(meta: dict[str, Any]) -> str:
    """The provenance line of a comparison: each period's time range, files and databases.

    Example:
        >>> meta = {"periods": {
        ...     "baseline": {"requests": 8, "until": "2026-09-15T00:00:00Z",
        ...                  "time_range": {"first": "2026-09-14T12:00:00Z",
        ...                                 "last": "2026-09-14T12:07:00Z"}},
        ...     "current": {"requests": 0, "time_range": {"first": None, "last": None}}},
        ...     "files": [{"path": "/var/log/access.log"}], "databases": []}
        >>> compare_subtitle(meta)
        'baseline 2026-09-14 12:00 UTC to 2026-09-14 12:07 UTC (8 requests) · current: no requests · split at 2026-09-15 00:00 UTC · log: access.log'
    """  # noqa: E501
    periods = meta.get("periods") or {}
    parts = []
    for label in ("baseline", "current"):
        p = periods.get(label) or {}
        tr = p.get("time_range") or {}
        n = int(p.get("requests") or 0)
        files = _files_text([str(f) for f in p.get("files") or ()])
        when = f"{_when(tr.get('first'))} to {_when(tr.get('last'))}" if tr.get("first") else ""
        if not when:
            parts.append(f"{label}: no requests" + (f" ({files})" if files else ""))
        else:
            parts.append(f"{label} {when} ({n:,} requests" + (f"; {files})" if files else ")"))
    cut = (periods.get("baseline") or {}).get("until")
    if cut:
        parts.append(f"split at {_when(cut)}")
    if not any((periods.get(k) or {}).get("files") for k in ("baseline", "current")):
        files = _files_text([str(f["path"]) for f in meta.get("files", [])])
        if files:
            parts.append(files)
    parts += scope_parts(meta)
    dbs = _databases_text(meta)
    if dbs:
        parts.append(dbs)
    return safe_text(" · ".join(parts))


def _change_text(row: dict[str, Any]) -> str:
    """A row's change in plain words: the difference in requests first, then the shares.

    Examples:
        >>> _change_text({"change": "new", "requests_baseline": 0, "requests_current": 41,
        ...               "share_baseline": 0.0, "share_current": 0.1})
        '+41 requests, new'
        >>> _change_text({"change": "up", "requests_baseline": 129, "requests_current": 58,
        ...               "share_baseline": 0.46, "share_current": 0.496})
        '-71 requests (129 → 58), 46% → 50% of the period'
    """
    change = row["change"]
    base, cur = int(row["requests_baseline"]), int(row["requests_current"])
    diff = f"{cur - base:+,} {'request' if abs(cur - base) == 1 else 'requests'}"
    if change == "new":
        return f"{diff}, new"
    if change == "gone":
        return f"{diff}, gone"
    if change == "none":
        return "no request in either period"
    was, now = _share_pair(float(row["share_baseline"]), float(row["share_current"]))
    # The ranking compares shares, so the share's move is said next to the counts:
    # fewer requests can still be a larger share of a quieter period.
    return f"{diff} ({base:,} → {cur:,}), {was} → {now} of the period"


def _share_pair(before: float, after: float) -> tuple[str, str]:
    """Both shares as percentages: two significant digits at least, more if they look equal.

    Examples:
        >>> _share_pair(0.0046, 0.0052)
        ('0.46%', '0.52%')
        >>> _share_pair(0.2, 0.15)
        ('20%', '15%')
    """
    smallest = min([abs(x) for x in (before, after) if x] or [1.0]) * 100
    places = max(0, 1 - math.floor(math.log10(smallest)))
    for extra in range(3):
        was = f"{100 * before:.{places + extra}f}%"
        now = f"{100 * after:.{places + extra}f}%"
        if was != now or before == after:
            break
    return was, now


def _points(row: dict[str, Any]) -> float:
    return 100 * (float(row["share_current"]) - float(row["share_baseline"]))


def most_changed(rows: pl.DataFrame, top: int | None = 15) -> pl.DataFrame:
    """The ``top`` rows whose share moved most (new and gone included), and every watched row.

    Kept in order of how far the share moved, watched rows among them where they rank.
    """
    moved = (pl.col("share_current") - pl.col("share_baseline")).abs()
    ranked = rows.with_columns(moved.alias("_moved")).sort(
        ["_moved", "requests_current"], descending=True, maintain_order=True
    )
    return keep_top(ranked, top).drop("_moved")


def compare_title(analysis: Analysis) -> str:
    """The compare chart's finding: the largest move, new and gone places, an empty period.

    Example:
        >>> from loganalyzer.analysis.pipeline import Analysis
        >>> rows = pl.DataFrame({"region_iso": ["CN-LN"], "country_iso": ["CN"],
        ...     "change": ["up"], "requests_baseline": [10], "requests_current": [0],
        ...     "share_baseline": [1.0], "share_current": [0.0]})
        >>> meta = {"keys": ["region_iso"], "periods": {"baseline": {"requests": 10},
        ...         "current": {"requests": 0, "from": "2026-09-16T00:00:00Z"}}}
        >>> compare_title(Analysis(rows=rows, meta=meta))
        'The current period is empty: no request from 2026-09-16 00:00 UTC on'
    """
    periods = analysis.meta.get("periods") or {}
    if not any(int((periods.get(k) or {}).get("requests") or 0) for k in ("baseline", "current")):
        return "Both periods are empty: no request in either"
    for label in ("baseline", "current"):
        p = periods.get(label) or {}
        if not int(p.get("requests") or 0):
            since, until = p.get("from"), p.get("until")
            when = (
                f" from {_when(since)} on" if since else f" before {_when(until)}" if until else ""
            )
            return f"The {label} period is empty: no request{when}"
    rows = analysis.rows
    if rows.is_empty():
        return "What changed: no place to compare"
    keys = [k for k in analysis.meta.get("keys", []) if k in rows.columns]
    changes = rows["change"].to_list()
    new, gone = changes.count("new"), changes.count("gone")
    head = most_changed(rows, 1).row(0, named=True)
    pts = _points(head)
    name = place_label({k: head[k] for k in keys})
    base, cur = int(head["requests_baseline"]), int(head["requests_current"])
    tail = []
    if new:
        tail.append(f"{new:,} new {'place' if new == 1 else 'places'}")
    if gone:
        tail.append(f"{gone:,} gone")
    return f"Largest change: {name}, {pts:+.1f} points of share ({base:,} → {cur:,} requests)" + (
        "; " + ", ".join(tail) if tail else ""
    )


def plot_compare(analysis: Analysis, *, top: int | None = 15, title: str | None = None) -> Figure:
    """What changed between two periods: each place's share of requests, baseline and current.

    A dumbbell per row for the ``top`` places whose share moved most, plus every
    watched place: a hollow circle at the baseline share, a filled one at the
    current share, a star on new places and a cross on gone ones; watched places
    in vermillion. Shares rather than counts, so a week compares fairly with a
    day; each row's label says the change in requests in plain words. The title
    states the largest change, or that a period is empty.

    Args:
        analysis: from :func:`loganalyzer.analysis.compare.compare` (rows with
            ``share_baseline``, ``share_current`` and ``change``).
        top: rows for the N most changed; watched rows are always drawn.
        title: replaces the generated title.

    Returns:
        The figure; its axes hold scatter collections labelled ``baseline`` and
        ``current`` (x is the share, 0-1, y the row), ``new`` and ``gone``, one
        annotation per row (``gid`` ``"change"``) and a legend below the axes.

    Raises:
        UsageError: for an analysis that is not a comparison.
    """
    _require_matplotlib()
    rows = analysis.rows
    if not {"share_baseline", "share_current", "change"} <= set(rows.columns):
        raise UsageError(
            "the compare chart needs a comparison (loganalyzer.analysis.compare.compare)"
        )
    rows = most_changed(rows, top).head(MAX_BARS)
    keys = [k for k in analysis.meta.get("keys", []) if k in rows.columns]
    records = rows.to_dicts()
    with _style():
        from matplotlib.lines import Line2D
        from matplotlib.ticker import FuncFormatter

        subject = _group_title(analysis.meta)
        every = int(analysis.meta.get("rows_total") or 0)
        watched = [bool(r.get(S.WATCHED)) for r in records]
        plain = sum(not w for w in watched)
        shown = (
            f"the {plain} most changed of {every:,}"
            + (f" and {sum(watched)} watched" if any(watched) else "")
            if every > len(records)
            else f"all {len(records)}"
        )
        fig, ax = _new_figure(
            title or compare_title(analysis),
            compare_subtitle(analysis.meta) + f" · {subject}: {shown}",
            footnote="Share of each period's requests, so periods of different lengths compare "
            "fairly. New: no request in the baseline; gone: none in the current period. "
            "IP geolocation is approximate.",
        )
        y = list(range(len(records)))
        base = [float(r["share_baseline"]) for r in records]
        cur = [float(r["share_current"]) for r in records]
        change = [str(r["change"]) for r in records]
        ax.hlines(
            y, [min(b, c) for b, c in zip(base, cur, strict=True)],
            [max(b, c) for b, c in zip(base, cur, strict=True)],
            color="#B5B5B5", linewidth=3, zorder=1,
        )  # fmt: skip
        ax.scatter(
            base, y, s=90, facecolors="white", edgecolors=BASELINE_EDGE, linewidths=1.8,
            label="baseline", zorder=3,
        )  # fmt: skip
        ax.scatter(
            cur, y, s=110, c=[WATCH_COLOR if w else BAR_COLOR for w in watched], label="current",
            zorder=4,
        )  # fmt: skip
        new = [i for i, c in enumerate(change) if c == "new"]
        gone = [i for i, c in enumerate(change) if c == "gone"]
        ax.scatter(
            [cur[i] for i in new], [y[i] for i in new], marker="*", s=520, c=NEW_COLOR,
            edgecolors="black", linewidths=0.8, label="new", zorder=5,
        )  # fmt: skip
        ax.scatter(
            [base[i] for i in gone], [y[i] for i in gone], marker="X", s=200, c=GONE_COLOR,
            edgecolors="black", linewidths=0.8, label="gone", zorder=5,
        )  # fmt: skip
        labels = [_short(place_label({k: r[k] for k in keys})) for r in records]
        ax.set_yticks(y, [_plain(lbl) for lbl in labels])
        ax.invert_yaxis()
        for tick, w in zip(ax.get_yticklabels(), watched, strict=True):
            if w:
                tick.set_fontweight("bold")
                tick.set_color(WATCH_COLOR)
        peak = max([*base, *cur, 0.0]) or 0.01
        ax.set_xlim(0, peak * 1.1)
        notes = []
        for yi, b, c, r in zip(y, base, cur, records, strict=True):
            notes.append(
                ax.annotate(
                    _plain(_change_text(r)), (max(b, c), yi), xytext=(14, 0),
                    textcoords="offset points", va="center", fontsize=12, gid="change",
                    fontweight="bold" if r["change"] in ("new", "gone") else "normal",
                )
            )  # fmt: skip
        # Three significant digits: shares of a busy log's places are often below 1%.
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{100 * x:.3g}%"))
        ax.set_xlabel("share of the period's requests (%)")
        ax.set_ylabel(subject)
        handles = [
            Line2D([], [], marker="o", linestyle="", markerfacecolor="white",
                   markeredgecolor=BASELINE_EDGE, markersize=10, label="baseline share"),
            Line2D([], [], marker="o", linestyle="", color=BAR_COLOR, markersize=10,
                   label="current share"),
            Line2D([], [], marker="*", linestyle="", color=NEW_COLOR, markeredgecolor="black",
                   markersize=16, label="new (absent from the baseline)"),
            Line2D([], [], marker="X", linestyle="", color=GONE_COLOR, markeredgecolor="black",
                   markersize=12, label="gone (absent now)"),
        ]  # fmt: skip
        if any(watched):
            handles.append(
                Line2D([], [], marker="o", linestyle="", color=WATCH_COLOR, markersize=10,
                       label="watched (--watch)")
            )  # fmt: skip
        # Below the axes, in one row: beside them it took the room the labels need.
        ax.legend(
            handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.1),
            ncol=len(handles), frameon=False,
        )  # fmt: skip
        if not records:
            _say_empty(ax)
        else:
            fit_labels(fig, ax, notes)
    return fig


__all__ = [
    "BASELINE_EDGE",
    "GONE_COLOR",
    "NEW_COLOR",
    "compare_subtitle",
    "compare_title",
    "most_changed",
    "plot_compare",
]
