"""Implicit alternating least squares (Hu, Koren and Volinsky 2008) for ``recommend``.

Confidence 1 + alpha * log(1 + r / epsilon), exact batched solves. A member's factors are
recomputed from their history at scoring time (one half step), so members unseen in
training are scored too; the paper's section 5 gives the per-item split of a score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from nextbest.analytics.recommend import (
    _TIE,
    Interactions,
    _bought,
    _counts,
    _frozen,
    _popularity,
    _version,
)


def _confidence(counts: sp.csr_array, *, alpha: float, epsilon: float) -> sp.csr_array:
    """Hu et al.'s log confidence minus one: alpha * log(1 + r / epsilon), on bought cells."""
    c = sp.csr_array(counts, dtype=np.float64, copy=True)
    c.data = alpha * np.log1p(c.data / epsilon)
    return c


def _systems(c_minus_1: sp.csr_array, fixed: np.ndarray, regularization: float) -> np.ndarray:
    """Each row's normal matrix F'F + F' (C_u - I) F + lambda I, as a (rows, f, f) array."""
    f = fixed.shape[1]
    outer = (fixed[:, :, None] * fixed[:, None, :]).reshape(len(fixed), f * f)
    gram = fixed.T @ fixed + regularization * np.eye(f)
    out: np.ndarray = np.asarray(c_minus_1 @ outer).reshape(-1, f, f) + gram
    return out


def _solve_side(
    c_minus_1: sp.csr_array, fixed: np.ndarray, regularization: float, *, chunk: int = 50_000
) -> np.ndarray:
    """Least-squares factors of every row given the other side's ``fixed`` factors:
    x_u = (F'F + F' (C_u - I) F + lambda I)^-1 F' C_u p_u, batched exact solves by chunks."""
    c = sp.csr_array(c_minus_1, copy=True)
    c.data = c.data + 1.0
    rhs = np.asarray(c @ fixed)
    x = np.zeros((c.shape[0], fixed.shape[1]))
    for first in range(0, c.shape[0], chunk):
        rows = slice(first, first + chunk)
        a = _systems(c_minus_1[rows], fixed, regularization)
        x[rows] = np.linalg.solve(a, rhs[rows][:, :, None])[:, :, 0]
    return x


@dataclass(frozen=True, slots=True, eq=False)
class ImplicitALS:
    """Item factors from implicit ALS; member factors are solved from the history when scored."""

    items: tuple[str, ...]
    item_factors: np.ndarray
    bias: np.ndarray
    params: dict[str, Any]
    version: str
    kind: str = "als"

    def _confidence(self, history: sp.csr_array) -> sp.csr_array:
        return _confidence(history, alpha=self.params["alpha"], epsilon=self.params["epsilon"])

    def scores(self, history: sp.csr_array) -> np.ndarray:
        x = _solve_side(self._confidence(history), self.item_factors, self.params["regularization"])
        out: np.ndarray = x @ self.item_factors.T + self.bias[None, :]
        return out

    def contributions(self, history: sp.csr_array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Hu et al. section 5: score_j = sum_i c_ui * y_j' W_u y_i, W_u = (Y' C_u Y + lambda I)^-1
        idx, _ = _bought(history)
        c = self._confidence(history)
        y = self.item_factors
        a = _systems(c, y, self.params["regularization"])[0]
        conf = 1.0 + np.asarray(c[:, idx].toarray()).reshape(-1)
        shares = conf[:, None] * (y[idx] @ np.linalg.solve(a, y.T))
        return idx, shares, np.array(self.bias)


def fit_als(
    interactions: Interactions,
    *,
    factors: int = 8,
    regularization: float = 1.0,
    alpha: float = 10.0,
    epsilon: float = 1.0,
    iterations: int = 15,
    seed: int = 0,
) -> ImplicitALS:
    """Implicit ALS with exact solves; ``factors`` is capped at the number of items.

    Minimises sum_ui c_ui (p_ui - x_u'y_i)^2 + lambda (|X|^2 + |Y|^2), p = bought or not,
    c = 1 + alpha log(1 + r / epsilon). Deterministic given ``seed``.
    """
    if factors < 1 or iterations < 1 or regularization <= 0 or alpha <= 0 or epsilon <= 0:
        raise ValueError(
            "need factors >= 1, iterations >= 1 and positive regularization, alpha, epsilon; "
            f"got {factors}, {iterations}, {regularization}, {alpha}, {epsilon}"
        )
    items, counts = _counts(interactions)
    f = max(1, min(factors, len(items)))
    c = _confidence(counts, alpha=alpha, epsilon=epsilon)
    ct = sp.csr_array(c.T)
    rng = np.random.default_rng(seed)
    y = rng.normal(0.0, 0.1, (len(items), f))
    for _ in range(iterations):
        x = _solve_side(c, y, regularization)
        y = _solve_side(ct, x, regularization)
    params: dict[str, Any] = {
        "factors": f,
        "regularization": regularization,
        "alpha": alpha,
        "epsilon": epsilon,
        "iterations": iterations,
        "seed": seed,
    }
    frozen_y = _frozen(y)
    bias = _frozen(_TIE * _popularity(counts))
    version = _version("als", params, np.asarray(items), frozen_y, bias)
    return ImplicitALS(items, frozen_y, bias, params, version)


# --- ranking and explanations -------------------------------------------------------------
