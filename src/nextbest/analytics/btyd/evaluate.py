"""Forecasts against what happened: holdout purchases and the cumulative tracking curve.

- ``holdout_check``: each customer's conditional expectation ``E[Y(t) | x, t_x, T]`` for
  the holdout, against their actual holdout purchases (total, per-customer MAE and
  correlation, and the cumulative total at checkpoints inside the holdout);
- ``tracking_curve``: cumulative repeat purchases of the whole cohort since the start, the
  unconditional ``sum_i E[X(d - first_i)]`` against the actual count (the figure of the
  BG/NBD paper), over calibration and holdout alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from nextbest.analytics.btyd.fit import CountModel, Floats, dot, finite_or_none
from nextbest.analytics.btyd.summary import Summary, cumulative_by_day


@dataclass(frozen=True)
class Checkpoint:
    """Cumulative repeat purchases, forecast and actual, ``units`` after a reference day."""

    units: float
    day: str
    forecast: float
    actual: int

    @property
    def relative_error(self) -> float | None:
        return None if self.actual == 0 else (self.forecast - self.actual) / self.actual


@dataclass(frozen=True)
class HoldoutCheck:
    """How well a count model forecast the holdout period."""

    model: str
    horizon: float
    customers: int
    forecast_total: float
    actual_total: int
    mae: float
    correlation: float
    checkpoints: tuple[Checkpoint, ...]

    @property
    def relative_error(self) -> float | None:
        if self.actual_total == 0:
            return None
        return (self.forecast_total - self.actual_total) / self.actual_total

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["correlation"] = finite_or_none(self.correlation)
        out["relative_error"] = self.relative_error
        out["checkpoints"] = [
            {**asdict(c), "relative_error": c.relative_error} for c in self.checkpoints
        ]
        return out


def _day(summary: Summary, offset_days: int) -> str:
    return str(summary.origin + np.timedelta64(offset_days, "D"))


def holdout_check(
    model: CountModel, summary: Summary, *, checkpoints: Sequence[float] | None = None
) -> HoldoutCheck:
    """Forecast the holdout from the calibration histories and compare with the actuals.

    ``checkpoints`` are times after the calibration end, in units (default: four even
    steps to the end of the holdout).

    >>> from nextbest.analytics.btyd import BGNBD, summarise
    >>> s = summarise(customer_ids=["a", "a", "a", "b"],
    ...               dates=["2024-01-01", "2024-01-10", "2024-02-02", "2024-01-03"],
    ...               calibration_end="2024-01-28", holdout_end="2024-02-25")
    >>> check = holdout_check(BGNBD(r=0.5, alpha=3.0, a=0.8, b=2.5), s, checkpoints=[1, 4])
    >>> check.actual_total, [c.actual for c in check.checkpoints], round(check.forecast_total, 3)
    (1, [1, 1], 0.748)
    """
    horizon = summary.holdout_length
    if horizon is None or summary.holdout_frequency is None:
        raise ValueError("the summary has no holdout period (holdout_end)")
    steps = list(checkpoints) if checkpoints else [horizon * k / 4 for k in (1, 2, 3, 4)]
    h = summary.histories()
    per_history = model.conditional_expected_purchases(horizon, x=h.x, t_x=h.t_x, T=h.T)
    forecast = h.expand(per_history)
    actual = summary.holdout_frequency.astype(np.float64)
    correlation = float(np.corrcoef(forecast, actual)[0, 1]) if actual.std() > 0 else float("nan")
    start = int((summary.calibration_end - summary.origin).astype(np.int64))
    marks = []
    for units in steps:
        days = min(
            int(np.floor(units * summary.unit_days + 1e-9)), int(horizon * summary.unit_days)
        )
        expected = model.conditional_expected_purchases(
            days / summary.unit_days, x=h.x, t_x=h.t_x, T=h.T
        )
        done = cumulative_by_day(summary.daily_repeats, [start + days])[0]
        before = cumulative_by_day(summary.daily_repeats, [start])[0]
        marks.append(
            Checkpoint(
                units=days / summary.unit_days,
                day=_day(summary, start + days),
                forecast=dot(h.weight, expected),
                actual=int(done - before),
            )
        )
    return HoldoutCheck(
        model=model.name,
        horizon=horizon,
        customers=summary.n_customers,
        forecast_total=float(forecast.sum()),
        actual_total=int(actual.sum()),
        mae=float(np.abs(forecast - actual).mean()),
        correlation=correlation,
        checkpoints=tuple(marks),
    )


def tracking_curve(
    model: CountModel, summary: Summary, *, at_units: Sequence[float]
) -> tuple[Checkpoint, ...]:
    """Cumulative repeat purchases since ``summary.origin``, forecast against actual.

    ``at_units`` are times since the origin (the earliest first purchase), in units; each
    checkpoint counts the days up to and including ``origin + units``. Customers are grouped
    by their first-purchase day, so the cost grows with cohorts, not customers.

    >>> from nextbest.analytics.btyd import BGNBD, summarise
    >>> s = summarise(customer_ids=["a", "a", "b"], calibration_end="2024-01-28",
    ...               dates=["2024-01-01", "2024-01-10", "2024-01-03"])
    >>> [(c.actual, round(c.forecast, 3)) for c in tracking_curve(
    ...     BGNBD(r=0.5, alpha=3.0, a=0.8, b=2.5), s, at_units=[1, 4])]
    [(0, 0.228), (1, 1.038)]
    """
    first = (summary.first_day - summary.origin).astype(np.int64)
    cohorts, counts = np.unique(first, return_counts=True)
    last_day = summary.daily_repeats.size - 1
    out = []
    for units in at_units:
        day = min(int(np.floor(units * summary.unit_days + 1e-9)) - 1, last_day)
        elapsed: Floats = np.clip(day - cohorts, 0, None) / summary.unit_days
        expected = model.expected_purchases(elapsed)
        actual = int(cumulative_by_day(summary.daily_repeats, [day])[0]) if day >= 0 else 0
        out.append(
            Checkpoint(
                units=float(units),
                day=_day(summary, day),
                forecast=dot(counts.astype(np.float64), expected),
                actual=actual,
            )
        )
    return tuple(out)
