"""The published CDNOW sample estimates, reproduced to 3 significant digits (needs the wheel)."""

from __future__ import annotations

from typing import Any

import pytest

from nextbest.bench.cdnow import PUBLISHED, holdout_figures, reproduce_published, significant


@pytest.fixture(scope="module")
def reproduced() -> tuple[Any, ...]:
    return reproduce_published()


@pytest.mark.parametrize("model", ["bg/nbd", "pareto/nbd", "gamma-gamma"])
def test_published_estimates_match(reproduced: tuple[Any, ...], model: str) -> None:
    figures = reproduced[0]
    block = figures[model]
    for row in block["params"]:
        assert significant(row["ours"]) == significant(PUBLISHED[model]["params"][row["param"]])
    ll = block["log_likelihood"]
    assert round(ll["ours"], 1) == PUBLISHED[model]["log_likelihood"]
    # the published log-likelihoods are complete: ours at their parameters gives them too
    assert round(ll["ours_at_published_params"], 1) == PUBLISHED[model]["log_likelihood"]
    assert block["all_match"]
    fit = figures["fits"][model]["fit"]
    assert fit["converged"]


def test_sample_summary_and_counts(reproduced: tuple[Any, ...]) -> None:
    figures = reproduced[0]
    assert figures["customers"] == 2_357 and figures["transactions"] == 6_919
    assert figures["repeat_customers"] == 946
    check = figures["summary_cross_check"]
    assert check["same_customers"] and check["frequency_equal"]
    assert check["max_abs_recency_diff_weeks"] < 0.005 and check["max_abs_T_diff_weeks"] < 0.005


def test_holdout_forecasts_are_close_to_the_actuals(reproduced: tuple[Any, ...]) -> None:
    _, summary, bg, pn, _ = reproduced
    holdout = holdout_figures(summary, [bg, pn])
    for name in ("bg/nbd", "pareto/nbd"):
        check = holdout[name]["holdout"]
        assert check["actual_total"] == 1_882  # repeat purchase days in weeks 40-78
        assert abs(check["relative_error"]) < 0.15
        assert check["correlation"] > 0.6
        week_78 = holdout[name]["tracking_from_week_1"][-1]
        assert week_78["actual"] == 4_339 and abs(week_78["relative_error"]) < 0.05
