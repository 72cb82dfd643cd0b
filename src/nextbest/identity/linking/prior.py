"""The prior λ (probability that two random records match), fitted to the scored pairs.

With m and u fixed, the EM update of λ alone is ``λ ← Σ p_i(λ) / N``: the expected number
of matches among all ``N`` possible pairs, divided by ``N``. Pairs outside the blocks are
taken as non-matches (their posterior is negligible when blocking has high recall), so the
sum runs over the scored pairs only. Each pair's evidence ``e_i`` is its match weight
without the prior, in bits.
"""

from __future__ import annotations

import numpy as np


def logit2(p: float) -> float:
    """log2 of the odds of ``p``.

    >>> logit2(0.5), logit2(0.2)
    (0.0, -2.0)
    """
    return float(np.log2(p / (1.0 - p)))


def posterior(evidence: np.ndarray, prior: float) -> np.ndarray:
    """Match probabilities of pairs with ``evidence`` (bits) under prior ``prior``.

    >>> posterior(np.array([0.0, 2.0]), 0.2).round(3).tolist()
    [0.2, 0.5]
    """
    return 1.0 / (1.0 + np.exp2(-(logit2(prior) + evidence)))


def fit_prior(
    evidence: np.ndarray, total_pairs: float, *, start: float, iterations: int = 200
) -> float:
    """λ at the fixed point of ``λ = Σ posterior(e, λ) / total_pairs``.

    Ten pairs with overwhelming evidence among 10,000 possible pairs: λ is 10 / 10,000.

    >>> round(fit_prior(np.full(10, 40.0), 10_000, start=0.5), 6)
    0.001
    """
    if total_pairs <= 0:
        raise ValueError(f"total_pairs must be positive, got {total_pairs}")
    floor = 0.5 / total_pairs
    prior = min(max(start, floor), 0.5)
    for _ in range(iterations):
        updated = float(posterior(evidence, prior).sum()) / total_pairs
        updated = min(max(updated, floor), 0.5)
        if abs(updated - prior) <= 1e-6 * prior:
            return updated
        prior = updated
    return prior
