"""Gamma-Gamma: gradient, recovery and the conditional mean spend against simulation."""

from __future__ import annotations

import numpy as np
import pytest

from nextbest.analytics.btyd import (
    GammaGamma,
    fit_gamma_gamma,
    gamma_gamma_expected_spend,
    gamma_gamma_log_likelihood,
)
from nextbest.analytics.btyd.gammagamma import gamma_gamma_objective

TRUE = {"p": 6.25, "q": 3.74, "gamma": 15.44}  # the CDNOW estimates


def spenders(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x repeat purchases each, their mean value, and each customer's true mean spend."""
    rng = np.random.default_rng(seed)
    x = rng.geometric(0.35, n)
    nu = rng.gamma(TRUE["q"], 1.0 / TRUE["gamma"], n)
    mean = rng.gamma(TRUE["p"] * x, 1.0 / (x * nu))  # the mean of x Gamma(p, nu) values
    return x.astype(np.float64), mean, TRUE["p"] / nu


def test_analytic_gradient_matches_finite_differences() -> None:
    x, m, _ = spenders(2_000, 1)
    objective = gamma_gamma_objective(x=x, mean_spend=m, weight=np.ones_like(x))
    point = np.log([4.0, 2.5, 20.0])
    _, grad = objective(point)
    step = 1e-6
    numeric = [
        (objective(point + step * e)[0] - objective(point - step * e)[0]) / (2 * step)
        for e in np.eye(3)
    ]
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_parameters_are_recovered_and_the_fit_is_explained() -> None:
    x, m, _ = spenders(20_000, 2)
    model = fit_gamma_gamma(np.r_[x, 0.0, 3.0], np.r_[m, np.nan, 0.0], calibration_end="1997-09-30")
    assert model.fit is not None and model.fit.converged
    assert model.excluded == 2  # x == 0, and a zero mean spend
    assert model.fit.n_customers == 20_000
    for name, value in model.params().items():
        assert value == pytest.approx(TRUE[name], rel=0.15), name
    direct = gamma_gamma_log_likelihood(**model.params(), x=x, mean_spend=m).sum()
    assert model.fit.log_likelihood == pytest.approx(direct, rel=1e-10)
    assert model.to_dict()["excluded_customers"] == 2


def test_conditional_mean_spend_matches_simulation() -> None:
    x, m, truth = spenders(100_000, 3)
    expected = gamma_gamma_expected_spend(**TRUE, x=x, mean_spend=m)
    assert expected.mean() == pytest.approx(truth.mean(), rel=0.01)
    # it shrinks towards the population mean, less so with more purchases
    model = GammaGamma(**TRUE)
    one, many = model.expected_spend(x=[1, 20], mean_spend=[100.0, 100.0])
    assert model.population_mean_spend < one < many < 100.0


def test_customers_without_repeat_purchases_get_the_population_mean() -> None:
    model = GammaGamma(**TRUE)
    got = model.expected_spend(x=[0], mean_spend=[np.nan])
    assert float(got[0]) == pytest.approx(model.population_mean_spend)


def test_no_usable_customer_is_an_error() -> None:
    with pytest.raises(ValueError, match="no customer with a repeat purchase"):
        fit_gamma_gamma([0, 0], [np.nan, np.nan])
