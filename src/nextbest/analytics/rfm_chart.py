"""Heat maps of RFM results: the R by F (or FM) grid, and a segment migration matrix.

Draws on a bare :class:`~matplotlib.figure.Figure` with the Agg canvas: no pyplot, so no
global state, no display and no GUI backend, safe in a worker thread or a test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nextbest.analytics.rfm import Floats, Migration, RfmResult

FORMATS = {".png": "png", ".svg": "svg"}


def rfm_grid(result: RfmResult, *, value: Literal["count", "monetary"] = "count") -> Floats:
    """Members (or their mean monetary) by cell, indexed ``[y - 1, r - 1]``; purchasers only.

    >>> from nextbest.analytics.rfm import RfmConfig, score_rfm
    >>> res = score_rfm(recency_days=[1, 90, np.nan], frequency=[5, 1, 0],
    ...                 monetary=[9.0, 3.0, np.nan], config=RfmConfig(k=2))
    >>> rfm_grid(res).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    k = result.config.k
    scored = result.r > 0
    cell = (result.y[scored] - 1) * k + (result.r[scored] - 1)
    counts = np.bincount(cell, minlength=k * k).astype(np.float64)
    if value == "count":
        return counts.reshape(k, k)
    sums = np.bincount(cell, weights=result.monetary[scored], minlength=k * k)
    means = np.full(k * k, np.nan)
    np.divide(sums, counts, out=means, where=counts > 0)
    return means.reshape(k, k)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: chart format from the suffix must be .png or .svg")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format=fmt, dpi=120)
    return path


def _annotate(ax: Axes, grid: Floats, labels: list[list[str]], *, top: float | None = None) -> None:
    """Write each cell's label, white on the darker cells (above 60% of ``top``)."""
    if top is None:
        top = float(np.nanmax(grid)) if np.isfinite(grid).any() else 0.0
    for (row, col), text in np.ndenumerate(np.asarray(labels, dtype=object)):
        dark = bool(np.isfinite(grid[row, col]) and grid[row, col] > 0.6 * top)
        color = "white" if dark else "black"
        ax.text(col, row, text, ha="center", va="center", fontsize=7, color=color)


def write_rfm_heatmap(
    result: RfmResult, path: str | Path, *, value: Literal["count", "monetary"] = "count"
) -> Path:
    """R score (x) by F or FM score (y), coloured by members or mean monetary; PNG or SVG.

    Each cell is annotated with its member count and its named segment.

    >>> import tempfile
    >>> from nextbest.analytics.rfm import score_rfm
    >>> res = score_rfm(recency_days=[1, 5, 30, 90], frequency=[9, 4, 2, 1],
    ...                 monetary=[12.0, 8.0, 5.0, 3.0])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = write_rfm_heatmap(res, Path(tmp) / "rfm.png")
    ...     out.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    cfg = result.config
    k = cfg.k
    counts = rfm_grid(result)
    grid = counts if value == "count" else rfm_grid(result, value="monetary")
    labels = [
        [f"{int(counts[y, r]):,}\n{cfg.segment_for(r + 1, y + 1)}" for r in range(k)]
        for y in range(k)
    ]
    fig = Figure(figsize=(1.6 * k + 2, 1.3 * k + 1.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    image = ax.imshow(grid, origin="lower", cmap="YlGnBu", aspect="auto")
    fig.colorbar(image, ax=ax, label="members" if value == "count" else "mean monetary")
    _annotate(ax, grid, labels)
    ticks = list(range(k))
    ax.set_xticks(ticks, [str(t + 1) for t in ticks])
    ax.set_yticks(ticks, [str(t + 1) for t in ticks])
    ax.set_xlabel("R score (recent is high)")
    ax.set_ylabel(f"{cfg.axis_name} score" + (" (mean of F and M)" if cfg.axis == "fm" else ""))
    unscored = int((result.r == 0).sum())
    ax.set_title(f"RFM grid: {len(result) - unscored:,} members scored, {unscored:,} no purchase")
    return _save(fig, path)


def write_migration_heatmap(migration: Migration, path: str | Path) -> Path:
    """Row shares of a migration matrix (from segment at A, to segment at B), with counts.

    >>> import tempfile
    >>> from nextbest.analytics.rfm import migrate
    >>> mig = migrate(ids_a=["a", "b"], segments_a=["new", "lost"],
    ...               ids_b=["a", "c"], segments_b=["loyal", "new"])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write_migration_heatmap(mig, Path(tmp) / "migration.png").stat().st_size > 0
    True
    """
    shares = migration.shares
    rows, cols = len(migration.rows), len(migration.cols)
    labels = [
        [
            f"{migration.counts[i, j]:,}\n{shares[i, j]:.0%}" if migration.counts[i, j] else ""
            for j in range(cols)
        ]
        for i in range(rows)
    ]
    fig = Figure(figsize=(1.1 * cols + 3, 0.6 * rows + 2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    image = ax.imshow(shares, cmap="Purples", vmin=0, vmax=1, aspect="auto")
    fig.colorbar(image, ax=ax, label="share of the row")
    _annotate(ax, shares, labels, top=1.0)
    ax.set_xticks(range(cols), migration.cols, rotation=45, ha="right")
    ax.set_yticks(range(rows), migration.rows)
    ax.set_xlabel("segment at date B")
    ax.set_ylabel("segment at date A")
    ax.set_title(f"Segment migration: {int(migration.counts.sum()):,} members")
    return _save(fig, path)
