"""Off-policy estimators against answers known by construction."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nextbest.experiments.ope import (
    direct_method,
    doubly_robust,
    estimate_all,
    ips,
    snips,
)

FloatArray = npt.NDArray[np.float64]


def _softmax(scores: FloatArray) -> FloatArray:
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    out: FloatArray = e / e.sum(axis=1, keepdims=True)
    return out


class Bandit:
    """A contextual bandit with known click rates, a logging and an evaluation policy."""

    def __init__(self, *, n_contexts: int = 20, n_actions: int = 5, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.n_actions = n_actions
        self.mu = rng.uniform(0.05, 0.6, size=(n_contexts, n_actions))
        self.logging = _softmax(rng.normal(size=(n_contexts, n_actions)))
        self.evaluation = _softmax(2.0 * rng.normal(size=(n_contexts, n_actions)))
        # contexts are drawn uniformly, so the value is the plain mean over contexts
        self.truth = float((self.evaluation * self.mu).sum(axis=1).mean())

    def log(self, n: int, rng: np.random.Generator) -> dict[str, Any]:
        x = rng.integers(0, self.mu.shape[0], size=n)
        u = rng.random(n)[:, None]
        a = (u > self.logging[x].cumsum(axis=1)).sum(axis=1)
        a = np.minimum(a, self.n_actions - 1)
        rows = np.arange(n)
        reward = (rng.random(n) < self.mu[x, a]).astype(np.float64)
        return {
            "x": x,
            "action": a,
            "reward": reward,
            "pscore": self.logging[x, a],
            "target": self.evaluation[x, a],
            "action_dist": self.evaluation[x],
            "rows": rows,
        }


@settings(max_examples=50, deadline=None)
@given(
    rewards=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=50),
    p=st.floats(0.01, 1.0),
)
def test_evaluating_the_logging_policy_gives_the_sample_mean(
    rewards: list[float], p: float
) -> None:
    r = np.array(rewards)
    same = [p] * r.size
    for estimator in (ips, snips):
        e = estimator(reward=r, pscore=same, target=same)
        assert e.value == pytest.approx(r.mean(), abs=1e-12)
        assert e.n == r.size and e.low <= e.value <= e.high


@settings(max_examples=50, deadline=None)
@given(
    weights=st.lists(st.floats(0.01, 1.0), min_size=2, max_size=40),
    constant=st.floats(0.0, 1.0),
    scale=st.floats(0.05, 1.0),
)
def test_snips_weights_normalise(weights: list[float], constant: float, scale: float) -> None:
    target = np.array(weights)
    pscore = np.full(target.size, 1.0)
    # a constant reward is recovered whatever the weights ...
    flat = snips(reward=np.full(target.size, constant), pscore=pscore, target=target)
    assert flat.value == pytest.approx(constant, abs=1e-12)
    assert flat.std_error == pytest.approx(0.0, abs=1e-12)
    # ... and rescaling every weight changes nothing
    r = np.linspace(0.0, 1.0, target.size)
    a = snips(reward=r, pscore=pscore, target=target)
    b = snips(reward=r, pscore=pscore, target=target * scale)
    assert a.value == pytest.approx(b.value, rel=1e-9)
    assert a.std_error == pytest.approx(b.std_error, rel=1e-9, abs=1e-15)


def test_estimators_are_unbiased_and_intervals_cover_on_a_simulated_bandit() -> None:
    bandit = Bandit(seed=3)
    rng = np.random.default_rng(11)
    q = np.clip(bandit.mu + 0.1, 0.0, 1.0)  # a biased reward model: DM is off, DR is not
    values: dict[str, list[float]] = {"ips": [], "snips": [], "dm": [], "dr": []}
    covered = dict.fromkeys(values, 0)
    reps = 200
    for _ in range(reps):
        log = bandit.log(2000, rng)
        estimates = estimate_all(
            reward=log["reward"],
            pscore=log["pscore"],
            action=log["action"],
            action_dist=log["action_dist"],
            q=q[log["x"]],
        )
        for name, e in estimates.items():
            values[name].append(e.value)
            covered[name] += e.covers(bandit.truth)
    for name in ("ips", "snips", "dr"):
        spread = np.std(values[name]) / np.sqrt(reps)
        assert abs(np.mean(values[name]) - bandit.truth) < 4 * spread + 1e-3, name
        assert 0.9 <= covered[name] / reps <= 0.99, (name, covered[name])
    # the direct method inherits the model's +0.1 bias, and its interval ignores it
    assert np.mean(values["dm"]) == pytest.approx(bandit.truth + 0.1, abs=0.01)
    assert covered["dm"] == 0


def test_doubly_robust_with_a_perfect_reward_model_equals_the_truth() -> None:
    bandit = Bandit(seed=5)
    rng = np.random.default_rng(2)
    log = bandit.log(500, rng)
    x = log["x"]
    # deterministic rewards equal to the model: every residual vanishes
    exact_reward = bandit.mu[x, log["action"]]
    dr = doubly_robust(
        reward=exact_reward,
        pscore=log["pscore"],
        action=log["action"],
        action_dist=log["action_dist"],
        q=bandit.mu[x],
    )
    dm = direct_method(action_dist=log["action_dist"], q=bandit.mu[x])
    sample_truth = float((bandit.evaluation[x] * bandit.mu[x]).sum(axis=1).mean())
    assert dr.value == pytest.approx(sample_truth, rel=1e-12)
    assert dm.value == pytest.approx(sample_truth, rel=1e-12)


def test_doubly_robust_with_a_zero_model_is_ips() -> None:
    bandit = Bandit(seed=7)
    log = bandit.log(300, np.random.default_rng(4))
    zero = np.zeros_like(log["action_dist"])
    dr = doubly_robust(
        reward=log["reward"],
        pscore=log["pscore"],
        action=log["action"],
        action_dist=log["action_dist"],
        q=zero,
    )
    plain = ips(reward=log["reward"], pscore=log["pscore"], target=log["target"])
    assert dr.value == pytest.approx(plain.value, rel=1e-12)
    assert dr.std_error == pytest.approx(plain.std_error, rel=1e-12)


def test_interval_widens_with_level_and_is_normal() -> None:
    r = np.array([0.0, 1.0] * 50)
    p = np.full(r.size, 0.5)
    narrow = ips(reward=r, pscore=p, target=p, level=0.8)
    wide = ips(reward=r, pscore=p, target=p, level=0.99)
    assert wide.low < narrow.low < narrow.value < narrow.high < wide.high
    assert narrow.std_error == pytest.approx(np.std(r, ddof=1) / np.sqrt(r.size))
    assert wide.high - wide.value == pytest.approx(2.5758293 * wide.std_error, rel=1e-6)
    one = ips(reward=[1.0], pscore=[0.5], target=[0.5])
    assert one.std_error == float("inf")


GOOD: dict[str, Any] = {
    "reward": [1.0, 0.0],
    "pscore": [0.5, 0.5],
    "action": [0, 1],
    "action_dist": [[0.5, 0.5], [0.5, 0.5]],
    "q": [[0.1, 0.2], [0.3, 0.4]],
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"reward": [1.0]}, "1 rewards but 2 rows"),
        ({"reward": [[1.0, 0.0]]}, "reward must be one-dimensional"),
        ({"reward": [float("nan"), 0.0]}, "reward has a non-finite value at row 0"),
        ({"pscore": [0.5, 0.0]}, r"pscore must be in \(0, 1\]; row 1"),
        ({"pscore": [1.5, 0.5]}, r"pscore must be in \(0, 1\]; row 0"),
        ({"action": [0, 2]}, r"action index out of range 0\.\.1"),
        ({"action": [0.0, 1.0]}, "action must hold integer indices"),
        ({"action": [0]}, r"action must have one index per row \(2\)"),
        ({"action_dist": [[0.5, 0.4], [0.5, 0.5]]}, "action_dist row 0 sums to 0.9, not 1"),
        ({"action_dist": [[1.5, -0.5], [0.5, 0.5]]}, "action_dist has a negative probability"),
        ({"action_dist": [0.5, 0.5]}, r"action_dist must be \(rows, actions\)"),
        ({"q": [[0.1, 0.2]]}, r"q has shape \(1, 2\) but action_dist has \(2, 2\)"),
        ({"q": [[0.1, float("inf")], [0.3, 0.4]]}, "action_dist and q must be finite"),
    ],
)
def test_invalid_inputs_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        estimate_all(**{**GOOD, **change})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reward": [], "pscore": [], "target": []}, "no logged rows"),
        ({"reward": [1.0], "pscore": [0.5, 0.5], "target": [0.5]}, "differ in length: 1, 2, 1"),
        ({"reward": [1.0], "pscore": [0.5], "target": [1.5]}, r"target must be in \[0, 1\]"),
        ({"reward": [1.0], "pscore": [0.5], "target": [0.5], "level": 1.0}, "level must be"),
    ],
)
def test_invalid_logged_rows_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ips(**kwargs)


def test_snips_refuses_all_zero_weights() -> None:
    with pytest.raises(ValueError, match="probability 0"):
        snips(reward=[1.0, 0.0], pscore=[0.5, 0.5], target=[0.0, 0.0])
