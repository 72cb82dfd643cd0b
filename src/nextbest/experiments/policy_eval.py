"""Evaluate a policy on nextbest's own decision log before it goes live.

Every logged decision keeps its eligible candidates with their scores and the propensity the
engine drew each with, the one chosen, and (once its outcome window closed) its reward. A
target policy gives a distribution over the same candidates; IPS, SNIPS and DR (``ope``)
then estimate the reward it would have earned. The reward model of DM and DR is each
(action, channel)'s mean logged reward, shrunk towards the overall mean: simple, and DR stays
unbiased whatever its quality. Decisions of the universal holdout are left out: the engine
did not draw them.

Pure: rows in, estimates out; ``load_logged`` in ``policy_log`` reads the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nextbest.experiments.ope import Estimate, estimate_all

SHRINK = 10.0  # pseudo-decisions of the overall mean in each action's reward model


@dataclass(frozen=True, slots=True)
class Option:
    key: str  # "action@channel"; "action@" without a channel
    score: float
    propensity: float


@dataclass(frozen=True, slots=True)
class LoggedDecision:
    decision_id: str
    chosen: str  # an Option key
    propensity: float
    reward: float
    options: tuple[Option, ...]


Policy = Callable[[LoggedDecision], dict[str, float]]


def option_key(action: str, channel: str | None) -> str:
    return f"{action}@{channel or ''}"


def logged_policy(d: LoggedDecision) -> dict[str, float]:
    """What the engine drew with: IPS of it is the mean logged reward (a sanity check)."""
    return {o.key: o.propensity for o in d.options}


def greedy_policy(d: LoggedDecision) -> dict[str, float]:
    """No exploration: always the best-scored candidate (the first on a tie)."""
    best = max(d.options, key=lambda o: o.score)
    return {best.key: 1.0}


def uniform_policy(d: LoggedDecision) -> dict[str, float]:
    return {o.key: 1.0 / len(d.options) for o in d.options}


def without_policy(action: str) -> Policy:
    """The logged policy with one action switched off, its share spread over the rest."""

    def policy(d: LoggedDecision) -> dict[str, float]:
        kept = {o.key: o.propensity for o in d.options if not o.key.startswith(f"{action}@")}
        total = sum(kept.values())
        if not kept or total <= 0:
            return {}
        return {k: p / total for k, p in kept.items()}

    return policy


def policy_named(name: str) -> Policy:
    """``logged``, ``greedy``, ``uniform`` or ``without:<action id>``.

    >>> policy_named("without:cross-sell-lunch").__name__
    'policy'
    """
    fixed: Mapping[str, Policy] = {
        "logged": logged_policy,
        "greedy": greedy_policy,
        "uniform": uniform_policy,
    }
    if name in fixed:
        return fixed[name]
    if name.startswith("without:") and len(name) > len("without:"):
        return without_policy(name.split(":", 1)[1])
    raise ValueError(f"unknown policy {name!r}: logged, greedy, uniform or without:<action id>")


@dataclass(frozen=True, slots=True)
class PolicyValue:
    policy: str
    decisions: int  # evaluated
    skipped: int  # the policy had no option for them
    logged_value: float  # mean reward of what was logged over the same decisions
    estimates: dict[str, Estimate]

    def as_dict(self) -> dict[str, object]:
        return {
            "policy": self.policy,
            "decisions": self.decisions,
            "skipped": self.skipped,
            "logged_value": self.logged_value,
            "estimates": {
                name: {
                    "value": e.value,
                    "low": e.low,
                    "high": e.high,
                    "std_error": e.std_error,
                    "ratio_to_logged": e.value / self.logged_value if self.logged_value else None,
                }
                for name, e in self.estimates.items()
            },
        }


def evaluate_policy(
    name: str, decisions: Sequence[LoggedDecision], *, level: float = 0.95
) -> PolicyValue:
    """IPS, SNIPS, DM and DR of policy ``name`` over the logged decisions.

    >>> log = [LoggedDecision("d1", "a@email", 0.5, 1.0, (Option("a@email", 1.0, 0.5),
    ...        Option("b@email", 0.5, 0.5))), LoggedDecision("d2", "b@email", 0.5, 0.0,
    ...        (Option("a@email", 1.0, 0.5), Option("b@email", 0.5, 0.5)))]
    >>> v = evaluate_policy("greedy", log)
    >>> v.estimates["ips"].value, v.logged_value
    (1.0, 0.5)
    """
    policy = policy_named(name)
    rows: list[tuple[LoggedDecision, dict[str, float]]] = []
    for d in decisions:
        dist = policy(d)
        if dist:
            rows.append((d, dist))
    skipped = len(decisions) - len(rows)
    if not rows:
        raise ValueError(f"policy {name!r} has no option for any of the {len(decisions)} decisions")
    keys = sorted({o.key for d, _ in rows for o in d.options} | {d.chosen for d, _ in rows})
    column = {k: i for i, k in enumerate(keys)}
    n, k = len(rows), len(keys)
    reward = np.array([d.reward for d, _ in rows], dtype=np.float64)
    pscore = np.array([d.propensity for d, _ in rows], dtype=np.float64)
    action = np.array([column[d.chosen] for d, _ in rows], dtype=np.int64)
    action_dist = np.zeros((n, k), dtype=np.float64)
    for i, (_d, dist) in enumerate(rows):
        for key, p in dist.items():
            action_dist[i, column[key]] = p
    q = np.broadcast_to(_reward_model(reward, action, k), (n, k))
    estimates = estimate_all(
        reward=reward, pscore=pscore, action=action, action_dist=action_dist, q=q, level=level
    )
    return PolicyValue(
        policy=name,
        decisions=n,
        skipped=skipped,
        logged_value=float(reward.mean()),
        estimates={str(name): e for name, e in estimates.items()},
    )


def _reward_model(
    reward: npt.NDArray[np.float64], action: npt.NDArray[np.int64], k: int
) -> npt.NDArray[np.float64]:
    """Each action's mean reward, shrunk towards the overall mean by ``SHRINK`` decisions."""
    overall = float(reward.mean())
    sums = np.bincount(action, weights=reward, minlength=k)
    counts = np.bincount(action, minlength=k).astype(np.float64)
    return (sums + SHRINK * overall) / (counts + SHRINK)
