"""BG/NBD: likelihood, gradient, grouping, recovery and predictions against simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import hyp2f1

from nextbest.analytics.btyd import (
    BGNBD,
    bgnbd_conditional_expected_purchases,
    bgnbd_expected_purchases,
    bgnbd_log_likelihood,
    bgnbd_p_alive,
    fit_bgnbd,
    group_day_histories,
    group_histories,
    simulate_bgnbd,
    ungrouped_histories,
)
from nextbest.analytics.btyd.bgnbd import bgnbd_objective
from nextbest.analytics.btyd.simulate import to_days

TRUE = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # the CDNOW estimates


@pytest.fixture(scope="module")
def population() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """20k customers, cohorts over a year, times rounded to days so histories repeat."""
    rng = np.random.default_rng(11)
    T_days = rng.integers(7, 365, 20_000)
    pop = simulate_bgnbd(n=20_000, T=T_days / 7.0, seed=rng, **TRUE)
    return pop.x, to_days(pop.t_x, cap_days=T_days), T_days


def test_grouped_and_ungrouped_log_likelihoods_are_equal(
    population: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    x, t_days, T_days = population
    grouped = group_day_histories(x, t_days, T_days)
    flat = ungrouped_histories(x, t_days / 7.0, T_days / 7.0)
    model = BGNBD(r=0.3, alpha=5.0, a=0.9, b=2.0)
    direct = bgnbd_log_likelihood(**model.params(), x=x, t_x=t_days / 7.0, T=T_days / 7.0).sum()
    assert grouped.n_histories < flat.n_histories / 2
    assert model.log_likelihood(grouped) == pytest.approx(direct, rel=1e-12)
    assert model.log_likelihood(flat) == pytest.approx(direct, rel=1e-12)


@pytest.mark.parametrize("at", [[0.3, 5.0, 0.9, 2.0], [1.7, 0.4, 3.0, 0.6], [0.05, 40.0, 0.2, 9.0]])
def test_analytic_gradient_matches_finite_differences(
    population: tuple[np.ndarray, np.ndarray, np.ndarray], at: list[float]
) -> None:
    x, t_days, T_days = population
    objective = bgnbd_objective(group_day_histories(x, t_days, T_days))
    point = np.log(at)
    _, grad = objective(point)
    step = 1e-6
    numeric = [
        (objective(point + step * e)[0] - objective(point - step * e)[0]) / (2 * step)
        for e in np.eye(4)
    ]
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_parameters_are_recovered_from_a_simulated_population(
    population: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    x, t_days, T_days = population
    model = fit_bgnbd(group_day_histories(x, t_days, T_days, calibration_end="2024-12-31"))
    assert model.fit is not None and model.fit.converged
    assert model.fit.n_customers == 20_000
    assert model.fit.calibration_end == "2024-12-31"
    for name, value in model.params().items():
        assert value == pytest.approx(TRUE[name], rel=0.2), name
    # the fitted optimum beats the truth on its own data
    truth = BGNBD(**TRUE).log_likelihood(group_day_histories(x, t_days, T_days))
    assert model.fit.log_likelihood >= truth


def test_fit_records_its_inputs_and_serialises() -> None:
    h = group_histories([0, 1, 4, 0, 2], [0, 3, 20, 0, 9], [30, 30, 31, 25, 20])
    model = BGNBD(r=0.2, alpha=3.0, a=0.7, b=2.0)
    out = model.to_dict()
    assert out["model"] == "bg/nbd" and out["fit"] is None
    fitted = fit_bgnbd(h, start={"r": 0.5, "alpha": 5.0, "a": 1.0, "b": 1.0}).to_dict()
    fit = fitted["fit"]
    assert isinstance(fit, dict)
    assert fit["n_histories"] == 5 and fit["start"]["alpha"] == 5.0
    assert fit["gradient"] == "analytic"


def test_p_alive_is_one_without_repeat_purchases() -> None:
    p = bgnbd_p_alive(**TRUE, x=np.zeros(4), t_x=np.zeros(4), T=[1.0, 10.0, 39.0, 500.0])
    assert p.tolist() == [1.0, 1.0, 1.0, 1.0]
    later = bgnbd_p_alive(**TRUE, x=[3, 3, 3], t_x=[38.0, 20.0, 2.0], T=[39.0, 39.0, 39.0])
    assert later[0] > later[1] > later[2] > 0


def test_predictions_match_the_direct_hypergeometric_forms() -> None:
    r, alpha, a, b = TRUE.values()
    t = np.array([1.0, 13.0, 39.0, 78.0])
    z = t / (alpha + t)
    direct = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))
    np.testing.assert_allclose(bgnbd_expected_purchases(t, **TRUE), direct, rtol=1e-10)
    x, tx, T = np.array([1.0, 4.0, 9.0]), np.array([5.0, 30.0, 38.0]), np.full(3, 39.0)
    z = 26.0 / (alpha + T + 26.0)
    alive = bgnbd_p_alive(**TRUE, x=x, t_x=tx, T=T)
    ratio = ((alpha + T) / (alpha + T + 26.0)) ** (r + x)
    direct = (a + b + x - 1) / (a - 1) * (1 - ratio * hyp2f1(r + x, b + x, a + b + x - 1, z))
    conditional = bgnbd_conditional_expected_purchases(26.0, **TRUE, x=x, t_x=tx, T=T)
    np.testing.assert_allclose(conditional, direct * alive, rtol=1e-10)


def test_expectations_match_monte_carlo() -> None:
    """E[X(t)], E[Y(t) | history] and P(alive), summed over a simulated population."""
    n = 200_000
    pop = simulate_bgnbd(n=n, T=39.0, horizon=39.0, seed=5, **TRUE)
    model = BGNBD(**TRUE)
    # E[X(39)] is the mean calibration count of a population observed for 39 weeks
    mean_x, se_x = pop.x.mean(), pop.x.std() / np.sqrt(n)
    assert abs(float(model.expected_purchases(39.0)) - mean_x) < 4 * se_x
    h = group_histories(pop.x, pop.t_x, pop.T)
    forecast = h.expand(model.conditional_expected_purchases(39.0, x=h.x, t_x=h.t_x, T=h.T))
    assert abs(forecast.sum() - pop.future.sum()) < 4 * pop.future.std() * np.sqrt(n)
    alive = h.expand(model.p_alive(x=h.x, t_x=h.t_x, T=h.T))
    assert abs(alive.sum() - pop.alive.sum()) < 4 * np.sqrt(n * 0.25)
    # and history by history: those predicted busier are busier
    busy = forecast > np.quantile(forecast, 0.9)
    assert pop.future[busy].mean() == pytest.approx(forecast[busy].mean(), rel=0.05)
