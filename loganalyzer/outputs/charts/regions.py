"""The regions chart: horizontal bars of requests per place, watched places highlighted.

Each bar is split into access with no anonymizer known and anonymized access when
the rows carry anonymizer verdicts. The ASN chart (:mod:`~loganalyzer.outputs.charts.asn`)
draws the same bars per network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loganalyzer import schema as S
from loganalyzer.analysis.aggregate import top as keep_top
from loganalyzer.outputs.charts.labels import (
    _BUCKETS,
    ANONYMIZED,
    CATEGORY_WORDS,
    _group_title,
    fit_labels,
    lead_sentence,
    place_label,
    subtitle,
)
from loganalyzer.outputs.charts.style import (
    ANON_COLOR,
    BAR_COLOR,
    BUCKET_COLOR,
    MAX_BARS,
    OKABE_ITO,
    WATCH_ANON_COLOR,
    WATCH_COLOR,
    _new_figure,
    _plain,
    _require_matplotlib,
    _say_empty,
    _short,
    _style,
    _thousands,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from loganalyzer.analysis.pipeline import Analysis


CATEGORY_COLORS = {
    "tor_exit": OKABE_ITO["purple"],
    "privacy_relay": OKABE_ITO["green"],
    "vpn": OKABE_ITO["sky_blue"],
    "public_proxy": OKABE_ITO["yellow"],
    "residential_proxy": OKABE_ITO["orange"],
    "hosting": "#8C8C8C",
}
"""One colour per anonymizer category (Okabe-Ito; none is the watched vermillion)."""

NO_ANONYMIZER_KNOWN = "no anonymizer known"
"""Requests from addresses no loaded source lists: not proof of a direct user."""


def plot_regions(
    analysis: Analysis,
    *,
    top: int | None = 15,
    title: str | None = None,
) -> Figure:
    """Horizontal bars of requests per place (or network), watched places highlighted.

    When the rows carry ``requests_anonymized`` each bar is split into no-anonymizer-known
    and anonymized access; otherwise a bar is all access and the legend says so.

    Args:
        analysis: an :class:`~loganalyzer.analysis.pipeline.Analysis` grouped by region,
            country, city or asn; run it with ``watch=`` to mark watched places.
        top: bars for the first N rows; watched rows are always drawn.
        title: replaces the generated title.

    Returns:
        The figure (1600x900 at 100 dpi). Its axes hold one bar container per
        series, labelled ``no anonymizer known`` then one per anonymizer
        category present (``VPN``, ``Tor``...), or ``requests`` without sources.
    """
    _require_matplotlib()
    rows = keep_top(analysis.rows, top).head(MAX_BARS)
    records = rows.to_dicts()
    total = int(analysis.meta.get("lines", {}).get("matched") or 0)
    split = ANONYMIZED in rows.columns
    with _style():
        subject = _group_title(analysis.meta)
        every = int(analysis.meta.get("rows_total") or 0)
        shown = f"top {len(records)} of {every:,}" if every > len(records) else "all"
        fig, ax = _new_figure(
            title or _regions_title(analysis, records, total, subject),
            subtitle(analysis.meta, extra=f"{total:,} requests in all; {subject}: {shown}"),
        )
        labels = [_short(place_label(r)) for r in records]
        watched = [bool(r.get(S.WATCHED)) for r in records]
        by_asn = S.ASN in rows.columns
        bucket = [
            r.get(S.GEO_STATUS) in _BUCKETS or (by_asn and r.get(S.ASN) is None) for r in records
        ]
        requests = [int(r[S.REQUESTS] or 0) for r in records]
        y = list(range(len(records)))
        colors = [
            WATCH_COLOR if w else BUCKET_COLOR if b else BAR_COLOR
            for w, b in zip(watched, bucket, strict=True)
        ]
        if split:
            anon = [int(r.get(ANONYMIZED) or 0) for r in records]
            direct = [n - a for n, a in zip(requests, anon, strict=True)]
            # "Direct" would claim more than the sources know: none of them lists these.
            ax.barh(y, direct, color=colors, label=NO_ANONYMIZER_KNOWN)
            left = list(direct)
            cats = [
                (cat, [int(r.get(col) or 0) for r in records])
                for cat, col in S.CATEGORY_REQUESTS.items()
                if col in rows.columns and any(r.get(col) for r in records)
            ]
            for cat, counts in cats:
                # One segment per category, so VPN, Tor, relay and hosting read apart.
                ax.barh(
                    y, counts, left=left, color=CATEGORY_COLORS[cat], hatch="//",
                    label=CATEGORY_WORDS[cat],
                )  # fmt: skip
                left = [a + b for a, b in zip(left, counts, strict=True)]
            rest = [n - lf for n, lf in zip(requests, left, strict=True)]
            if any(rest) or not cats:
                # Anonymized without a category column (older rows): one plain segment.
                anon_colors = [WATCH_ANON_COLOR if w else ANON_COLOR for w in watched]
                ax.barh(y, rest, left=left, color=anon_colors, hatch="//", label="anonymized")
        else:
            ax.barh(y, requests, color=colors, label="requests")
        ax.set_yticks(y, [_plain(lbl) for lbl in labels])
        ax.invert_yaxis()
        ax.set_xlabel("requests (count)")
        ax.set_ylabel(subject)
        _thousands(ax.xaxis)
        peak = max(requests, default=0) or 1
        ax.set_xlim(0, peak * 1.05)
        notes = []
        anon_counts = [int(r.get(ANONYMIZED) or 0) for r in records] if split else []
        for i, (yi, n) in enumerate(zip(y, requests, strict=True)):
            pct = 100 * n / total if total else 0.0
            # "0.0%" beside a bar of 148 requests reads as none.
            share = (f" ({pct:.1f}%)" if pct >= 0.05 or not n else " (<0.1%)") if total else ""
            text = f"{n:,}{share}" if n else "no access"
            if split and anon_counts[i]:
                # Only where a source listed some: "0 through anonymizers" on every bar is noise.
                by_cat = [
                    f"{int(records[i].get(col) or 0):,} through {CATEGORY_WORDS[cat]}"
                    for cat, col in S.CATEGORY_REQUESTS.items()
                    if records[i].get(col)
                ]
                text += ", " + (", ".join(by_cat) or f"{anon_counts[i]:,} through anonymizers")
            notes.append(
                ax.annotate(
                    text, (n, yi), xytext=(5, 0), textcoords="offset points", va="center",
                    fontsize=12,
                )
            )  # fmt: skip
        for tick, w in zip(ax.get_yticklabels(), watched, strict=True):
            if w:
                tick.set_fontweight("bold")
                tick.set_color(WATCH_COLOR)
        _legend(
            ax, split=split, any_watched=any(watched), any_bucket=any(bucket),
            categories=[c for c, col in S.CATEGORY_REQUESTS.items()
                        if split and any(r.get(col) for r in records)],
        )  # fmt: skip
        if not records:
            _say_empty(ax)
        else:
            # Each count (with its anonymizer split) ends inside the axes, however long.
            fit_labels(fig, ax, notes)
    return fig


def _regions_title(
    analysis: Analysis, records: list[dict[str, Any]], total: int, subject: str
) -> str:
    """The leading place's numbers; the generic heading only when nothing was counted."""
    counted = [r for r in records if int(r.get(S.REQUESTS) or 0)]
    if not counted:
        return f"No requests by {subject} in the selected logs and time range"
    places = int(analysis.meta.get("rows_total") or len(counted))
    return lead_sentence(counted[0], total, places=places)


def _legend(
    ax: Axes, *, split: bool, any_watched: bool, any_bucket: bool, categories: list[str]
) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(color=BAR_COLOR, label=NO_ANONYMIZER_KNOWN if split else "all access")]
    for cat in categories:
        handles.append(
            Patch(facecolor=CATEGORY_COLORS[cat], hatch="//", label=f"{CATEGORY_WORDS[cat]} exit")
        )
    if split and not categories:
        handles.append(Patch(facecolor=ANON_COLOR, hatch="//", label="through anonymizers"))
    if not split:
        handles[0].set_label("all access (no anonymizer verdicts in this analysis)")
    if any_watched:
        handles.append(Patch(color=WATCH_COLOR, label="watched (--watch)"))
    if any_bucket:
        handles.append(Patch(color=BUCKET_COLOR, label="no location or network data"))
    ax.legend(handles=handles, loc="lower right", frameon=False)


__all__ = [
    "plot_regions",
]
