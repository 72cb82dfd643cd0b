"""Hash assignment is stable and matches the shares; SRM flags broken splits only."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nextbest.decide.engine import in_holdout
from nextbest.decide.hashing import unit_uniform
from nextbest.experiments.assignment import (
    AssignmentError,
    assign,
    assign_many,
    srm_check,
)

ARMS = {"control": 0.2, "a": 0.3, "b": 0.5}


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_an_assignment_never_changes(experiment: str, member: str) -> None:
    first = assign(experiment, member, ARMS)
    assert all(assign(experiment, member, dict(ARMS)) == first for _ in range(3))
    assert first in ARMS


def test_assignment_is_pinned_across_releases() -> None:
    # Fixed values: a change to the hash would silently move members between arms.
    assert unit_uniform("exp-1", "m_1") == 0.14745064293154128
    assert [assign("exp-1", f"m_{i}", ARMS) for i in range(8)] == [
        "b",
        "control",
        "a",
        "b",
        "b",
        "b",
        "a",
        "b",
    ]


def test_shares_are_matched() -> None:
    members = [f"m_{i}" for i in range(60_000)]
    got = assign_many("exp-shares", members, ARMS)
    counts = [got.count(arm) for arm in ARMS]
    assert not srm_check(counts, list(ARMS.values())).flagged
    for arm, share in ARMS.items():
        assert got.count(arm) / len(members) == pytest.approx(share, abs=0.01)


def test_batch_equals_looping() -> None:
    members = [f"m_{i}" for i in range(500)]
    assert assign_many("e", members, ARMS) == [assign("e", m, ARMS) for m in members]


def test_experiments_are_independent() -> None:
    members = [f"m_{i}" for i in range(20_000)]
    halves = {"x": 0.5, "y": 0.5}
    a = np.array([assign("exp-a", m, halves) == "x" for m in members])
    b = np.array([assign("exp-b", m, halves) == "x" for m in members])
    assert abs(float(np.corrcoef(a, b)[0, 1])) < 0.03


def test_the_universal_holdout_is_the_first_arm_of_the_same_hash() -> None:
    arms = {"holdout": 0.05, "treated": 0.95}
    for i in range(5_000):
        m = f"m_{i}"
        assert (assign("universal", m, arms) == "holdout") == in_holdout(m, 0.05)


def test_a_zero_share_arm_gets_nobody() -> None:
    arms = {"off": 0.0, "on": 1.0}
    assert {assign("e", f"m_{i}", arms) for i in range(1_000)} == {"on"}


@pytest.mark.parametrize(
    ("arms", "message"),
    [
        ({}, "at least one arm"),
        ({"a": 0.5, "b": 0.6}, "sum to 1.1"),
        ({"a": -0.5, "b": 1.5}, "arm 'a'"),
        ({"a": float("nan"), "b": 1.0}, "arm 'a'"),
    ],
)
def test_bad_arms_are_refused(arms: dict[str, float], message: str) -> None:
    with pytest.raises(AssignmentError, match=message):
        assign("e", "m", arms)


def test_srm_flags_a_48_52_split_on_100k_units() -> None:
    got = srm_check([48_000, 52_000], [0.5, 0.5])
    assert got.flagged
    assert got.chi2 == pytest.approx(160.0)
    assert got.p_value < 1e-30


def test_srm_passes_a_fair_split() -> None:
    rng = np.random.default_rng(0)
    treated = int((rng.random(100_000) < 0.9).sum())
    got = srm_check([treated, 100_000 - treated], [0.9, 0.1])
    assert not got.flagged
    assert got.p_value > 0.001


def test_srm_false_alarm_rate_is_at_most_the_threshold() -> None:
    rng = np.random.default_rng(1)
    alarms = sum(
        srm_check(list(rng.multinomial(10_000, [0.2, 0.3, 0.5])), [0.2, 0.3, 0.5]).flagged
        for _ in range(2_000)
    )
    assert alarms <= 8  # expected 2 at 0.001


def test_srm_on_a_zero_share_arm_with_units_is_certain() -> None:
    assert srm_check([10, 1], [1.0, 0.0]).flagged
    assert not srm_check([0, 0], [0.5, 0.5]).flagged


def test_srm_needs_one_count_per_share() -> None:
    with pytest.raises(AssignmentError, match="3 counts for 2 shares"):
        srm_check([1, 2, 3], [0.5, 0.5])
