"""Charts for the HTML report: Matplotlib (Agg) drawn to inline SVG text, no files, no network.

SVG metadata is switched off (it would carry links to RDF vocabularies) and the hash salt
is fixed, so the same report draws the same bytes.
"""

from __future__ import annotations

import io
from collections import defaultdict
from contextlib import AbstractContextManager

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from nextbest.audit.model import OVERALL, AuditReport

NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}


def _style() -> AbstractContextManager[None]:
    return plt.rc_context(
        {"svg.fonttype": "none", "svg.hashsalt": "nextbest-audit", "font.size": 9}
    )


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata=NO_METADATA)
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and DOCTYPE (a URL)


def completeness_heatmap(report: AuditReport) -> str:
    """Completeness per field and source; blank where no event of the field's types came."""
    sources = report.source_names()
    fields = [f.field for f in report.field_rows()]
    cells = {(f.field, f.source): f.completeness for f in report.fields}
    grid = [[cells.get((field, s)) for s in sources] for field in fields]
    values = [[float("nan") if v is None else v for v in row] for row in grid]
    with _style():
        fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(sources), 0.8 + 0.32 * len(fields)))
        # A mesh of vector cells (imshow would embed a bitmap).
        ax.pcolormesh(values, cmap="RdYlGn", vmin=0, vmax=1, edgecolors="white")
        ax.invert_yaxis()
        ax.set_xticks([x + 0.5 for x in range(len(sources))], sources, rotation=30, ha="right")
        ax.set_yticks([y + 0.5 for y in range(len(fields))], fields)
        for y, row in enumerate(grid):
            for x, value in enumerate(row):
                if value is not None:
                    ax.text(x + 0.5, y + 0.5, f"{value:.0%}", ha="center", va="center", fontsize=7)
        ax.set_title("Completeness by field and source (share of events with the field)")
        return _svg(fig)


def unattributed_spend(report: AuditReport) -> str:
    rows = [s for s in report.sources if s.source != OVERALL and s.spend]
    with _style():
        fig, ax = plt.subplots(figsize=(7, 0.6 + 0.45 * max(len(rows), 1)))
        names = [s.source for s in rows]
        tied = [s.spend - s.unattributed_spend for s in rows]
        loose = [s.unattributed_spend for s in rows]
        ax.barh(names, tied, color="#4c9a6a", label="tied to a member")
        ax.barh(names, loose, left=tied, color="#d9534f", label="no member")
        for y, s in enumerate(rows):
            share = s.unattributed_spend_share or 0
            ax.text(s.spend, y, f" {share:.1%}", va="center", fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("purchase spend")
        ax.set_title("Purchase spend not tied to any member, by source")
        ax.legend(loc="lower right", frameon=False)
        return _svg(fig)


def daily_events(report: AuditReport) -> str:
    """Events per day and source: gaps and the last day of each source show at a glance."""
    series: dict[str, dict[str, int]] = defaultdict(dict)
    for day, source, count in report.daily:
        series[source][day] = count
    days = sorted({day for day, _, _ in report.daily})
    with _style():
        fig, ax = plt.subplots(figsize=(9, 3.2))
        for source in report.source_names():
            points = series.get(source, {})
            ax.plot(range(len(days)), [points.get(d, 0) for d in days], lw=0.8, label=source)
        if days:
            ticks = list(range(0, len(days), max(1, len(days) // 8)))
            ax.set_xticks(ticks, [days[i] for i in ticks], rotation=30, ha="right")
        ax.set_yscale("symlog")
        ax.set_ylabel("events per day")
        ax.set_title("Freshness: events per day by source (days with events)")
        ax.legend(ncols=4, fontsize=7, frameon=False)
        return _svg(fig)


def identity_coverage(report: AuditReport) -> str:
    identity = report.identity
    kinds = list(identity.with_kind)
    shares = [identity.kind_share(k) or 0 for k in kinds]
    with _style():
        fig, ax = plt.subplots(figsize=(6, 0.6 + 0.4 * max(len(kinds), 1)))
        ax.barh(kinds, shares, color="#5b7db1")
        for y, value in enumerate(shares):
            ax.text(value, y, f" {value:.1%}", va="center", fontsize=8)
        ax.set_xlim(0, 1.1)
        ax.invert_yaxis()
        ax.set_title(f"Members holding each identifier kind (of {identity.members:,})")
        return _svg(fig)
