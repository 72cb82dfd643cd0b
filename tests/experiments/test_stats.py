"""Lift, CUPED, probability to beat and sample sizes against known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nextbest.experiments.stats import (
    StatsError,
    cuped_lift,
    lift,
    prob_beat_binary,
    prob_beat_normal,
    sample_size_means,
    sample_size_proportions,
    verdict,
)
from nextbest.journeys.stats import lift_interval

RUNS = 1_000
# 0.95 within three binomial standard deviations over RUNS simulated A/A tests
TOLERANCE = 3 * math.sqrt(0.95 * 0.05 / RUNS)


def _coverage(hits: int) -> float:
    return hits / RUNS


def test_a_a_binary_intervals_cover_zero_at_the_stated_rate() -> None:
    rng = np.random.default_rng(20261203)
    hits = 0
    for _ in range(RUNS):
        a = (rng.random(2_000) < 0.1).astype(float)
        b = (rng.random(2_000) < 0.1).astype(float)
        lo, hi = lift(a, b, kind="binary").ci
        hits += lo <= 0 <= hi
    assert abs(_coverage(hits) - 0.95) < TOLERANCE


def test_a_a_continuous_and_cuped_intervals_cover_zero_at_the_stated_rate() -> None:
    rng = np.random.default_rng(7)
    plain = cuped = 0
    for _ in range(RUNS):
        x1, x0 = rng.gamma(2.0, 10.0, 500), rng.gamma(2.0, 10.0, 400)
        y1 = 0.8 * x1 + rng.exponential(5.0, 500)
        y0 = 0.8 * x0 + rng.exponential(5.0, 400)
        lo, hi = lift(y1, y0, kind="continuous").ci
        plain += lo <= 0 <= hi
        lo, hi = cuped_lift(y1, y0, treatment_pre=x1, control_pre=x0, kind="continuous").lift.ci
        cuped += lo <= 0 <= hi
    assert abs(_coverage(plain) - 0.95) < TOLERANCE
    assert abs(_coverage(cuped) - 0.95) < TOLERANCE


def test_cuped_cuts_variance_when_the_covariate_correlates_and_stays_unbiased() -> None:
    rng = np.random.default_rng(11)
    effect, plain, adjusted, cuts = 2.0, [], [], []
    for _ in range(300):
        x1, x0 = rng.normal(50, 10, 1_000), rng.normal(50, 10, 1_000)
        y1 = x1 + rng.normal(0, 5, 1_000) + effect
        y0 = x0 + rng.normal(0, 5, 1_000)
        got = cuped_lift(y1, y0, treatment_pre=x1, control_pre=x0, kind="continuous")
        plain.append(lift(y1, y0, kind="continuous").absolute)
        adjusted.append(got.lift.absolute)
        cuts.append(got.variance_reduction)
    # corr(x, y)^2 = 100 / 125 = 0.8 of the variance is explained by the pre-period
    assert np.mean(cuts) == pytest.approx(0.8, abs=0.02)
    assert np.var(adjusted) < 0.3 * np.var(plain)
    assert np.mean(adjusted) == pytest.approx(
        effect, abs=3 * float(np.std(adjusted)) / math.sqrt(300)
    )


def test_cuped_with_an_unrelated_covariate_changes_almost_nothing() -> None:
    rng = np.random.default_rng(3)
    y1, y0 = rng.normal(10, 2, 5_000), rng.normal(10, 2, 5_000)
    x1, x0 = rng.normal(0, 1, 5_000), rng.normal(0, 1, 5_000)
    got = cuped_lift(y1, y0, treatment_pre=x1, control_pre=x0, kind="continuous")
    assert abs(got.variance_reduction) < 0.01
    assert got.theta == pytest.approx(0.0, abs=0.05)


def test_constant_covariate_gives_theta_zero() -> None:
    got = cuped_lift(
        [1.0, 2.0, 3.0], [1.0, 1.5], treatment_pre=[0, 0, 0], control_pre=[0, 0], kind="continuous"
    )
    assert got.theta == 0.0
    assert got.variance_reduction == pytest.approx(0.0)


def test_binary_lift_agrees_with_the_journey_goal_interval() -> None:
    got = lift([1] * 37 + [0] * 163, [1] * 21 + [0] * 179, kind="binary")
    journey = lift_interval(37, 200, 21, 179 + 21)
    assert journey is not None
    assert got.absolute == pytest.approx(journey[0])
    assert got.ci == pytest.approx(journey[1], rel=1e-6)


def test_welch_matches_scipy() -> None:
    from scipy import stats as sps

    rng = np.random.default_rng(5)
    a, b = rng.normal(1.0, 1.0, 40), rng.normal(0.5, 3.0, 25)
    got = lift(a, b, kind="continuous")
    ref = sps.ttest_ind(a, b, equal_var=False)
    assert got.p_value == pytest.approx(float(ref.pvalue), rel=1e-9)
    lo, hi = ref.confidence_interval(0.95)
    assert got.ci == pytest.approx((float(lo), float(hi)), rel=1e-9)


def test_relative_interval_covers_the_true_ratio() -> None:
    rng = np.random.default_rng(9)
    hits = 0
    for _ in range(RUNS):
        a, b = rng.exponential(12.0, 800), rng.exponential(10.0, 800)
        got = lift(a, b, kind="continuous")
        assert got.relative_ci is not None
        hits += got.relative_ci[0] <= 0.2 <= got.relative_ci[1]
    assert abs(_coverage(hits) - 0.95) < TOLERANCE


def test_exact_probability_to_beat_matches_monte_carlo() -> None:
    rng = np.random.default_rng(1)
    for x1, n1, x0, n0 in [(30, 100, 20, 100), (3, 40, 5, 60), (480, 5_000, 500, 5_000)]:
        t = rng.beta(x1 + 1, n1 - x1 + 1, 400_000)
        c = rng.beta(x0 + 1, n0 - x0 + 1, 400_000)
        assert prob_beat_binary(x1=x1, n1=n1, x0=x0, n0=n0) == pytest.approx(
            float((t > c).mean()), abs=0.004
        )


def test_probability_to_beat_is_symmetric() -> None:
    p = prob_beat_binary(x1=12, n1=90, x0=30, n0=110)
    assert p + prob_beat_binary(x1=30, n1=110, x0=12, n0=90) == pytest.approx(1.0)
    assert prob_beat_normal(-1.0, 1.0) + prob_beat_normal(1.0, 1.0) == pytest.approx(1.0)


def test_sample_size_matches_the_textbook() -> None:
    # 10% baseline, +2 points, alpha 0.05 two-sided, 80% power: 3,841 per arm (Fleiss,
    # no continuity correction; the figure common online calculators give).
    assert sample_size_proportions(baseline=0.10, mde=0.02) == (3841, 3841)
    # Means: 2 (z_0.975 + z_0.8)^2 sigma^2 / delta^2 = 392.4 per arm for delta = sigma / 5.
    assert sample_size_means(sd=1.0, mde=0.2) == (393, 393)


def test_an_unequal_split_needs_more_units_in_all() -> None:
    t, c = sample_size_proportions(baseline=0.10, mde=0.02, treatment_share=0.9)
    assert t + c > 2 * 3841
    assert t / (t + c) == pytest.approx(0.9, abs=0.001)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: lift([1.0], [1.0, 2.0], kind="continuous"), "need at least 2"),
        (lambda: lift([0.0, 2.0], [1.0, 0.0], kind="binary"), "must be 0 or 1"),
        (lambda: lift([0.0, float("nan")], [1.0, 0.0], kind="continuous"), "NaN"),
        (lambda: sample_size_proportions(baseline=0.0, mde=0.1), "rates must be in"),
        (lambda: sample_size_proportions(baseline=0.1, mde=0.1, power=1.0), "power"),
        (lambda: sample_size_means(sd=0.0, mde=0.1), "sd 0.0"),
        (lambda: prob_beat_binary(x1=5, n1=4, x0=0, n0=1), "5 successes out of 4"),
        (
            lambda: cuped_lift(
                [1.0, 2.0],
                [1.0, 2.0],
                treatment_pre=[1.0, 2.0, 3.0],
                control_pre=[1.0, 2.0],
                kind="continuous",
            ),
            "one covariate value per unit",
        ),
    ],
)
def test_invalid_inputs_say_why(call: object, message: str) -> None:
    with pytest.raises(StatsError, match=message):
        call()  # type: ignore[operator]


def test_no_call_before_the_horizon_or_under_a_broken_split() -> None:
    assert verdict((0.5, 1.0), reached=False) == "too early"
    assert verdict((0.5, 1.0), reached=True, srm=True) == "sample ratio mismatch"
    assert verdict((-1.0, 1.0), reached=True) == "no difference"
    assert verdict((-1.0, -0.5), reached=True, higher_is_better=False) == "better"
