"""What the learner converges to from settled decisions: the response if the message is
seen (not diluted by members who never saw it), and the control at each rival's channel."""

from __future__ import annotations

import numpy as np

from nextbest.decide.catalogue import parse_catalogue
from nextbest.decide.learner import CONTROL, Learner, context_features
from nextbest.decide.outcomes import teach_outcome

CATALOGUE = """
catalogue: learning
cost_per_point: 0.01
breakage: 0
learning: {holdout_share: 0, exploration: 0.02}
actions:
  - {id: hello, kind: message, name: Hello, priority: marketing, channels: [email],
     purpose: marketing, value: 10, response: 0.2, baseline: 0.1, cost: 0.01}
  - {id: rest, kind: nothing, name: Nothing, priority: marketing}
"""
TRUE_TREATED, TRUE_CONTROL, SEEN = 0.5, 0.1, 0.4


def _record(seen: float, p_control: float, *, nothing: bool = False) -> dict[str, object]:
    x = context_features(churn_risk=0.3, days_since_purchase=20, purchases=4, engagement=seen)
    hello = {"action": "hello", "seen": seen, "p_control": p_control}
    rest = {"action": "rest"}
    if nothing:  # the do-nothing candidate is scored at full engagement
        x = context_features(churn_risk=0.3, days_since_purchase=20, purchases=4, engagement=1.0)
    return {"features": x.tolist(), "facts": {"env": {}}, "candidates": [hello, rest]}


def test_the_treated_response_is_learned_as_if_seen() -> None:
    catalogue = parse_catalogue(CATALOGUE)
    hello = catalogue.actions[0]
    learner = Learner(prior_strength=20)
    rng = np.random.default_rng(3)
    # Only 40% see the message; the others convert at the control rate.
    rate = TRUE_CONTROL + SEEN * (TRUE_TREATED - TRUE_CONTROL)
    record = _record(SEEN, TRUE_CONTROL)
    for _ in range(6000):
        assert teach_outcome(learner, catalogue, hello, record, float(rng.random() < rate))
    x = np.array([record["features"]])
    mean, _sd = learner.correction(["hello"], x)
    learned = 0.2 + float(mean[0])
    # Learning reward minus the prior, undiluted, would settle at the blended 0.26.
    assert abs(learned - TRUE_TREATED) < 0.06, learned


def test_doing_nothing_teaches_the_control_at_the_rivals_engagement() -> None:
    catalogue = parse_catalogue(CATALOGUE)
    rest = catalogue.actions[1]
    learner = Learner(prior_strength=20)
    rng = np.random.default_rng(4)
    record = _record(SEEN, TRUE_CONTROL, nothing=True)
    for _ in range(4000):
        teach_outcome(learner, catalogue, rest, record, float(rng.random() < TRUE_CONTROL))
    at_rival = context_features(
        churn_risk=0.3, days_since_purchase=20, purchases=4, engagement=SEEN
    )
    mean, _sd = learner.correction([CONTROL], at_rival[None, :])
    assert abs(0.1 + float(mean[0]) - TRUE_CONTROL) < 0.03
    assert "hello" not in learner.arms  # nothing was sent: the action learns nothing
