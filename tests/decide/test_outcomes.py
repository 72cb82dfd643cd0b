"""Learning from outcome events: credited once, to the right decision, and remembered."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import Engine

from nextbest.config import Settings
from nextbest.decide.budget import MemoryBudget
from nextbest.decide.catalogue import parse_catalogue
from nextbest.decide.engine import Request
from nextbest.decide.outcomes import learn_from_outcomes
from nextbest.decide.service import DecisionService, load_learner
from nextbest.ingest.pipeline import Ingestor
from nextbest.store import tables as t
from tests.decide.support import NOW, add_member
from tests.decide.test_service import ONE_SLOT
from tests.ingest.test_pipeline import records


def test_outcomes_reward_the_decision_once_and_move_the_learner(
    engine: Engine, settings: Settings
) -> None:
    catalogue = parse_catalogue(ONE_SLOT)
    member = add_member(engine, settings, "O1", consents={"email/marketing": True})
    service = DecisionService(engine, catalogue, budget=MemoryBudget())
    view = service.decide(member, Request(at=NOW, seed=0, send_now=True), resolved=True)
    service.close()
    assert view["action"]["id"] == "hello"
    ids = {"loyalty_id": "O1"}
    later = NOW + timedelta(hours=2)
    follow_up = [
        {
            "type": "message_clicked",
            "event_id": "o1-click",
            "occurred_at": later.isoformat(),
            "source": "email",
            "identifiers": ids,
            "message_id": view["decision_id"],
            "channel": "email",
        },
        {
            "type": "message_opened",  # another message's event: not this decision's
            "event_id": "o1-other-open",
            "occurred_at": later.isoformat(),
            "source": "email",
            "identifiers": ids,
            "message_id": "someone-else",
            "channel": "email",
        },
        {
            "type": "purchase",
            "event_id": "o1-buy",
            "occurred_at": (later + timedelta(hours=1)).isoformat(),
            "source": "pos",
            "identifiers": ids,
            "order_id": "o1-order",
            "total": 9.0,
            "lines": [{"sku": "latte", "category": "coffee", "quantity": 1, "unit_price": 9.0}],
        },
    ]
    Ingestor(engine, settings, clock=lambda: later + timedelta(hours=1)).ingest_records(
        records(follow_up), origin="outcomes"
    )
    too_early = learn_from_outcomes(engine, catalogue, now=NOW + timedelta(hours=10))
    assert too_early.settled == 0  # the 72 h window is still open
    report = learn_from_outcomes(engine, catalogue, now=NOW + timedelta(hours=80))
    assert (report.settled, report.converted, report.learned) == (1, 1, 1)
    assert report.outcomes == 2  # the click and the purchase, not the other message
    with engine.connect() as conn:
        reward = conn.execute(sa.select(t.decisions.c.reward)).scalar_one()
        kinds = sorted(conn.execute(sa.select(t.decision_outcomes.c.kind)).scalars())
    assert reward == 1.0
    assert kinds == ["message_clicked", "purchase"]
    learner = load_learner(engine, prior_strength=20)
    assert learner.version == 1 and "hello" in learner.arms
    again = learn_from_outcomes(engine, catalogue, now=NOW + timedelta(hours=90))
    assert again.settled == 0 and load_learner(engine, prior_strength=20).version == 1
    # A service started afterwards decides with the learned posterior.
    fresh = DecisionService(engine, catalogue, budget=MemoryBudget())
    fresh.refresh_learner(force=True)
    assert fresh.engine.learner.version == 1
    assert fresh.engine.policy_version.endswith(".l1")
