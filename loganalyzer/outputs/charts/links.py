"""The linked-access swimlanes: one lane per address, grouped by cluster, time across.

Each hour an address sent requests is a mark in its lane, coloured by whether a
source lists the address as an anonymizer (the exit's place, not the user's) or
no anonymizer is known; lanes of watched places are outlined and labelled. A
VPN session ending minutes before a direct one begins shows as marks that hand
over from one lane to the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from loganalyzer import schema as S
from loganalyzer.analysis.link_summary import is_anonymized
from loganalyzer.outputs.charts.labels import _watch_codes, _watch_match, subtitle
from loganalyzer.outputs.charts.style import (
    ANON_COLOR,
    BAR_COLOR,
    BUCKET_COLOR,
    WATCH_COLOR,
    _new_figure,
    _plain,
    _require_matplotlib,
    _say_empty,
    _short,
    _style,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from loganalyzer.analysis.links import Links

MAX_LANES = 40
"""More addresses than this do not fit a slide: the later clusters are left out, and said."""

_VERDICT_WORDS = {
    "tor_exit": "Tor",
    "privacy_relay": "relay",
    "vpn": "VPN",
    "public_proxy": "proxy",
    "residential_proxy": "res. proxy",
    "hosting": "hosting",
    S.NONE_KNOWN: "none known",
}


def _lanes(found: Links, watch: Sequence[str]) -> tuple[list[dict[str, Any]], int]:
    """The lanes to draw, top to bottom, and how many clusters were left out."""
    codes = _watch_codes(watch)
    lanes: list[dict[str, Any]] = []
    left_out = 0
    for cluster in found.clusters:
        if lanes and len(lanes) + cluster.clients.height > MAX_LANES:
            left_out += 1
            continue
        for row in cluster.clients.iter_rows(named=True):
            lanes.append(
                {
                    **row,
                    "cluster": cluster.id,
                    "watched": any(_watch_match(row, code) for code in codes),
                }
            )
    return lanes, left_out


def _label(lane: dict[str, Any]) -> str:
    verdict = lane.get(S.ANONYMIZER)
    words = _VERDICT_WORDS.get(verdict, "not checked") if verdict else "not checked"
    place = lane.get(S.REGION_ISO) or lane.get(S.COUNTRY_ISO) or "?"
    text = f"#{lane['cluster']}  {lane['ip']} · {words} · {place}"
    return _plain(_short(text, 56)) + (" [watched]" if lane["watched"] else "")


def _links_title(found: Links) -> str:
    """The finding: how many clusters tie how many anonymized and unlisted addresses."""
    if not found.clusters:
        return "Linked access: no cluster of addresses shares rare traces"
    verdicts = [v for c in found.clusters for v in c.clients[S.ANONYMIZER].to_list()]
    anonymized = sum(map(is_anonymized, verdicts))
    n = len(found.clusters)
    return (
        f"Linked access: {n} cluster{'s' if n != 1 else ''} tie {anonymized} anonymized "
        f"address{'es' if anonymized != 1 else ''} to {len(verdicts) - anonymized} with no "
        "anonymizer known"
    )


def plot_links(found: Links, *, watch: Sequence[str] = (), title: str | None = None) -> Figure:
    """Swimlanes of linked addresses: time across, one lane per address, grouped by cluster.

    Args:
        found: from :func:`loganalyzer.analysis.links.find_links` with
            ``activity=True`` (each address's requests per hour); without it,
            each lane is one bar from the first to the last request.
        watch: country or province codes whose addresses' lanes are marked.
        title: replaces the generated title.

    Returns:
        The figure: up to :data:`MAX_LANES` lanes; clusters left out are counted
        in the footnote.
    """
    _require_matplotlib()
    from matplotlib.patches import Patch

    lanes, left_out = _lanes(found, watch)
    hours = found.activity
    note = (
        "A cluster is shared rare evidence for a person to judge, never an identity; shared "
        "agents and carrier-grade NAT make false links. The place of an anonymized address "
        "is its exit's."
    )
    if left_out:
        note = f"{left_out} more cluster{'s' if left_out != 1 else ''} not drawn. " + note
    with _style():
        fig, ax = _new_figure(
            title or _links_title(found),
            subtitle(found.meta, extra=f"{len(found.clusters)} clusters"),
            footnote=note,
        )
        if not lanes:
            _say_empty(ax, "No cluster of linked addresses to draw.")
            ax.set_xticks([])
            ax.set_yticks([])
            return fig
        one_hour = timedelta(hours=1)
        for y, lane in enumerate(lanes):
            verdict = lane.get(S.ANONYMIZER)
            color = (
                ANON_COLOR
                if is_anonymized(verdict)
                else BAR_COLOR
                if verdict == S.NONE_KNOWN
                else BUCKET_COLOR
            )
            edge = WATCH_COLOR if lane["watched"] else color
            if hours is not None:
                mine = hours.filter(pl.col("ip") == lane["ip"])["hour"].to_list()
                spans = [(h, one_hour) for h in mine]
            else:
                first, last = lane[S.FIRST_SEEN], lane[S.LAST_SEEN]
                spans = [(first, max(last - first, one_hour))]
            ax.hlines(y, lane[S.FIRST_SEEN], lane[S.LAST_SEEN], color="#BBBBBB", linewidth=1)
            ax.broken_barh(
                spans,  # type: ignore[arg-type]
                (y - 0.35, 0.7),
                facecolors=color,
                edgecolors=edge,
                linewidth=1.5 if lane["watched"] else 0.5,
            )
        ax.set_yticks(range(len(lanes)))
        ax.set_yticklabels([_label(lane) for lane in lanes], fontsize=11)
        for tick, lane in zip(ax.get_yticklabels(), lanes, strict=True):
            if lane["watched"]:
                tick.set_color(WATCH_COLOR)
                tick.set_fontweight("bold")
        ax.set_ylim(len(lanes) - 0.5, -0.5)
        for y in range(1, len(lanes)):
            if lanes[y]["cluster"] != lanes[y - 1]["cluster"]:
                ax.axhline(y - 0.5, color="#444444", linewidth=0.8, linestyle="--")
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

        locator = AutoDateLocator()  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        ax.set_xlabel("time (UTC); each mark is an hour with requests")
        ax.set_ylabel("address (cluster, verdict, place)")
        handles = [
            Patch(facecolor=ANON_COLOR, label="anonymized (VPN, Tor, proxy or hosting exit)"),
            Patch(facecolor=BAR_COLOR, label="no anonymizer known"),
        ]
        if any(lane.get(S.ANONYMIZER) is None for lane in lanes):
            handles.append(Patch(facecolor=BUCKET_COLOR, label="not checked (no sources)"))
        if any(lane["watched"] for lane in lanes):
            handles.append(
                Patch(facecolor="white", edgecolor=WATCH_COLOR, linewidth=1.5, label="watched")
            )
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig


__all__ = ["MAX_LANES", "plot_links"]
