"""Synthetic customer populations drawn from the BG/NBD and Pareto/NBD stories, vectorised.

No per-customer loop: for a customer with rate ``lambda`` the number of purchases in
``(0, T]`` of an uninterrupted Poisson process is ``N ~ Poisson(lambda T)``, and given
``N = n`` the purchase times are ``n`` sorted uniforms on ``(0, T]``, so the ``k``-th of them
is ``T * Beta(k, n - k + 1)``. Under BG/NBD a customer drops out right after their ``K``-th
repeat purchase, ``K ~ Geometric(p)`` on 1, 2, ... (each repeat purchase is the last with
probability ``p``), so ``x = min(K, N)`` and ``t_x`` is the ``x``-th arrival;
under Pareto/NBD the process runs until a lifetime ``tau ~ Exp(mu)``, so ``N`` counts
arrivals in ``(0, min(tau, T)]`` and ``t_x`` is the last of them. Both also draw the
purchases in ``(T, T + horizon]`` for holdout checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class Population:
    """Simulated calibration histories and the purchases that followed them."""

    x: Ints
    t_x: Floats
    T: Floats
    future: Ints
    """Purchases in ``(T, T + horizon]``."""
    alive: npt.NDArray[np.bool_]
    """Whether each customer was still active at ``T``."""
    horizon: float


def _last_arrival(rng: np.random.Generator, *, x: Ints, n: Ints, span: Floats) -> Floats:
    """Time of the ``x``-th of ``n`` uniform arrivals on ``(0, span]`` (0 when ``x == 0``)."""
    some = x > 0
    shape_a = np.where(some, x, 1).astype(np.float64)
    shape_b = np.where(some, n - x + 1, 1).astype(np.float64)
    return np.where(some, span * rng.beta(shape_a, shape_b), 0.0)


def simulate_bgnbd(
    *,
    n: int,
    r: float,
    alpha: float,
    a: float,
    b: float,
    T: npt.ArrayLike,
    horizon: float = 0.0,
    seed: int | np.random.Generator = 0,
) -> Population:
    """Customers drawn from BG/NBD, each observed for ``T`` (a scalar or one per customer).

    >>> pop = simulate_bgnbd(n=5, r=0.5, alpha=4.0, a=0.8, b=2.5, T=39.0, seed=1)
    >>> pop.x.shape, bool((pop.t_x <= pop.T).all()), bool((pop.t_x[pop.x == 0] == 0).all())
    ((5,), True, True)
    """
    rng = np.random.default_rng(seed)
    age = np.broadcast_to(np.asarray(T, dtype=np.float64), (n,)).copy()
    rate = rng.gamma(r, 1.0 / alpha, n)
    drop = np.clip(rng.beta(a, b, n), 1e-12, 1.0)
    lifetime_purchases = rng.geometric(drop)  # drops out right after this repeat purchase
    arrivals = rng.poisson(rate * age)
    x = np.minimum(lifetime_purchases, arrivals).astype(np.int64)
    t_x = _last_arrival(rng, x=x, n=arrivals, span=age)
    alive = arrivals < lifetime_purchases
    later = rng.poisson(rate * horizon) if horizon > 0 else np.zeros(n, dtype=np.int64)
    future = np.where(alive, np.minimum(later, lifetime_purchases - x), 0).astype(np.int64)
    return Population(x=x, t_x=t_x, T=age, future=future, alive=alive, horizon=float(horizon))


def simulate_paretonbd(
    *,
    n: int,
    r: float,
    alpha: float,
    s: float,
    beta: float,
    T: npt.ArrayLike,
    horizon: float = 0.0,
    seed: int | np.random.Generator = 0,
) -> Population:
    """Customers drawn from Pareto/NBD, each observed for ``T``.

    >>> pop = simulate_paretonbd(n=5, r=0.5, alpha=10.0, s=0.6, beta=12.0, T=39.0, seed=1)
    >>> bool((pop.t_x <= pop.T).all()), pop.future.shape
    (True, (5,))
    """
    rng = np.random.default_rng(seed)
    age = np.broadcast_to(np.asarray(T, dtype=np.float64), (n,)).copy()
    rate = rng.gamma(r, 1.0 / alpha, n)
    death = rng.gamma(s, 1.0 / beta, n)
    lifetime = rng.exponential(1.0, n) / death
    active = np.minimum(lifetime, age)
    x = rng.poisson(rate * active).astype(np.int64)
    t_x = _last_arrival(rng, x=x, n=x, span=active)
    alive = lifetime > age
    window = np.clip(np.minimum(lifetime, age + horizon) - age, 0.0, None)
    future = rng.poisson(rate * window).astype(np.int64)
    return Population(x=x, t_x=t_x, T=age, future=future, alive=alive, horizon=float(horizon))


def to_days(t: Floats, *, unit_days: float = 7.0, cap_days: Ints | None = None) -> Ints:
    """Times in units rounded to whole days (and capped, e.g. so ``t_x <= T``).

    >>> to_days(np.array([0.0, 1.0, 2.07]), cap_days=np.array([0, 7, 14])).tolist()
    [0, 7, 14]
    """
    days = np.rint(t * unit_days).astype(np.int64)
    return days if cap_days is None else np.minimum(days, cap_days)
