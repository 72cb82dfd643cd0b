"""Off-policy evaluation: what an evaluation policy would have earned, from a logged policy's data.

Each row ``i`` of logged bandit feedback holds the reward ``r_i`` of the logged action ``a_i``,
its logging propensity ``p_i = pi_0(a_i | x_i)`` and, for the policy under evaluation ``pi``,
either ``pi(a_i | x_i)`` alone (IPS, SNIPS) or its whole action distribution ``pi(. | x_i)``
together with a reward model ``q(x_i, a)`` for every action (DM, DR):

- **IPS** (inverse propensity scoring, also called IPW): ``mean(w_i r_i)`` with the importance
  weight ``w_i = pi(a_i | x_i) / p_i``; unbiased when every action ``pi`` can take has ``p > 0``.
- **SNIPS** (self-normalised IPS): ``sum(w_i r_i) / sum(w_i)``; slightly biased, lower variance,
  and invariant to rescaling the weights.
- **DM** (direct method): ``mean(sum_a pi(a | x_i) q(x_i, a))``; as good as the reward model.
- **DR** (doubly robust): DM plus the IPS-weighted residual ``w_i (r_i - q(x_i, a_i))``;
  unbiased when either the propensities or the reward model are right.

Intervals are **normal intervals from the per-row terms** (the estimate is a mean of i.i.d.
terms, so its standard error is their standard deviation over ``sqrt(n)``); SNIPS, a ratio of
means, uses its delta-method linearisation ``w_i (r_i - V) / mean(w)``. The DM and DR intervals
treat the reward model as fixed: they do not include the error of fitting it.

All inputs are validated once at the public functions; the maths is plain numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

Array = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]
EstimatorName = Literal["ips", "snips", "dm", "dr"]
ESTIMATORS: tuple[EstimatorName, ...] = ("ips", "snips", "dm", "dr")
_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Estimate:
    """A policy value with its normal confidence interval at ``level``."""

    estimator: EstimatorName
    value: float
    std_error: float
    low: float
    high: float
    level: float
    n: int

    def covers(self, truth: float) -> bool:
        """Whether ``truth`` lies inside the interval (ends included)."""
        return self.low <= truth <= self.high


def ips(*, reward: Array, pscore: Array, target: Array, level: float = 0.95) -> Estimate:
    """Inverse propensity scoring: the mean of ``target / pscore * reward``.

    ``target`` is the evaluation policy's probability of each logged action. When the
    evaluation policy is the logging policy every weight is 1 and IPS is the sample mean:

    >>> e = ips(reward=[1.0, 0.0, 1.0, 0.0], pscore=[0.5] * 4, target=[0.5] * 4)
    >>> e.value, e.n
    (0.5, 4)
    >>> ips(reward=[1.0, 0.0], pscore=[0.25, 0.5], target=[0.5, 0.5]).value
    1.0
    """
    r, p, t = _logged(reward, pscore, target)
    return _from_terms("ips", t / p * r, level)


def snips(*, reward: Array, pscore: Array, target: Array, level: float = 0.95) -> Estimate:
    """Self-normalised IPS: ``sum(w * reward) / sum(w)`` with ``w = target / pscore``.

    >>> snips(reward=[1.0, 0.0], pscore=[0.25, 0.5], target=[0.5, 0.5]).value
    0.6666666666666666
    """
    r, p, t = _logged(reward, pscore, target)
    w = t / p
    total = float(w.sum())
    if total <= 0.0:
        raise ValueError("snips: the evaluation policy gives every logged action probability 0")
    value = float((w * r).sum()) / total
    influence = w * (r - value) / (total / w.size)
    return _interval("snips", value, influence, level)


def direct_method(*, action_dist: Array, q: Array, level: float = 0.95) -> Estimate:
    """Direct method: the mean over rows of ``sum_a action_dist[i, a] * q[i, a]``.

    >>> direct_method(action_dist=[[0.5, 0.5], [1.0, 0.0]], q=[[0.2, 0.4], [0.1, 0.9]]).value
    0.2
    """
    dist, model = _distributions(action_dist, q)
    return _from_terms("dm", (dist * model).sum(axis=1), level)


def doubly_robust(
    *,
    reward: Array,
    pscore: Array,
    action: Array,
    action_dist: Array,
    q: Array,
    level: float = 0.95,
) -> Estimate:
    """Doubly robust: the direct method corrected by the IPS-weighted residual of the model.

    ``action`` holds the index (column of ``action_dist`` and ``q``) of each logged action.
    With a reward model that predicts every logged reward exactly, DR equals DM:

    >>> dist = [[0.5, 0.5], [0.5, 0.5]]
    >>> doubly_robust(
    ...     reward=[1.0, 0.0], pscore=[0.5, 0.5], action=[0, 1], action_dist=dist,
    ...     q=[[1.0, 0.0], [1.0, 0.0]],
    ... ).value
    0.5
    """
    r, p, a, dist, model = _full(reward, pscore, action, action_dist, q)
    rows = np.arange(a.size)
    terms = (dist * model).sum(axis=1) + dist[rows, a] / p * (r - model[rows, a])
    return _from_terms("dr", terms, level)


def estimate_all(
    *,
    reward: Array,
    pscore: Array,
    action: Array,
    action_dist: Array,
    q: Array,
    level: float = 0.95,
) -> dict[EstimatorName, Estimate]:
    """IPS, SNIPS, DM and DR on the same logged rows, keyed by estimator name."""
    r, p, a, dist, model = _full(reward, pscore, action, action_dist, q)
    target = dist[np.arange(a.size), a]
    return {
        "ips": ips(reward=r, pscore=p, target=target, level=level),
        "snips": snips(reward=r, pscore=p, target=target, level=level),
        "dm": direct_method(action_dist=dist, q=model, level=level),
        "dr": doubly_robust(reward=r, pscore=p, action=a, action_dist=dist, q=model, level=level),
    }


def _from_terms(name: EstimatorName, terms: FloatArray, level: float) -> Estimate:
    value = float(terms.mean())
    return _interval(name, value, terms - value, level)


def _interval(name: EstimatorName, value: float, centred: FloatArray, level: float) -> Estimate:
    """A normal interval from mean-zero per-row terms (influence values)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"{name}: level must be in (0, 1), got {level}")
    n = int(centred.size)
    se = float(np.sqrt((centred**2).sum() / (n - 1) / n)) if n > 1 else float("inf")
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    return Estimate(name, value, se, value - z * se, value + z * se, level, n)


def _logged(reward: Array, pscore: Array, target: Array) -> tuple[FloatArray, ...]:
    r = _vector("reward", reward)
    p = _vector("pscore", pscore)
    t = _vector("target", target)
    if not r.size == p.size == t.size:
        raise ValueError(
            f"reward, pscore and target differ in length: {r.size}, {p.size}, {t.size}"
        )
    if r.size == 0:
        raise ValueError("no logged rows")
    if ((p <= 0.0) | (p > 1.0)).any():
        raise ValueError(f"pscore must be in (0, 1]; row {int(np.argmax((p <= 0) | (p > 1)))}")
    if ((t < 0.0) | (t > 1.0)).any():
        raise ValueError(f"target must be in [0, 1]; row {int(np.argmax((t < 0) | (t > 1)))}")
    return r, p, t


def _full(
    reward: Array, pscore: Array, action: Array, action_dist: Array, q: Array
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64], FloatArray, FloatArray]:
    """The validated inputs of DR: rewards, propensities, action indices, distribution, model."""
    dist, model = _distributions(action_dist, q)
    a = _actions(action, dist.shape)
    n = _vector("reward", reward).size
    if n != dist.shape[0]:
        raise ValueError(f"{n} rewards but {dist.shape[0]} rows of action_dist")
    r, p, _ = _logged(reward, pscore, dist[np.arange(n), a])
    return r, p, a, dist, model


def _vector(name: str, values: Array) -> FloatArray:
    out = np.asarray(values, dtype=np.float64)
    if out.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {out.shape}")
    if not np.isfinite(out).all():
        raise ValueError(f"{name} has a non-finite value at row {int(np.argmin(np.isfinite(out)))}")
    return out


def _distributions(action_dist: Array, q: Array) -> tuple[FloatArray, FloatArray]:
    dist = np.asarray(action_dist, dtype=np.float64)
    model = np.asarray(q, dtype=np.float64)
    if dist.ndim != 2 or dist.shape[0] == 0 or dist.shape[1] == 0:
        raise ValueError(f"action_dist must be (rows, actions), got shape {dist.shape}")
    if model.shape != dist.shape:
        raise ValueError(f"q has shape {model.shape} but action_dist has {dist.shape}")
    if not (np.isfinite(dist).all() and np.isfinite(model).all()):
        raise ValueError("action_dist and q must be finite")
    if (dist < 0.0).any():
        raise ValueError("action_dist has a negative probability")
    sums = dist.sum(axis=1)
    bad = np.abs(sums - 1.0) > _SUM_TOLERANCE
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"action_dist row {row} sums to {sums[row]:.6g}, not 1")
    return dist, model


def _actions(action: Array, shape: tuple[int, ...]) -> npt.NDArray[np.int64]:
    raw = np.asarray(action)
    if raw.ndim != 1 or raw.size != shape[0]:
        raise ValueError(f"action must have one index per row ({shape[0]}), got {raw.shape}")
    if raw.size and not np.issubdtype(raw.dtype, np.integer):
        raise ValueError(f"action must hold integer indices, got dtype {raw.dtype}")
    a = raw.astype(np.int64)
    if ((a < 0) | (a >= shape[1])).any():
        raise ValueError(f"action index out of range 0..{shape[1] - 1}")
    return a
