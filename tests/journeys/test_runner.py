"""The durable journey engine over a real store (SQLite and PostgreSQL): entries from events,
timers, event waits, exits, goals, grants through the ledger, sends into the outbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from nextbest.config import Settings
from nextbest.ingest.pipeline import Ingestor
from nextbest.journeys.definition import Journey, parse_journey
from nextbest.journeys.runner import JourneyRunner, RunReport
from nextbest.journeys.stats import journey_stats
from nextbest.ledger.service import Ledger
from nextbest.store import tables as t
from tests.decide.support import NOW, add_member
from tests.ingest.test_pipeline import records
from tests.ledger.support import apply_program

JOURNEY = """
journey: welcome
name: Welcome
trigger: {event: signup}
goal: {event: purchase, within_days: 7}
steps:
  - {id: hello, send: {channel: email, template: welcome, purpose: loyalty}}
  - {id: wait, wait: {event: purchase, hours: 24, timeout: nudge}}
  - {id: bought, exit: purchased}
  - {id: nudge, grant: {points: 50, reason: come and try us}}
  - {id: tell, send: {channel: push, template: first_reward, data: {bonus: 50}}}
"""


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _runner(engine: Engine, clock: Callable[[], datetime], *journeys: Journey) -> JourneyRunner:
    runner = JourneyRunner(engine, list(journeys), ledger=Ledger(engine, clock=clock), clock=clock)
    runner.apply()
    return runner


def _deliveries(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(
                    t.deliveries.c.member_id, t.deliveries.c.channel, t.deliveries.c.template
                ).order_by(t.deliveries.c.created_at, t.deliveries.c.message_id)
            ).all()
        )


def _purchase(engine: Engine, settings: Settings, loyalty_id: str, at: datetime) -> None:
    row = {
        "type": "purchase",
        "event_id": f"{loyalty_id}-late",
        "occurred_at": at.isoformat(),
        "source": "pos",
        "identifiers": {"loyalty_id": loyalty_id},
        "order_id": f"{loyalty_id}-late",
        "total": 5.0,
        "channel": "store",
        "lines": [{"sku": "latte", "category": "coffee", "quantity": 1, "unit_price": 5.0}],
    }
    Ingestor(engine, settings, clock=lambda: at).ingest_records(records([row]), origin="t")


def test_a_member_who_does_not_buy_is_nudged_with_points_once(
    engine: Engine, settings: Settings
) -> None:
    apply_program(engine)
    member = add_member(engine, settings, "W1", purchases=0)
    clock = Clock(NOW + timedelta(minutes=1))
    runner = _runner(engine, clock, parse_journey(JOURNEY))

    assert runner.poll_events().entered == 1
    assert runner.poll_events().entered == 0  # the cursor moved: nothing enters twice
    first = runner.run_due()
    assert first.by_kind == {"send": 1, "wait": 1}
    assert [(d.channel, d.template) for d in _deliveries(engine)] == [("email", "welcome")]

    clock.at += timedelta(hours=23)
    assert runner.run_due().steps == 0  # the timer is not due yet
    clock.at += timedelta(hours=2)
    later = runner.run_due()
    assert later.by_kind == {"wait": 1, "grant": 1, "send": 1}
    assert [(d.member_id, d.channel, d.template) for d in _deliveries(engine)] == [
        (member, "email", "welcome"),
        (member, "push", "first_reward"),
    ]
    assert Ledger(engine).account(member)["balance"] == 50
    assert runner.counts() == {"done": 1}
    assert runner.run_due().steps == 0


def test_a_purchase_wakes_the_wait_and_counts_as_the_goal(
    engine: Engine, settings: Settings
) -> None:
    apply_program(engine)
    add_member(engine, settings, "W2", purchases=0)
    clock = Clock(NOW + timedelta(minutes=1))
    journey = parse_journey(JOURNEY)
    runner = _runner(engine, clock, journey)
    runner.poll_events()
    runner.run_due()
    bought = NOW + timedelta(hours=3)
    _purchase(engine, settings, "W2", bought)
    clock.at = bought + timedelta(minutes=1)
    polled = runner.poll_events()
    assert (polled.woken, polled.goals) == (1, 1)
    assert runner.run_due().by_kind == {"wait": 1, "exit": 1}
    assert runner.counts() == {"exited": 1}
    assert len(_deliveries(engine)) == 1  # no nudge
    stats = journey_stats(engine, journey)
    assert (stats.entries, stats.treated, stats.goal_treated) == (1, 1, 1.0)
    reached = {s["step"]: s["members"] for s in stats.steps}
    assert reached == {"hello": 1, "wait": 1, "bought": 1, "nudge": 0, "tell": 0}


def test_a_holdout_member_enters_but_takes_no_step(engine: Engine, settings: Settings) -> None:
    add_member(engine, settings, "W3", purchases=0)
    held = parse_journey(JOURNEY.replace("trigger:", "holdout: 1.0\ntrigger:"))
    clock = Clock(NOW + timedelta(minutes=1))
    runner = _runner(engine, clock, held)
    assert runner.poll_events().entered == 1
    assert runner.run_due().steps == 0
    assert runner.counts() == {"holdout": 1}
    assert _deliveries(engine) == []


def test_a_step_rerun_after_a_lost_lease_does_nothing_twice(
    engine: Engine, settings: Settings
) -> None:
    apply_program(engine)
    member = add_member(engine, settings, "W4", purchases=0)
    doc = JOURNEY.replace("hours: 24", "hours: 0")
    clock = Clock(NOW + timedelta(minutes=1))
    runner = _runner(engine, clock, parse_journey(doc))
    runner.poll_events()
    claimed = runner.claim()
    # A first worker claims and dies; its lease runs out and a second worker runs the steps.
    clock.at += timedelta(seconds=runner.lease + 1)
    runner.run_due()
    runner.run_due()
    # The first worker wakes up and replays its stale claim: every step finds it was done.
    report = RunReport()
    for row in claimed:
        runner._advance(row, report)
    assert report.lost_leases == 1
    with engine.connect() as conn:
        steps = conn.execute(select(func.count()).select_from(t.journey_steps)).scalar_one()
    assert steps == 5  # hello, wait (armed), wait (timed out), nudge, tell
    assert len(_deliveries(engine)) == 2
    assert Ledger(engine).account(member)["balance"] == 50


def test_an_update_step_writes_the_profile_through_an_event(
    engine: Engine, settings: Settings
) -> None:
    member = add_member(engine, settings, "W5", purchases=0)
    doc = """
journey: tagger
name: Tag new members
trigger: {event: signup}
steps:
  - {id: tag, update: {journey_tag: welcomed}}
"""
    clock = Clock(NOW + timedelta(minutes=1))
    ingestor = Ingestor(engine, settings, clock=clock)

    def record(event: dict[str, Any]) -> None:
        ingestor.ingest_records(records([event]), origin="journeys")

    runner = JourneyRunner(engine, [parse_journey(doc)], clock=clock, record_event=record)
    runner.poll_events()
    runner.run_due()
    runner.run_due()
    with engine.connect() as conn:
        state = conn.execute(
            select(t.profiles.c.state).where(t.profiles.c.member_id == member)
        ).scalar_one()
        updates = conn.execute(
            select(func.count()).select_from(t.events).where(t.events.c.type == "profile_update")
        ).scalar_one()
    assert '"journey_tag"' in state and '"welcomed"' in state
    assert updates == 1
