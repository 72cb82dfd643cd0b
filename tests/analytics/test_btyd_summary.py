"""Summaries and grouping: the papers' conventions, against a plain Python reference."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import numpy as np
import pytest

from nextbest.analytics.btyd import (
    BGNBD,
    group_day_histories,
    group_histories,
    holdout_check,
    summarise,
    tracking_curve,
)
from nextbest.analytics.btyd import histories as histories_module
from nextbest.analytics.btyd.summary import cumulative_by_day


def test_conventions_on_a_small_example() -> None:
    rows = [
        ("a", "2024-01-01", 5.0),
        ("a", "2024-01-01", 7.0),  # same day: one purchase of 12
        ("a", "2024-01-08", 10.0),
        ("a", "2024-01-22", 30.0),
        ("a", "2024-02-05", 1.0),  # holdout
        ("a", "2024-02-05", 2.0),  # holdout, same day
        ("b", "2024-01-15", 9.0),
        ("c", "2024-02-01", 4.0),  # first purchase after calibration: left out
    ]
    ids, days, amounts = zip(*rows, strict=True)
    s = summarise(
        customer_ids=ids,
        dates=days,
        amounts=amounts,
        calibration_end="2024-01-29",
        holdout_end="2024-02-26",
    )
    assert s.customer_ids.tolist() == ["a", "b"]
    assert s.frequency.tolist() == [2, 0]
    assert s.recency_days.tolist() == [21, 0] and s.age_days.tolist() == [28, 14]
    assert s.t_x.tolist() == [3.0, 0.0] and s.T.tolist() == [4.0, 2.0]
    assert s.monetary[0] == 20.0 and np.isnan(s.monetary[1])  # first purchase excluded
    assert s.holdout_frequency is not None and s.holdout_frequency.tolist() == [1, 0]
    assert s.holdout_length == 4.0
    assert s.n_transactions == 8
    assert str(s.origin) == "2024-01-01"
    assert s.daily_repeats.sum() == 3  # two in calibration, one in the holdout
    days_s = summarise(
        customer_ids=ids, dates=days, amounts=amounts, calibration_end="2024-01-29", unit_days=1
    )
    assert days_s.t_x.tolist() == [21.0, 0.0]


def _reference(
    rows: list[tuple[int, date, float]], end: date, holdout_end: date
) -> dict[int, tuple[int, int, int, float, int]]:
    """The definitions, one customer at a time."""
    by_customer: dict[int, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    for customer, day, amount in rows:
        by_customer[customer][day] += amount
    out = {}
    for customer, spend in by_customer.items():
        days = sorted(spend)
        first = days[0]
        if first > end:
            continue
        repeats = [d for d in days[1:] if d <= end]
        held = [d for d in days if end < d <= holdout_end]
        last = repeats[-1] if repeats else first
        mean = sum(spend[d] for d in repeats) / len(repeats) if repeats else float("nan")
        out[customer] = (len(repeats), (last - first).days, (end - first).days, mean, len(held))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_summaries_match_the_definitions(seed: int) -> None:
    rng = np.random.default_rng(seed)
    start, end, holdout_end = date(2023, 1, 1), date(2023, 6, 30), date(2023, 12, 31)
    n = 3_000
    customers = rng.integers(0, 400, n)
    offsets = rng.integers(0, 365, n)
    amounts = np.round(rng.gamma(2.0, 10.0, n), 2)
    rows = [
        (int(c), start + timedelta(days=int(o)), float(a))
        for c, o, a in zip(customers, offsets, amounts, strict=True)
    ]
    expected = _reference(rows, end, holdout_end)
    s = summarise(
        customer_ids=customers,
        dates=np.datetime64("2023-01-01") + offsets.astype("timedelta64[D]"),
        amounts=amounts,
        calibration_end=end,
        holdout_end=holdout_end,
    )
    assert s.customer_ids.tolist() == sorted(expected)
    assert s.holdout_frequency is not None
    for i, customer in enumerate(s.customer_ids.tolist()):
        x, t_x, T, mean, held = expected[customer]
        assert (s.frequency[i], s.recency_days[i], s.age_days[i]) == (x, t_x, T)
        assert s.holdout_frequency[i] == held
        if x:
            assert s.monetary[i] == pytest.approx(mean)
        else:
            assert np.isnan(s.monetary[i])
    assert s.daily_repeats.sum() == sum(x + held for x, _, _, _, held in expected.values())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dates": ["2024-01-01", "NaT"]}, "missing"),
        ({"amounts": [1.0, float("nan")]}, "not finite"),
        ({"customer_ids": ["a"]}, "one length"),
        ({"holdout_end": "2024-01-01"}, "must be after"),
        ({"calibration_end": "2023-01-01"}, "no customer made a first purchase"),
        ({"unit_days": 0}, "unit_days must be positive"),
    ],
)
def test_invalid_inputs_are_refused(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {
        "customer_ids": ["a", "a"],
        "dates": ["2024-01-01", "2024-01-05"],
        "amounts": [1.0, 2.0],
        "calibration_end": "2024-01-10",
    }
    with pytest.raises(ValueError, match=message):
        summarise(**{**base, **kwargs})  # type: ignore[arg-type]


def test_grouping_matches_numpy_unique_and_expands_back() -> None:
    rng = np.random.default_rng(3)
    T_days = rng.integers(0, 100, 50_000)
    x = rng.poisson(1.0, 50_000) * (T_days > 0)
    t_days = np.where(x > 0, rng.integers(0, 100, 50_000) % (T_days + 1), 0)
    h = group_day_histories(x, t_days, T_days)
    rows, counts = np.unique(np.stack([x, t_days, T_days], axis=1), axis=0, return_counts=True)
    assert h.n_histories == len(rows) and h.n_customers == 50_000
    np.testing.assert_allclose(np.stack([h.x, h.t_x * 7, h.T * 7], axis=1), rows, rtol=1e-12)
    np.testing.assert_array_equal(h.weight, counts)
    np.testing.assert_array_equal(h.expand(h.x), x)
    np.testing.assert_array_equal(h.x_values[h.x_index], h.x)
    np.testing.assert_array_equal(h.T_values[h.T_index], h.T)
    floats = group_histories(x, t_days / 7.0, T_days / 7.0)
    np.testing.assert_array_equal(floats.weight, h.weight)
    np.testing.assert_array_equal(floats.t_x, h.t_x)


def test_sorting_fallback_groups_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    T = rng.integers(1, 60, 5_000)
    x = rng.integers(0, 3, 5_000)
    t = np.where(x > 0, T // 2, 0)
    dense = group_day_histories(x, t, T)
    monkeypatch.setattr(histories_module, "_DENSE_KEYS", 0)
    sorted_ = group_day_histories(x, t, T)
    np.testing.assert_array_equal(dense.weight, sorted_.weight)
    np.testing.assert_array_equal(dense.inverse, sorted_.inverse)


@pytest.mark.parametrize(
    ("x", "t_x", "T", "message"),
    [
        ([1], [5], [3], r"t_x must lie in \[0, T\]"),
        ([0], [2], [3], "t_x must be 0 when x is 0"),
        ([-1], [0], [3], "non-negative whole number"),
        ([1.5], [1], [3], "non-negative whole number"),
    ],
)
def test_impossible_histories_are_refused(
    x: list[float], t_x: list[float], T: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        group_histories(x, t_x, T)


def test_day_grouping_wants_integers() -> None:
    with pytest.raises(TypeError, match="integers"):
        group_day_histories([1], [0.5], [3])


def test_holdout_and_tracking_checks_count_what_happened() -> None:
    ids = ["a", "a", "a", "b", "b", "c"]
    days = ["2024-01-01", "2024-01-10", "2024-02-02", "2024-01-03", "2024-02-20", "2024-01-20"]
    s = summarise(
        customer_ids=ids, dates=days, calibration_end="2024-01-28", holdout_end="2024-02-25"
    )
    model = BGNBD(r=0.5, alpha=3.0, a=0.8, b=2.5)
    check = holdout_check(model, s, checkpoints=[1, 4])
    assert check.actual_total == 2 and check.customers == 3
    assert [c.actual for c in check.checkpoints] == [1, 2]  # 2024-02-02, then 2024-02-20
    assert check.checkpoints[-1].forecast == pytest.approx(check.forecast_total)
    assert check.to_dict()["relative_error"] == pytest.approx((check.forecast_total - 2) / 2)
    curve = tracking_curve(model, s, at_units=[1, 2, 8])
    assert [c.actual for c in curve] == [0, 1, 3]
    assert curve[0].forecast < curve[1].forecast < curve[2].forecast
    assert cumulative_by_day(s.daily_repeats, [9, 32]).tolist() == [1, 2]
