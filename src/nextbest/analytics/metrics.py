"""Model metrics as pure array functions: discrimination, calibration, drift, fairness.

Every function takes plain numpy arrays, so a score from LightGBM, a BG/NBD P(alive) or an
RFM recency score is measured the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score, roc_auc_score

Floats = npt.NDArray[np.float64]


def auc(y: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """Area under the ROC curve (NaN when only one class is present).

    >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, np.asarray(score, dtype=np.float64)))


def pr_auc(y: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """Average precision, the area under the precision-recall curve.

    >>> round(pr_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 4)
    0.8333
    """
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(average_precision_score(y, np.asarray(score, dtype=np.float64)))


def brier(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Mean squared error of a probability.

    >>> brier([0, 1], [0.2, 0.6])
    0.1
    """
    diff = np.asarray(p, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    return round(float(np.mean(diff * diff)), 12)


@dataclass(frozen=True, slots=True)
class Calibration:
    """Reliability table: per bin of predicted probability, mean prediction vs observed rate."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    predicted: tuple[float, ...]
    observed: tuple[float, ...]
    ece: float  # expected calibration error: count-weighted mean |predicted - observed|

    def to_dict(self) -> dict[str, Any]:
        return {
            "edges": list(self.edges),
            "counts": list(self.counts),
            "predicted": list(self.predicted),
            "observed": list(self.observed),
            "ece": self.ece,
        }


def calibration(y: npt.ArrayLike, p: npt.ArrayLike, *, bins: int = 10) -> Calibration:
    """Equal-width reliability bins over [0, 1].

    >>> c = calibration([0, 0, 1, 1], [0.1, 0.1, 0.9, 0.9], bins=2)
    >>> c.counts, c.observed, round(c.ece, 3)
    ((2, 2), (0.0, 1.0), 0.1)
    """
    y_arr = np.asarray(y, dtype=np.float64)
    p_arr = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.minimum(np.searchsorted(edges, p_arr, side="right") - 1, bins - 1)
    counts = np.bincount(which, minlength=bins)
    sum_p = np.bincount(which, weights=p_arr, minlength=bins)
    sum_y = np.bincount(which, weights=y_arr, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        pred = np.where(counts > 0, sum_p / np.maximum(counts, 1), np.nan)
        obs = np.where(counts > 0, sum_y / np.maximum(counts, 1), np.nan)
    filled = counts > 0
    ece = float(np.sum(np.abs(pred[filled] - obs[filled]) * counts[filled]) / max(len(p_arr), 1))
    return Calibration(
        edges=tuple(float(e) for e in edges),
        counts=tuple(int(c) for c in counts),
        predicted=tuple(round(float(v), 6) for v in pred),
        observed=tuple(round(float(v), 6) for v in obs),
        ece=round(ece, 6),
    )


def binary_report(y: npt.ArrayLike, score: npt.ArrayLike, *, probability: bool) -> dict[str, Any]:
    """AUC and PR-AUC for any score; Brier and calibration only for probabilities."""
    y_arr = np.asarray(y)
    report: dict[str, Any] = {
        "n": len(y_arr),
        "positive_rate": round(float(np.mean(y_arr)), 6) if len(y_arr) else None,
        "auc": round(auc(y_arr, score), 6),
        "pr_auc": round(pr_auc(y_arr, score), 6),
    }
    if probability:
        report["brier"] = round(brier(y_arr, score), 6)
        report["calibration"] = calibration(y_arr, score).to_dict()
        report["ece"] = report["calibration"]["ece"]
    return report


def histogram(values: npt.ArrayLike, edges: npt.ArrayLike) -> Floats:
    """Shares of ``values`` in the bins; the outer bins catch everything beyond the edges."""
    v = np.asarray(values, dtype=np.float64)
    e = np.asarray(edges, dtype=np.float64)
    which = np.clip(np.searchsorted(e, v, side="right") - 1, 0, len(e) - 2)
    counts = np.bincount(which, minlength=len(e) - 1).astype(np.float64)
    return counts / max(float(counts.sum()), 1.0)


def psi(expected: npt.ArrayLike, actual: npt.ArrayLike, *, floor: float = 1e-4) -> float:
    """Population stability index between two binned distributions (shares).

    Below 0.1 is usually read as stable, above 0.25 as a shift worth a look.

    >>> psi([0.5, 0.5], [0.5, 0.5])
    0.0
    >>> round(psi([0.5, 0.5], [0.9, 0.1]), 3)
    0.879
    """
    e = np.maximum(np.asarray(expected, dtype=np.float64), floor)
    a = np.maximum(np.asarray(actual, dtype=np.float64), floor)
    return round(float(np.sum((a - e) * np.log(a / e))), 6)


def group_report(
    groups: npt.ArrayLike,
    score: npt.ArrayLike,
    y: npt.ArrayLike | None = None,
    *,
    min_size: int = 30,
) -> dict[str, dict[str, Any]]:
    """Score distribution (and, with labels, AUC and calibration gap) per group.

    Groups smaller than ``min_size`` are pooled as ``(small groups)``.

    >>> r = group_report(["a", "a", "b"], [0.2, 0.4, 0.9], min_size=1)
    >>> r["a"]["mean_score"], r["b"]["n"]
    (0.3, 1)
    """
    g = np.asarray(groups, dtype=object)
    s = np.asarray(score, dtype=np.float64)
    labels = None if y is None else np.asarray(y, dtype=np.float64)
    names, counts = np.unique(g.astype(str), return_counts=True)
    small = set(names[counts < min_size])
    keyed = np.array(["(small groups)" if str(x) in small else str(x) for x in g], dtype=object)
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(keyed)):
        mask = keyed == name
        row: dict[str, Any] = {
            "n": int(mask.sum()),
            "mean_score": round(float(s[mask].mean()), 6),
            "p90_score": round(float(np.quantile(s[mask], 0.9)), 6),
        }
        if labels is not None:
            row["observed_rate"] = round(float(labels[mask].mean()), 6)
            row["calibration_gap"] = round(row["mean_score"] - row["observed_rate"], 6)
            row["auc"] = round(auc(labels[mask], s[mask]), 6)
        out[name] = row
    return out
