"""BG/NBD: Fader, Hardie & Lee (2005), "Counting your customers the easy way".

While active a customer buys as a Poisson process of rate ``lambda ~ Gamma(r, alpha)``;
after every purchase (the first included) they drop out with probability
``p ~ Beta(a, b)``. The likelihood of a history ``(x, t_x, T)`` is

    L = B(a, b + x) / B(a, b) * G(r + x) alpha^r / (G(r) (alpha + T)^(r + x))
      + [x > 0] B(a + 1, b + x - 1) / B(a, b) * G(r + x) alpha^r / (G(r) (alpha + t_x)^(r + x))

evaluated in log space (``logaddexp`` of the two terms) with its analytic gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from nextbest.analytics.btyd.fit import (
    FitReport,
    Floats,
    Objective,
    dot,
    fit_histories,
    grouped_log_likelihood,
    log_add_exp,
    model_dict,
)
from nextbest.analytics.btyd.histories import Histories

PARAMS = ("r", "alpha", "a", "b")


def bgnbd_log_likelihood(
    *,
    r: float,
    alpha: float,
    a: float,
    b: float,
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,
) -> Floats:
    """Log-likelihood of each customer's history (no grouping; the reference form).

    >>> bgnbd_log_likelihood(r=0.243, alpha=4.414, a=0.793, b=2.426, x=[0, 2],
    ...                      t_x=[0.0, 30.43], T=[38.86, 38.86]).round(4).tolist()
    [-0.5547, -9.4586]
    """
    xs, tx, age = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    head = gammaln(r + xs) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    alive = betaln(a, b + xs) - (r + xs) * np.log(alpha + age)
    with np.errstate(divide="ignore"):
        dropped = np.where(
            xs > 0,
            betaln(a + 1.0, b + np.maximum(xs - 1.0, 0.0)) - (r + xs) * np.log(alpha + tx),
            -np.inf,
        )
    return np.asarray(head + np.logaddexp(alive, dropped), dtype=np.float64)


def bgnbd_objective(histories: Histories) -> Objective:
    """Mean negative log-likelihood per customer and its gradient in log-parameters.

    Functions of ``x`` alone (log-gammas, log-betas, digammas) are computed once per distinct
    ``x``, logs of ``alpha + T`` once per distinct ``T``; only a few array operations run per
    distinct history.
    """
    h = histories
    ux, ix, it, iT = h.x_values, h.x_index, h.t_x_index, h.T_index
    w = h.weight
    total = float(w.sum())
    w_by_x = np.bincount(ix, weights=w, minlength=ux.size)
    repeat = ux > 0
    ux_less = np.maximum(ux - 1.0, 0.0)
    nx = ux.size

    def objective(log_params: Floats) -> tuple[float, Floats]:
        r, alpha, a, b = np.exp(log_params)
        rx_u = r + ux
        log_gamma = gammaln(rx_u) - gammaln(r)
        d_log_gamma = digamma(rx_u) - digamma(r)
        base = betaln(a, b)
        psi_ab, psi_b = digamma(a + b), digamma(b)
        psi_abx = digamma(a + b + ux)
        alive_beta = betaln(a, b + ux) - base
        dropped_beta = np.where(repeat, betaln(a + 1.0, b + ux_less) - base, -np.inf)
        alive_da = psi_ab - psi_abx
        alive_db = digamma(b + ux) - psi_abx - psi_b + psi_ab
        dropped_da = np.where(repeat, 1.0 / a + alive_da, 0.0)
        dropped_db = np.where(repeat, digamma(b + ux_less) - psi_abx - psi_b + psi_ab, 0.0)
        log_aT = np.log(alpha + h.T_values)[iT]
        log_at = np.log(alpha + h.t_x_values)[it]

        rx = rx_u[ix]
        alive = alive_beta[ix] - rx * log_aT
        dropped = dropped_beta[ix] - rx * log_at
        both = log_add_exp(alive, dropped)
        share = np.exp(dropped - both)  # weight of the dropped-out term; 0 when x == 0
        w_drop = w * share
        w_alive = w - w_drop
        ll = dot(w_by_x, log_gamma) + dot(w, both) + total * r * np.log(alpha)

        d_r = dot(w_by_x, d_log_gamma) + total * np.log(alpha)
        d_r -= dot(w_alive, log_aT) + dot(w_drop, log_at)
        # d/d alpha of -(r + x) log(alpha + t) is -(r + x) / (alpha + t) = -(r + x) exp(-log)
        d_alpha = total * r / alpha - dot(w_alive * rx, np.exp(-log_aT))
        d_alpha -= dot(w_drop * rx, np.exp(-log_at))
        alive_by_x = np.bincount(ix, weights=w_alive, minlength=nx)
        drop_by_x = np.bincount(ix, weights=w_drop, minlength=nx)
        d_a = dot(alive_by_x, alive_da) + dot(drop_by_x, dropped_da)
        d_b = dot(alive_by_x, alive_db) + dot(drop_by_x, dropped_db)
        grad = np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
        return -ll / total, -grad / total

    return objective


def default_start(histories: Histories) -> dict[str, float]:
    """A neutral start: ``r = a = b = 1`` and ``alpha`` at the mean age (the time scale)."""
    mean_T = dot(histories.weight, histories.T) / float(histories.weight.sum())
    return {"r": 1.0, "alpha": max(mean_T, 1e-3), "a": 1.0, "b": 1.0}


@dataclass(frozen=True)
class BGNBD:
    """A BG/NBD model: its parameters and, when fitted, how (``fit``)."""

    r: float
    alpha: float
    a: float
    b: float
    fit: FitReport | None = None

    @property
    def name(self) -> str:
        return "bg/nbd"

    def params(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    def to_dict(self) -> dict[str, object]:
        return model_dict(self.name, self.params(), self.fit)

    def log_likelihood(self, histories: Histories) -> float:
        """Total log-likelihood of ``histories`` under these parameters."""
        return grouped_log_likelihood(bgnbd_objective(histories), self.params(), histories)

    def expected_purchases(self, t: npt.ArrayLike) -> Floats:
        return bgnbd_expected_purchases(t, **self.params())

    def conditional_expected_purchases(
        self, t: npt.ArrayLike, *, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
    ) -> Floats:
        return bgnbd_conditional_expected_purchases(t, x=x, t_x=t_x, T=T, **self.params())

    def p_alive(self, *, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> Floats:
        return bgnbd_p_alive(x=x, t_x=t_x, T=T, **self.params())


def fit_bgnbd(histories: Histories, *, start: dict[str, float] | None = None) -> BGNBD:
    """Maximum likelihood BG/NBD on grouped histories (analytic gradient, BFGS).

    >>> from nextbest.analytics.btyd.histories import group_histories
    >>> from nextbest.analytics.btyd.simulate import simulate_bgnbd
    >>> pop = simulate_bgnbd(n=3000, r=0.25, alpha=4.0, a=0.8, b=2.5, T=39.0, seed=3)
    >>> model = fit_bgnbd(group_histories(pop.x, pop.t_x, pop.T))
    >>> model.fit.converged, model.fit.n_customers
    (True, 3000)
    """
    begin = start or default_start(histories)
    params, fitted = fit_histories(
        bgnbd_objective(histories), histories, names=PARAMS, start=begin, gradient="analytic"
    )
    return BGNBD(**params, fit=fitted)


def bgnbd_p_alive(
    *,
    r: float,
    alpha: float,
    a: float,
    b: float,
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,
) -> Floats:
    """P(active at T | x, t_x, T); exactly 1 for customers with no repeat purchase.

    >>> bgnbd_p_alive(r=0.243, alpha=4.414, a=0.793, b=2.426, x=[0, 2, 2],
    ...               t_x=[0.0, 30.43, 5.0], T=[38.86, 38.86, 38.86]).round(3).tolist()
    [1.0, 0.727, 0.124]
    """
    xs, tx, age = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    with np.errstate(divide="ignore"):
        log_odds = (
            np.log(a)
            - np.log(np.maximum(b + xs - 1.0, 1e-300))
            + (r + xs) * (np.log(alpha + age) - np.log(alpha + tx))
        )
    return np.asarray(np.where(xs > 0, expit(-log_odds), 1.0), dtype=np.float64)


def bgnbd_expected_purchases(
    t: npt.ArrayLike, *, r: float, alpha: float, a: float, b: float
) -> Floats:
    """E[X(t)]: expected repeat purchases of a customer in the ``t`` units after their first.

    >>> bgnbd_expected_purchases([0.0, 39.0, 78.0], r=0.243, alpha=4.414, a=0.793, b=2.426
    ...                          ).round(4).tolist()
    [0.0, 1.1967, 1.8605]
    """
    return _remaining(np.asarray(t, dtype=np.float64), r=r, alpha=alpha, a=a, b=b, x=0.0, T=0.0)


def bgnbd_conditional_expected_purchases(
    t: npt.ArrayLike,
    *,
    r: float,
    alpha: float,
    a: float,
    b: float,
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,
) -> Floats:
    """E[Y(t) | x, t_x, T]: expected purchases in the ``t`` units after ``T``.

    >>> bgnbd_conditional_expected_purchases(39.0, r=0.243, alpha=4.414, a=0.793, b=2.426,
    ...     x=[0, 2], t_x=[0.0, 30.43], T=[38.86, 38.86]).round(4).tolist()
    [0.1951, 1.226]
    """
    xs = np.asarray(x, dtype=np.float64)
    age = np.asarray(T, dtype=np.float64)
    if_alive = _remaining(np.asarray(t, dtype=np.float64), r=r, alpha=alpha, a=a, b=b, x=xs, T=age)
    alive = bgnbd_p_alive(r=r, alpha=alpha, a=a, b=b, x=xs, t_x=t_x, T=age)
    return np.asarray(if_alive * alive, dtype=np.float64)


def _remaining(
    t: Floats, *, r: float, alpha: float, a: float, b: float, x: Floats | float, T: Floats | float
) -> Floats:
    """Expected purchases in ``(T, T + t]`` of a customer known to be active at ``T``.

    FHL (2005) eq. 10 without its P(alive) factor; the Gaussian hypergeometric function is
    taken through Euler's transformation, ``2F1(r+x, b+x; a+b+x-1; z) (1-z)^(r+x) =
    (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)``, whose arguments stay small for large ``x``.
    """
    c = a + b + np.asarray(x, dtype=np.float64) - 1.0
    z = t / (alpha + np.asarray(T, dtype=np.float64) + t)
    tail = np.exp((a - 1.0) * np.log1p(-z)) * hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
    return np.asarray(c / (a - 1.0) * (1.0 - tail) + 0.0, dtype=np.float64)  # no -0.0
