"""A journey's random split read as an A/B test: arms from the steps the runner took."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from nextbest.config import Settings
from nextbest.experiments.report import experiments_report
from nextbest.journeys.definition import parse_journey
from nextbest.store import tables as t
from tests.decide.support import NOW, add_member
from tests.journeys.test_runner import Clock, _runner
from tests.ledger.support import apply_program

JOURNEY = """
journey: nudge-test
name: Nudge or not
trigger: {event: signup}
goal: {event: purchase, within_days: 7}
steps:
  - {id: ab, split: [{share: 0.7, next: quiet}, {share: 0.3, next: nudge}]}
  - {id: quiet, exit: control}
  - {id: nudge, grant: {points: 10, reason: a nudge}}
"""


def test_a_split_is_reported_arm_against_the_first_arm(engine: Engine, settings: Settings) -> None:
    apply_program(engine)
    for i in range(30):
        add_member(engine, settings, f"S{i}", purchases=0)
    clock = Clock(NOW + timedelta(minutes=1))
    runner = _runner(engine, clock, parse_journey(JOURNEY))
    runner.poll_events()
    runner.run_due()
    with engine.connect() as conn:
        taken = Counter(
            conn.execute(
                select(t.journey_steps.c.outcome).where(t.journey_steps.c.kind == "split")
            ).scalars()
        )
    reports = {r.experiment: r for r in experiments_report(engine, now=NOW + timedelta(days=40))}
    split = reports["journey:nudge-test:ab:nudge vs quiet"]
    assert split.source == "journey split"
    assert (split.treated, split.holdout) == (taken["arm 1"], taken["arm 0"])
    assert split.treated + split.holdout == 30 and split.treated > 0
    assert split.holdout_share == pytest.approx(0.7)
    assert {r.metric for r in split.rows} >= {"goal", "conversion", "points_cost"}
    cost = next(r for r in split.rows if r.metric == "points_cost")
    assert cost.mean_treatment > 0 and cost.mean_control == 0  # only the nudge grants
