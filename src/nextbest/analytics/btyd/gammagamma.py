"""Gamma-Gamma spend model: Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves
for customer base analysis", and Fader & Hardie's note "The Gamma-Gamma Model of Monetary
Value".

A customer's transaction values are Gamma(p, nu) around their own mean ``p / nu``, and
``nu ~ Gamma(q, gamma)`` across customers. It is fitted on the ``x > 0`` customers' mean
repeat-transaction value ``m`` (the first purchase left out), whose density given ``x`` is

    f(m | x) = G(p x + q) / (G(p x) G(q)) * gamma^q m^(p x - 1) x^(p x) / (gamma + x m)^(p x + q)

The conditional expected spend of a customer is a weighted mean of the population mean
``p gamma / (q - 1)`` and their own mean ``m``, the weight on ``m`` growing with ``x``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import digamma, gammaln

from nextbest.analytics.btyd.fit import (
    FitReport,
    Floats,
    Objective,
    dot,
    finite_or_none,
    minimise,
    report,
)

PARAMS = ("p", "q", "gamma")


def gamma_gamma_log_likelihood(
    *, p: float, q: float, gamma: float, x: npt.ArrayLike, mean_spend: npt.ArrayLike
) -> Floats:
    """Log density of each customer's mean repeat spend given their ``x`` (``x > 0``).

    >>> gamma_gamma_log_likelihood(p=6.25, q=3.74, gamma=15.44, x=[1, 7],
    ...                            mean_spend=[11.77, 73.74]).round(4).tolist()
    [-3.7377, -6.0549]
    """
    xs, m = np.asarray(x, dtype=np.float64), np.asarray(mean_spend, dtype=np.float64)
    px = p * xs
    out = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(gamma)
        + (px - 1.0) * np.log(m)
        + px * np.log(xs)
        - (px + q) * np.log(gamma + xs * m)
    )
    return np.asarray(out, dtype=np.float64)


def gamma_gamma_objective(*, x: Floats, mean_spend: Floats, weight: Floats) -> Objective:
    """Mean negative log-likelihood per customer and its analytic gradient (log-parameters).

    The log-gammas and digammas depend on ``x`` only: they are computed per distinct ``x``.
    """
    total = float(weight.sum())
    ux, ix = np.unique(x, return_inverse=True)
    ix = ix.reshape(-1)
    w_by_x = np.bincount(ix, weights=weight, minlength=ux.size)
    xm = x * mean_spend
    # the terms that do not involve the parameters' special functions, weighted once
    w_x_log_mx = dot(weight, x * (np.log(mean_spend) + np.log(x)))
    w_log_m = dot(weight, np.log(mean_spend))

    def objective(log_params: Floats) -> tuple[float, Floats]:
        p, q, gamma = np.exp(log_params)
        pu = p * ux
        log_gamma_ratio = gammaln(pu + q) - gammaln(pu)
        psi_pxq = digamma(pu + q)
        log_gxm = np.log(gamma + xm)
        inv_gxm = 1.0 / (gamma + xm)
        w_pxq = weight * (p * x + q)
        ll = dot(w_by_x, log_gamma_ratio) + total * (q * np.log(gamma) - gammaln(q))
        ll += p * w_x_log_mx - w_log_m - dot(w_pxq, log_gxm)
        d_p = dot(w_by_x * ux, psi_pxq - digamma(pu)) + w_x_log_mx - dot(weight * x, log_gxm)
        d_q = dot(w_by_x, psi_pxq) + total * (np.log(gamma) - digamma(q)) - dot(weight, log_gxm)
        d_gamma = total * q / gamma - dot(w_pxq, inv_gxm)
        grad = np.array([d_p * p, d_q * q, d_gamma * gamma])
        return -float(ll) / total, -grad / total

    return objective


@dataclass(frozen=True)
class GammaGamma:
    """A Gamma-Gamma spend model: its parameters and, when fitted, how (``fit``)."""

    p: float
    q: float
    gamma: float
    fit: FitReport | None = None
    excluded: int = 0
    """Customers left out of the fit (``x == 0`` or a mean spend that is not positive)."""

    @property
    def name(self) -> str:
        return "gamma-gamma"

    def params(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "gamma": self.gamma}

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.name,
            "params": self.params(),
            "population_mean_spend": finite_or_none(self.population_mean_spend),
            "excluded_customers": self.excluded,
            "fit": None if self.fit is None else self.fit.to_dict(),
        }

    @property
    def population_mean_spend(self) -> float:
        """``p gamma / (q - 1)``: the mean spend of a customer about whom nothing is known."""
        return self.p * self.gamma / (self.q - 1.0) if self.q > 1.0 else float("inf")

    def expected_spend(self, *, x: npt.ArrayLike, mean_spend: npt.ArrayLike) -> Floats:
        return gamma_gamma_expected_spend(x=x, mean_spend=mean_spend, **self.params())


def fit_gamma_gamma(
    x: npt.ArrayLike,
    mean_spend: npt.ArrayLike,
    *,
    start: dict[str, float] | None = None,
    calibration_end: str | None = None,
) -> GammaGamma:
    """Fit on customers with ``x > 0`` and a positive mean spend (others are excluded).

    Customers sharing ``(x, mean_spend)`` are grouped as for the count models.

    >>> model = fit_gamma_gamma([1, 2, 3, 1, 4, 2, 0], [10.0, 12.0, 30.0, 8.0, 20.0, 15.0, 0.0])
    >>> model.fit.n_customers, model.excluded, model.fit.converged
    (6, 1, True)
    """
    xs, m = np.asarray(x, dtype=np.float64), np.asarray(mean_spend, dtype=np.float64)
    if xs.shape != m.shape or xs.ndim != 1:
        raise ValueError(f"x and mean_spend must be 1-d of one length: {xs.shape}, {m.shape}")
    keep = (xs > 0) & np.isfinite(m) & (m > 0)
    if not keep.any():
        raise ValueError("no customer with a repeat purchase and a positive mean spend")
    gx, gm, weight = _group_pairs(xs[keep], m[keep])
    begin = start or {"p": 1.0, "q": 2.0, "gamma": float(weight @ gm / weight.sum())}
    objective = gamma_gamma_objective(x=gx, mean_spend=gm, weight=weight)
    found = minimise(objective, np.log([begin[k] for k in PARAMS]))
    p, q, gamma = (float(v) for v in np.exp(found.log_params))
    fitted = report(
        found,
        total_weight=float(weight.sum()),
        n_customers=int(keep.sum()),
        n_histories=int(gx.size),
        unit_days=None,
        calibration_end=calibration_end,
        gradient="analytic",
        start=dict(begin),
    )
    return GammaGamma(p=p, q=q, gamma=gamma, fit=fitted, excluded=int((~keep).sum()))


def _group_pairs(x: Floats, m: Floats) -> tuple[Floats, Floats, Floats]:
    """Distinct ``(x, m)`` pairs and their counts (one sort of an integer key)."""
    um, im = np.unique(m, return_inverse=True)
    ux, ix = np.unique(x, return_inverse=True)
    key = ix.reshape(-1).astype(np.int64) * um.size + im.reshape(-1)
    keys, counts = np.unique(key, return_counts=True)
    return ux[keys // um.size], um[keys % um.size], counts.astype(np.float64)


def gamma_gamma_expected_spend(
    *, p: float, q: float, gamma: float, x: npt.ArrayLike, mean_spend: npt.ArrayLike
) -> Floats:
    """E[spend per transaction | x, m]; the population mean where ``x == 0``.

    >>> gamma_gamma_expected_spend(p=6.25, q=3.74, gamma=15.44, x=[0, 1, 7],
    ...                            mean_spend=[np.nan, 11.77, 73.74]).round(2).tolist()
    [35.22, 18.92, 71.47]
    """
    xs, m = np.asarray(x, dtype=np.float64), np.asarray(mean_spend, dtype=np.float64)
    own = np.where(xs > 0, np.nan_to_num(m), 0.0)
    return np.asarray(p * (gamma + xs * own) / (p * xs + q - 1.0), dtype=np.float64)
