"""Pareto/NBD: Schmittlein, Morrison & Colombo (1987), in the form of Fader & Hardie's 2005
note "A Note on Deriving the Pareto/NBD Model and Related Expressions".

While active a customer buys as a Poisson process of rate ``lambda ~ Gamma(r, alpha)``; they
stay active for an exponential lifetime of rate ``mu ~ Gamma(s, beta)``. The likelihood of
``(x, t_x, T)`` is

    L = G(r + x) alpha^r beta^s / G(r) * [ (alpha + T)^-(r + x) (beta + T)^-s
                                           + s * (I(t_x) - I(T)) ]

with ``I(y) = integral from y to infinity of (alpha + u)^-(r + x) (beta + u)^-(s + 1) du``
(the customer dies at some ``u`` in ``(t_x, T]``). ``I`` is a Gaussian hypergeometric
function: with ``c = r + s + x``, for ``alpha >= beta``

    I(y) = 2F1(c, s + 1; c + 1; (alpha - beta) / (alpha + y)) / (c (alpha + y)^c)

and for ``beta > alpha`` the same with ``s + 1`` replaced by ``r + x`` and the roles of
``alpha`` and ``beta`` swapped. The argument stays in ``[0, 1)``, where ``scipy``'s
``hyp2f1`` is accurate except near 1 (``log_hyp2f1_next`` takes over there). The difference
``I(t_x) - I(T)`` is taken in log space, ``log I(t_x) + log(-expm1(log I(T) - log I(t_x)))``.
No closed form exists for the derivatives in ``r`` and ``s``, so the gradient is by central
differences; ``I`` is evaluated once per distinct ``(x, t_x)`` and ``(x, T)`` pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import gammaln, hyp2f1

from nextbest.analytics.btyd.fit import (
    FitReport,
    Floats,
    Objective,
    central_gradient,
    dot,
    fit_histories,
    grouped_log_likelihood,
    log_add_exp,
    model_dict,
)
from nextbest.analytics.btyd.histories import Histories

PARAMS = ("r", "alpha", "s", "beta")


def log_hyp2f1_next(*, c: npt.ArrayLike, b: npt.ArrayLike, z: npt.ArrayLike) -> Floats:
    """``log 2F1(c, b; c + 1; z)`` for ``c, b > 0`` and ``0 <= z < 1``, finite everywhere.

    ``scipy.special.hyp2f1`` is accurate here except close to ``z = 1``, where it overflows
    (the value grows like ``(1 - z)^-b``), returns NaN, or drifts. There (``z > 0.999`` or a
    non-finite result) the Laplace form ``2F1 = integral over w > 0 of
    exp(-w) (1 - z exp(-w / c))^-b dw`` is summed by the trapezoidal rule in ``log w``,
    in log space (relative error about 1e-10 over c in [0.1, 1e4], b in [0.3, 500]).

    >>> log_hyp2f1_next(c=[2.0, 50.0], b=[1.5, 80.0], z=[0.3, 0.99999]).round(6).tolist()
    [0.348734, 909.063691]
    """
    cc, bb, zz = (np.asarray(v, dtype=np.float64) for v in np.broadcast_arrays(c, b, z))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        out = np.log(hyp2f1(cc, bb, cc + 1.0, zz))
    redo = ~np.isfinite(out) | (zz > 0.999)
    if redo.any():
        out = np.array(out, dtype=np.float64)
        out[redo] = _log_laplace_sum(c=cc[redo], b=bb[redo], z=zz[redo])
    return np.asarray(out, dtype=np.float64)


def _log_laplace_sum(*, c: Floats, b: Floats, z: Floats, step: float = 0.1) -> Floats:
    out = np.empty(c.size, dtype=np.float64)
    # below w* the integrand is flat at (1 - z)^-b; start 40 e-folds lower in log w
    w_star = c * (1.0 - z) / (b * z + c * (1.0 - z))
    low = np.log(w_star) - 40.0
    grid = np.arange(0.0, 4.5 - float(low.min()) + step, step)
    for first in range(0, c.size, 2_048):
        part = slice(first, first + 2_048)
        tau = low[part, None] + grid[None, :]
        w = np.exp(tau)
        log_f = tau - w - b[part, None] * np.log1p(-z[part, None] * np.exp(-w / c[part, None]))
        log_f = np.where(tau <= 4.5, log_f, -np.inf)
        top = log_f.max(axis=1, keepdims=True)
        out[part] = (top + np.log(step * np.exp(log_f - top).sum(axis=1, keepdims=True)))[:, 0]
    return out


def log_tail_integral(
    *, r: float, alpha: float, s: float, beta: float, x: npt.ArrayLike, y: npt.ArrayLike
) -> Floats:
    """``log I(y)``: log of the integral of ``(alpha+u)^-(r+x) (beta+u)^-(s+1)`` over u > y.

    >>> float(log_tail_integral(r=1.0, alpha=2.0, s=1.0, beta=2.0, x=0.0, y=0.0))  # 1/(2*2^2)
    -2.0794415416798357
    """
    xs, ys = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    c = r + s + xs
    if alpha >= beta:
        big, other, power = alpha, beta, np.full_like(c, s + 1.0)
    else:
        big, other, power = beta, alpha, r + xs
    z = (big - other) / (big + ys)
    out = log_hyp2f1_next(c=c, b=power, z=z) - c * np.log(big + ys) - np.log(c)
    return np.asarray(out, dtype=np.float64)


def _log_terms(
    *,
    r: float,
    alpha: float,
    s: float,
    beta: float,
    x: Floats,
    t_x: Floats,
    T: Floats,
    tail_t_x: Floats | None = None,
    tail_T: Floats | None = None,
) -> tuple[Floats, Floats, Floats]:
    """(constant part, log of the alive-at-T term, log of the died-in-(t_x, T] term)."""
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    if tail_t_x is None:
        tail_t_x = log_tail_integral(r=r, alpha=alpha, s=s, beta=beta, x=x, y=t_x)
    if tail_T is None:
        tail_T = log_tail_integral(r=r, alpha=alpha, s=s, beta=beta, x=x, y=T)
    with np.errstate(divide="ignore"):
        gap = np.log(-np.expm1(np.minimum(tail_T - tail_t_x, 0.0)))
    died = np.log(s) + tail_t_x + gap
    return np.asarray(head), np.asarray(alive), np.asarray(died)


def paretonbd_log_likelihood(
    *,
    r: float,
    alpha: float,
    s: float,
    beta: float,
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,
) -> Floats:
    """Log-likelihood of each customer's history.

    >>> paretonbd_log_likelihood(r=0.553, alpha=10.578, s=0.606, beta=11.669, x=[0, 2],
    ...                          t_x=[0.0, 30.43], T=[38.86, 38.86]).round(4).tolist()
    [-0.521, -9.5543]
    """
    xs, tx, age = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    head, alive, died = _log_terms(r=r, alpha=alpha, s=s, beta=beta, x=xs, t_x=tx, T=age)
    return np.asarray(head + np.logaddexp(alive, died), dtype=np.float64)


def paretonbd_objective(histories: Histories) -> Objective:
    """Mean negative log-likelihood per customer; gradient by central differences."""
    h = histories
    w = h.weight
    total = float(w.sum())
    nt, nT = h.t_x_values.size, h.T_values.size
    pair_t, at_t = np.unique(h.x_index.astype(np.int64) * nt + h.t_x_index, return_inverse=True)
    pair_T, at_T = np.unique(h.x_index.astype(np.int64) * nT + h.T_index, return_inverse=True)
    x_t, y_t = h.x_values[pair_t // nt], h.t_x_values[pair_t % nt]
    x_T, y_T = h.x_values[pair_T // nT], h.T_values[pair_T % nT]
    at_t, at_T = at_t.reshape(-1), at_T.reshape(-1)

    ux, ix, iT = h.x_values, h.x_index, h.T_index
    w_by_x = np.bincount(ix, weights=w, minlength=ux.size)

    def value(log_params: Floats) -> float:
        r, alpha, s, beta = (float(v) for v in np.exp(log_params))
        tails_t = log_tail_integral(r=r, alpha=alpha, s=s, beta=beta, x=x_t, y=y_t)[at_t]
        tails_T = log_tail_integral(r=r, alpha=alpha, s=s, beta=beta, x=x_T, y=y_T)[at_T]
        head = dot(w_by_x, gammaln(r + ux) - gammaln(r)) + total * (r * np.log(alpha))
        head += total * s * np.log(beta)
        log_aT, log_bT = np.log(alpha + h.T_values), np.log(beta + h.T_values)
        alive = -(r + h.x) * log_aT[iT] - s * log_bT[iT]
        with np.errstate(divide="ignore"):
            gap = np.log(-np.expm1(np.minimum(tails_T - tails_t, 0.0)))
        died = np.log(s) + tails_t + gap
        return -float(head + dot(w, log_add_exp(alive, died))) / total

    def objective(log_params: Floats) -> tuple[float, Floats]:
        with np.errstate(all="ignore"):  # the edges of the parameter space give inf or nan
            center = value(log_params)
            if not np.isfinite(center):
                return float("inf"), np.zeros_like(log_params)
            return center, central_gradient(value, log_params, center=center)

    return objective


def default_start(histories: Histories) -> dict[str, float]:
    """``r = s = 1`` and ``alpha = beta`` at the mean age (the time scale)."""
    mean_T = max(dot(histories.weight, histories.T) / float(histories.weight.sum()), 1e-3)
    return {"r": 1.0, "alpha": mean_T, "s": 1.0, "beta": mean_T}


@dataclass(frozen=True)
class ParetoNBD:
    """A Pareto/NBD model: its parameters and, when fitted, how (``fit``)."""

    r: float
    alpha: float
    s: float
    beta: float
    fit: FitReport | None = None

    @property
    def name(self) -> str:
        return "pareto/nbd"

    def params(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "s": self.s, "beta": self.beta}

    def to_dict(self) -> dict[str, object]:
        return model_dict(self.name, self.params(), self.fit)

    def log_likelihood(self, histories: Histories) -> float:
        """Total log-likelihood of ``histories`` under these parameters."""
        return grouped_log_likelihood(paretonbd_objective(histories), self.params(), histories)

    def expected_purchases(self, t: npt.ArrayLike) -> Floats:
        return paretonbd_expected_purchases(t, **self.params())

    def conditional_expected_purchases(
        self, t: npt.ArrayLike, *, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
    ) -> Floats:
        return paretonbd_conditional_expected_purchases(t, x=x, t_x=t_x, T=T, **self.params())

    def p_alive(self, *, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> Floats:
        return paretonbd_p_alive(x=x, t_x=t_x, T=T, **self.params())


def fit_paretonbd(histories: Histories, *, start: dict[str, float] | None = None) -> ParetoNBD:
    """Maximum likelihood Pareto/NBD on grouped histories.

    >>> from nextbest.analytics.btyd.histories import group_histories
    >>> from nextbest.analytics.btyd.simulate import simulate_paretonbd
    >>> pop = simulate_paretonbd(n=3000, r=0.5, alpha=10.0, s=0.6, beta=12.0, T=39.0, seed=3)
    >>> model = fit_paretonbd(group_histories(pop.x, pop.t_x, pop.T))
    >>> model.fit.converged, model.fit.n_customers
    (True, 3000)
    """
    begin = start or default_start(histories)
    params, fitted = fit_histories(
        paretonbd_objective(histories),
        histories,
        names=PARAMS,
        start=begin,
        gradient="central differences",
    )
    return ParetoNBD(**params, fit=fitted)


def paretonbd_p_alive(
    *,
    r: float,
    alpha: float,
    s: float,
    beta: float,
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,
) -> Floats:
    """P(active at T | x, t_x, T).

    >>> paretonbd_p_alive(r=0.553, alpha=10.578, s=0.606, beta=11.669, x=[0, 2, 2],
    ...                   t_x=[0.0, 30.43, 5.0], T=[38.86, 38.86, 38.86]).round(3).tolist()
    [0.295, 0.869, 0.13]
    """
    xs, tx, age = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    _, alive, died = _log_terms(r=r, alpha=alpha, s=s, beta=beta, x=xs, t_x=tx, T=age)
    return np.asarray(np.exp(alive - np.logaddexp(alive, died)), dtype=np.float64)


def paretonbd_expected_purchases(
    t: npt.ArrayLike, *, r: float, alpha: float, s: float, beta: float
) -> Floats:
    """E[X(t)]: expected repeat purchases in the ``t`` units after the first.

    >>> paretonbd_expected_purchases([0.0, 39.0, 78.0], r=0.553, alpha=10.578, s=0.606,
    ...                              beta=11.669).round(4).tolist()
    [0.0, 1.213, 1.9094]
    """
    tt = np.asarray(t, dtype=np.float64)
    return np.asarray(
        r * beta / alpha * _decay(np.log(beta) - np.log(beta + tt), s - 1.0) + 0.0,
        dtype=np.float64,
    )


def paretonbd_conditional_expected_purchases(
    t: npt.ArrayLike,
    *,
    r: float,
    alpha: float,
    s: float,
    beta: float,
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,
) -> Floats:
    """E[Y(t) | x, t_x, T]: expected purchases in the ``t`` units after ``T``.

    >>> paretonbd_conditional_expected_purchases(39.0, r=0.553, alpha=10.578, s=0.606,
    ...     beta=11.669, x=[0, 2], t_x=[0.0, 30.43], T=[38.86, 38.86]).round(4).tolist()
    [0.1071, 1.4551]
    """
    xs, age = np.asarray(x, dtype=np.float64), np.asarray(T, dtype=np.float64)
    tt = np.asarray(t, dtype=np.float64)
    rate = (r + xs) * (beta + age) / (alpha + age)
    decay = _decay(np.log(beta + age) - np.log(beta + age + tt), s - 1.0)
    alive = paretonbd_p_alive(r=r, alpha=alpha, s=s, beta=beta, x=xs, t_x=t_x, T=age)
    return np.asarray(rate * decay * alive, dtype=np.float64)


def _decay(log_ratio: Floats, power: float) -> Floats:
    """``(1 - exp(power * log_ratio)) / power``, and its limit ``-log_ratio`` at power 0."""
    if abs(power) < 1e-12:
        return np.asarray(-log_ratio, dtype=np.float64)
    return np.asarray(-np.expm1(power * log_ratio) / power, dtype=np.float64)
