"""Learning which action works for whom: linear Thompson sampling with exact logged propensities.

Each action's response probability is its catalogue prior plus a learned correction
``theta_a . x`` over a few context features ``x`` (a Bayesian linear model per action, ridge
prior of ``prior_strength`` pseudo-observations at zero correction). The control (no
treatment) response gets a model of its own, learned from holdout members and do-nothing
decisions, so the uplift the arbiter maximises is learned too.

Exploration is Thompson sampling: a decision's score is drawn from its posterior. Instead of
drawing once and forgetting the odds, ``propensities`` estimates each candidate's probability
of winning from ``draws`` seeded posterior draws, mixes in an exploration floor, and the
engine samples the action *from those probabilities*: what is logged is exactly the
probability it was chosen with, which off-policy evaluation needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

FEATURES = ("bias", "churn_risk", "recency", "frequency", "engagement")
CONTROL = "__control__"
NOISE_VAR = 0.25  # variance of a Bernoulli reward at p = 0.5: a conservative upper bound


def context_features(
    *,
    churn_risk: float | None,
    days_since_purchase: float | None,
    purchases: int,
    engagement: float,
) -> NDArray[np.float64]:
    """The learner's view of a member and channel, each feature scaled to about [0, 1].

    >>> context_features(churn_risk=0.5, days_since_purchase=30, purchases=9, engagement=0.2)
    array([1.  , 0.5 , 0.25, 0.5 , 0.2 ])
    """
    churn = 0.5 if churn_risk is None else min(max(churn_risk, 0.0), 1.0)
    recency = 1.0 if days_since_purchase is None else min(days_since_purchase / 120.0, 1.0)
    frequency = min(np.log1p(purchases) / np.log1p(99.0), 1.0)
    return np.array([1.0, churn, recency, round(frequency, 6), engagement], dtype=np.float64)


@dataclass
class ArmState:
    """Sufficient statistics of one action's correction model: ``A = lambda I + sum x x'``,
    ``b = sum residual * x``."""

    a: NDArray[np.float64]
    b: NDArray[np.float64]
    n: int = 0

    @classmethod
    def prior(cls, strength: float, d: int) -> ArmState:
        return cls(a=np.eye(d) * strength, b=np.zeros(d))


@dataclass
class Learner:
    """Posterior per action (and for the control); small, pure, serialisable."""

    prior_strength: float = 20.0
    arms: dict[str, ArmState] = field(default_factory=dict)
    version: int = 0
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def _arm(self, action_id: str) -> ArmState:
        arm = self.arms.get(action_id)
        if arm is None:
            arm = self.arms[action_id] = ArmState.prior(self.prior_strength, len(FEATURES))
        return arm

    def _stacked(self) -> tuple[dict[str, int], NDArray[np.float64], NDArray[np.float64]]:
        """Posterior means and inverse precisions of every arm, row 0 the untouched prior;
        rebuilt only after learning, so a decision costs two vectorised products."""
        got = self._cache.get("stack")
        if got is None or got[0] != self.version:
            d = len(FEATURES)
            rows = {k: i + 1 for i, k in enumerate(sorted(self.arms))}
            mu = np.zeros((len(rows) + 1, d))
            inv = np.empty((len(rows) + 1, d, d))
            inv[0] = np.eye(d) / self.prior_strength
            for k, i in rows.items():
                inv[i] = np.linalg.inv(self.arms[k].a)
                mu[i] = inv[i] @ self.arms[k].b
            got = self._cache["stack"] = (self.version, rows, mu, inv)
        return got[1], got[2], got[3]

    def correction(
        self, action_ids: Sequence[str], xs: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Mean learned correction and its posterior standard deviation for each action
        ``action_ids[k]`` in context ``xs[k]``."""
        if len(action_ids) == 0:
            return np.zeros(0), np.zeros(0)
        rows, mu, inv = self._stacked()
        idx = np.array([rows.get(a, 0) for a in action_ids])
        means = np.einsum("kd,kd->k", mu[idx], xs)
        var = np.einsum("kd,kde,ke->k", xs, inv[idx], xs)
        return means, np.sqrt(NOISE_VAR * np.maximum(var, 0.0))

    def learn(
        self, action_id: str, x: Sequence[float], residual: float, *, weight: float = 1.0
    ) -> None:
        """One outcome: ``residual`` = observed reward minus the prior's prediction, at
        features ``x``; ``weight`` < 1 for an outcome shared by several contexts."""
        v = np.asarray(x, dtype=np.float64)
        arm = self._arm(action_id)
        arm.a += weight * np.outer(v, v)
        arm.b += weight * residual * v
        arm.n += 1
        self.version += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "prior_strength": self.prior_strength,
            "version": self.version,
            "features": list(FEATURES),
            "arms": {
                k: {"a": v.a.tolist(), "b": v.b.tolist(), "n": v.n} for k, v in self.arms.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Learner:
        arms = {
            k: ArmState(a=np.asarray(v["a"], float), b=np.asarray(v["b"], float), n=int(v["n"]))
            for k, v in data.get("arms", {}).items()
        }
        return cls(
            prior_strength=float(data.get("prior_strength", 20.0)),
            arms=arms,
            version=int(data.get("version", 0)),
        )


def propensities(
    means: NDArray[np.float64],
    sds: NDArray[np.float64],
    *,
    exploration: float,
    rng: np.random.Generator,
    draws: int = 256,
) -> NDArray[np.float64]:
    """Each candidate's probability of being chosen: Thompson win rates, floored.

    The result is ``(1 - exploration) * win_rate + exploration / K``: every candidate keeps a
    chance (so off-policy estimates stay defined) and the values sum to one.

    >>> p = propensities(np.array([1.0, 0.0]), np.array([0.0, 0.0]), exploration=0.1,
    ...                  rng=np.random.default_rng(0))
    >>> [round(float(v), 3) for v in p]
    [0.95, 0.05]
    """
    k = len(means)
    if k == 1:
        return np.ones(1)
    if not np.any(sds > 0):
        wins = np.zeros(k)
        best = means == means.max()
        wins[best] = 1.0 / best.sum()
    else:
        samples = means[:, None] + sds[:, None] * rng.standard_normal((k, draws))
        wins = np.bincount(samples.argmax(axis=0), minlength=k) / draws
    p: NDArray[np.float64] = (1.0 - exploration) * wins + exploration / k
    return p / float(p.sum())
