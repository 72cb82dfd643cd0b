"""The maturity chart: net incremental profit by policy (with seed intervals) and contacts.

Draws on a bare :class:`~matplotlib.figure.Figure` with the Agg canvas (no pyplot, no global
state), as ``analytics.rfm_chart`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

FORMATS = {".png": "png", ".svg": "svg"}


def maturity_figure(figures: dict[str, Any]) -> Figure:
    """Two panels: net incremental profit (mean and interval) and contacts, per policy."""
    rows = [p for p in figures["policies"] if p["policy"] != "none"]
    labels = [p["label"] for p in rows]
    fig = Figure(figsize=(10, 4.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    x = np.arange(len(rows))
    for ax, metric, title in (
        (left, "net_incremental_profit", "net incremental profit (USD)"),
        (right, "contacts", "contacts sent"),
    ):
        m = [p["metrics"][metric] for p in rows]
        mean = np.array([v["mean"] for v in m])
        err = np.array([[v["mean"] - v["low"] for v in m], [v["high"] - v["mean"] for v in m]])
        ax.bar(x, mean, yerr=err, capsize=4, color="#4c72b0")
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
        ax.set_title(title)
    seeds = len(figures["seeds"])
    fig.suptitle(
        f"maturity model: {figures['members']:,} members, {figures['days']} days, "
        f"{seeds} seed{'s' if seeds != 1 else ''} (95% intervals)"
    )
    return fig


def write_chart(figures: dict[str, Any], path: str | Path) -> Path:
    """Write the chart as PNG or SVG (by the file's suffix)."""
    out = Path(path)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ValueError(f"chart {out}: suffix must be one of {', '.join(FORMATS)}")
    fig = maturity_figure(figures)
    FigureCanvasAgg(fig)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format=fmt)
    return out
