"""Pareto/NBD: the hypergeometric tail against quadrature, recovery, predictions by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

from nextbest.analytics.btyd import (
    ParetoNBD,
    fit_paretonbd,
    group_day_histories,
    group_histories,
    paretonbd_expected_purchases,
    paretonbd_log_likelihood,
    paretonbd_p_alive,
    simulate_paretonbd,
    ungrouped_histories,
)
from nextbest.analytics.btyd.paretonbd import log_hyp2f1_next, log_tail_integral
from nextbest.analytics.btyd.simulate import to_days

TRUE = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}  # the CDNOW estimates


@pytest.mark.parametrize(
    ("r", "alpha", "s", "beta", "x", "y"),
    [
        (0.55, 10.6, 0.61, 11.7, 0, 0.0),
        (0.55, 10.6, 0.61, 11.7, 3, 20.0),
        (2.0, 0.5, 0.3, 40.0, 12, 1.0),  # beta >> alpha
        (0.2, 60.0, 1.5, 0.4, 40, 2.0),  # alpha >> beta
        (1.0, 3.0, 0.8, 3.0, 5, 10.0),  # alpha == beta
    ],
)
def test_tail_integral_matches_quadrature(
    r: float, alpha: float, s: float, beta: float, x: int, y: float
) -> None:
    def scaled(u: float) -> float:  # divided by its value at y, so quad sees numbers near 1
        return float(
            np.exp(
                -(r + x) * (np.log(alpha + u) - np.log(alpha + y))
                - (s + 1) * (np.log(beta + u) - np.log(beta + y))
            )
        )

    value, _ = quad(scaled, y, np.inf, epsabs=0.0, epsrel=1e-12, limit=500)
    expected = np.log(value) - (r + x) * np.log(alpha + y) - (s + 1) * np.log(beta + y)
    got = log_tail_integral(r=r, alpha=alpha, s=s, beta=beta, x=x, y=y)
    assert float(got) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_hypergeometric_stays_finite_and_consistent_near_one() -> None:
    """Where scipy's 2F1 overflows or fails, the Laplace sum takes over, continuously."""
    c = np.array([1400.0, 50.0, 3.0, 0.2])
    b = np.array([2.06, 300.0, 1.0006, 40.0])
    z = np.array([0.9985, 0.995, 1 - 1e-6, 0.9999])
    values = log_hyp2f1_next(c=c, b=b, z=z)
    assert np.isfinite(values).all()
    # continuity across the switch at z = 0.999
    below = log_hyp2f1_next(c=c, b=b, z=np.full(4, 0.999 - 1e-12))
    above = log_hyp2f1_next(c=c, b=b, z=np.full(4, 0.999 + 1e-12))
    np.testing.assert_allclose(below, above, rtol=1e-8)


def test_grouped_and_ungrouped_log_likelihoods_are_equal() -> None:
    rng = np.random.default_rng(2)
    T_days = rng.integers(7, 365, 5_000)
    pop = simulate_paretonbd(n=5_000, T=T_days / 7.0, seed=rng, **TRUE)
    t_days = to_days(pop.t_x, cap_days=T_days)
    model = ParetoNBD(r=0.4, alpha=8.0, s=0.9, beta=15.0)
    direct = paretonbd_log_likelihood(
        **model.params(), x=pop.x, t_x=t_days / 7.0, T=T_days / 7.0
    ).sum()
    grouped = group_day_histories(pop.x, t_days, T_days)
    flat = ungrouped_histories(pop.x, t_days / 7.0, T_days / 7.0)
    assert grouped.n_histories < 5_000
    assert model.log_likelihood(grouped) == pytest.approx(direct, rel=1e-12)
    assert model.log_likelihood(flat) == pytest.approx(direct, rel=1e-12)


def test_parameters_are_recovered_from_a_simulated_population() -> None:
    rng = np.random.default_rng(4)
    T_days = rng.integers(7, 365, 20_000)
    pop = simulate_paretonbd(n=20_000, T=T_days / 7.0, seed=rng, **TRUE)
    h = group_day_histories(pop.x, to_days(pop.t_x, cap_days=T_days), T_days)
    model = fit_paretonbd(h)
    assert model.fit is not None and model.fit.converged
    assert model.fit.gradient == "central differences"
    for name, value in model.params().items():
        assert value == pytest.approx(TRUE[name], rel=0.25), name


def test_expectations_match_monte_carlo() -> None:
    n = 200_000
    pop = simulate_paretonbd(n=n, T=39.0, horizon=39.0, seed=8, **TRUE)
    model = ParetoNBD(**TRUE)
    assert abs(float(model.expected_purchases(39.0)) - pop.x.mean()) < 4 * pop.x.std() / n**0.5
    h = group_histories(pop.x, pop.t_x, pop.T)
    forecast = h.expand(model.conditional_expected_purchases(39.0, x=h.x, t_x=h.t_x, T=h.T))
    assert abs(forecast.sum() - pop.future.sum()) < 4 * pop.future.std() * n**0.5
    alive = h.expand(model.p_alive(x=h.x, t_x=h.t_x, T=h.T))
    assert abs(alive.sum() - pop.alive.sum()) < 4 * (n * 0.25) ** 0.5


def test_p_alive_falls_with_time_since_the_last_purchase() -> None:
    p = paretonbd_p_alive(**TRUE, x=[4, 4, 4], t_x=[38.0, 20.0, 2.0], T=[39.0, 39.0, 39.0])
    assert 1 > p[0] > p[1] > p[2] > 0


def test_expected_purchases_at_s_equal_one_is_the_limit() -> None:
    t = np.array([10.0, 52.0])
    at_one = paretonbd_expected_purchases(t, r=0.5, alpha=10.0, s=1.0, beta=12.0)
    near = paretonbd_expected_purchases(t, r=0.5, alpha=10.0, s=1.0 + 1e-7, beta=12.0)
    np.testing.assert_allclose(at_one, near, rtol=1e-6)
