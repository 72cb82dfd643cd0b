"""Contact governance at delivery: consent, quiet hours, caps, service and governed sends."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from nextbest.channels.dispatch import Dispatcher
from nextbest.channels.message import OutboundMessage
from nextbest.channels.outbox import delivery
from nextbest.channels.webhook import WebhookAdapter
from nextbest.config import Settings
from nextbest.decide.actions import Cap, ContactPolicy
from nextbest.decide.budget_sql import SqlBudget
from tests.channels.support import SECRET, Clock, add_member, queue, webhook_receiver

POLICY = ContactPolicy(
    caps=(Cap(1, "day", "sms"),),
    quiet_start=21,
    quiet_end=8,
    quiet_channels=frozenset({"sms", "push"}),
    cooldown_hours=0,
)


def _sms(member: str, message_id: str, **kw: object) -> OutboundMessage:
    return OutboundMessage(
        message_id=message_id,
        member_id=member,
        channel="sms",
        template=str(kw.pop("template", "winback")),
        **kw,  # type: ignore[arg-type]
    )


def test_governance_at_delivery(engine: Engine, settings: Settings) -> None:
    consenting = add_member(engine, settings, "G1", consents={"sms/marketing": True})
    silent = add_member(engine, settings, "G2")
    tokyo = add_member(
        engine, settings, "G3", consents={"sms/marketing": True}, timezone="Asia/Tokyo"
    )
    clock = Clock()
    with webhook_receiver() as receiver:
        hook = WebhookAdapter(receiver.url, secret=SECRET)
        dispatcher = Dispatcher(
            engine,
            settings,
            adapters={"sms": hook},
            budget=SqlBudget(engine),
            policy=POLICY,
            clock=clock,
        )
        queue(
            engine,
            _sms(silent, "no-consent"),
            _sms(tokyo, "night"),
            _sms(consenting, "first"),
        )
        report = dispatcher.run_once()
        assert (report.sent, report.suppressed, report.deferred) == (1, 1, 1), report
        # The cap of one SMS a day is spent: the next marketing SMS is suppressed, while a
        # service message and one whose decision already took the slots still go out.
        clock.advance(60)
        queue(
            engine,
            _sms(consenting, "second"),
            _sms(consenting, "apology", template="apology", purpose="service", priority="service"),
            _sms(consenting, "decided", governed=True),
            now=clock(),
        )
        report = dispatcher.run_once()
        assert (report.sent, report.suppressed) == (2, 1), report
        sent_before_night_ends = receiver.message_ids()
        # The Tokyo member's message waits for 08:00 local (23:00 UTC), then goes out.
        clock.at = datetime(2027, 6, 1, 23, 0, tzinfo=UTC)
        assert dispatcher.run_once().sent == 1

    assert sorted(sent_before_night_ends) == ["apology", "decided", "first"]
    assert receiver.message_ids()[-1] == "night"
    states = {
        mid: (row["status"], row["last_error"], row["attempts"])
        for mid in ("no-consent", "second", "night", "apology")
        if (row := delivery(engine, mid)) is not None
    }
    assert states["no-consent"] == ("suppressed", "no consent to sms for marketing", 0)
    assert states["second"] == ("suppressed", "cap 1 per day on sms", 0)
    assert states["night"] == ("sent", None, 1)  # the deferral was not an attempt
    assert states["apology"] == ("sent", None, 1)


def test_quiet_hours_defer_to_the_local_morning(engine: Engine, settings: Settings) -> None:
    tokyo = add_member(
        engine, settings, "G4", consents={"sms/marketing": True}, timezone="Asia/Tokyo"
    )
    queue(engine, _sms(tokyo, "late"))
    dispatcher = Dispatcher(engine, settings, adapters={}, policy=POLICY, clock=Clock())
    assert dispatcher.run_once().deferred == 1
    row = delivery(engine, "late")
    assert row is not None
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert row["next_attempt_at"] == datetime(2027, 6, 1, 23, tzinfo=UTC).timestamp()


def test_a_failed_send_gives_the_cap_back(engine: Engine, settings: Settings) -> None:
    member = add_member(engine, settings, "G5", consents={"sms/marketing": True})
    clock = Clock()
    with webhook_receiver(503) as receiver:
        hook = WebhookAdapter(receiver.url, secret=SECRET)
        dispatcher = Dispatcher(
            engine,
            settings,
            adapters={"sms": hook},
            budget=SqlBudget(engine),
            policy=POLICY,
            clock=clock,
        )
        queue(engine, _sms(member, "flaky"))
        assert dispatcher.run_once().retried == 1
        clock.advance(3600)
        assert dispatcher.run_once().sent == 1  # the slot the failed attempt took was released
    assert receiver.message_ids() == ["flaky", "flaky"]
