"""A picture of the liability: points by expiry month and tier, and the redemption curve.

Draws on a bare :class:`~matplotlib.figure.Figure` with the Agg canvas: no pyplot, so no
global state, no display and no GUI backend, safe in a worker thread or a test.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nextbest.ledger.breakage import BreakageModel
from nextbest.ledger.liability import LiabilityReport

FORMATS = {".png": "png", ".svg": "svg"}


def _draw_expiry(report: LiabilityReport, ax: Axes) -> None:
    cells = report.points_by_expiry_month_and_tier
    months = [line.key for line in report.by_expiry_month]
    tiers = [line.key for line in report.by_tier]
    if not cells:
        ax.text(0.5, 0.5, "no outstanding points", ha="center", va="center")
        ax.set_axis_off()
        return
    points = {(month, tier): p for month, tier, p in cells}
    base = [0] * len(months)
    for tier in tiers:
        heights = [points.get((month, tier), 0) for month in months]
        ax.bar(months, heights, bottom=base, label=tier)
        base = [b + h for b, h in zip(base, heights, strict=True)]
    ax.set_title(f"Outstanding points by expiry month, as of {report.as_of:%Y-%m-%d}")
    ax.set_xlabel("expiry month")
    ax.set_ylabel("points")
    ax.tick_params(axis="x", labelrotation=60)
    ax.legend(title="tier")


def _draw_curve(model: BreakageModel, ax: Axes) -> None:
    curve = model.cumulative_redemption()
    ages = list(range(len(curve)))
    split = min(model.pooled_from, model.max_age_months)
    ax.plot(ages[: split + 1], curve[: split + 1], marker="o", label="fitted")
    if split < model.max_age_months:
        ax.plot(ages[split:], curve[split:], linestyle="--", label="pooled tail")
    ax.set_ylim(0, 1)
    ax.set_title(f"Cumulative redemption by lot age ({model.version})")
    ax.set_xlabel("lot age (months)")
    ax.set_ylabel("share of points redeemed")
    ax.legend()


def write_liability_chart(
    report: LiabilityReport, path: str | Path, *, model: BreakageModel | None = None
) -> Path:
    """Write the chart to ``path``, PNG or SVG by its suffix; returns the path.

    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from nextbest.ledger.flows import LotFlow
    >>> from nextbest.ledger.liability import liability_report
    >>> lots = [LotFlow("l1", "m1", "gold", datetime(2026, 1, 5, tzinfo=UTC), None, 100)]
    >>> report = liability_report(lots, as_of=datetime(2026, 6, 30, tzinfo=UTC),
    ...                           cost_per_point=0.01, model=None)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = write_liability_chart(report, Path(tmp) / "liability.svg")
    ...     out.stat().st_size > 0
    True
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: chart format from the suffix must be .png or .svg")
    panels = 2 if model is not None else 1
    fig = Figure(figsize=(7 * panels, 5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    _draw_expiry(report, axes[0])
    if model is not None:
        _draw_curve(model, axes[1])
    # no timestamp in the SVG, so the same report gives the same file
    metadata = {"Date": None} if fmt == "svg" else None
    fig.savefig(path, format=fmt, metadata=metadata)
    return path
