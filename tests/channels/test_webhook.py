"""Signed webhooks to a real local HTTP server: signature, retries with backoff, dead letters."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from nextbest.channels.dispatch import Dispatcher
from nextbest.channels.message import OutboundMessage
from nextbest.channels.outbox import delivery, requeue_dead
from nextbest.channels.retry import RetryPolicy
from nextbest.channels.webhook import WebhookAdapter
from nextbest.config import Settings
from tests.channels.support import (
    NOW,
    OPEN,
    SECRET,
    Clock,
    Receiver,
    add_member,
    queue,
    webhook_receiver,
)


def _dispatcher(
    engine: Engine, settings: Settings, receiver: Receiver, clock: Clock, *, secret: str = SECRET
) -> Dispatcher:
    hook = WebhookAdapter(receiver.url, secret=secret)
    adapters = {"webhook": hook, "sms": hook, "push": hook}
    return Dispatcher(engine, settings, adapters=adapters, policy=OPEN, clock=clock)


def _message(member: str, message_id: str, channel: str = "webhook") -> OutboundMessage:
    return OutboundMessage(
        message_id=message_id,
        member_id=member,
        channel=channel,
        template="cart_points",
        data={"bonus": 25},
        journey_id="cart",
    )


def test_signed_webhook_and_sms_payloads(engine: Engine, settings: Settings) -> None:
    member = add_member(
        engine, settings, "W1", consents={"webhook/marketing": True, "sms/marketing": True}
    )
    queue(engine, _message(member, "w-1"), _message(member, "s-1", "sms"))
    with webhook_receiver() as receiver:
        report = _dispatcher(engine, settings, receiver, Clock()).run_once()
    assert report.sent == 2, report
    assert all(r.signed for r in receiver.received)
    by_id = {r.body["message_id"]: r.body for r in receiver.received}
    assert by_id["w-1"]["text"] == "Complete your basket today and earn 25 bonus points.\n"
    assert by_id["w-1"]["member_id"] == member and by_id["w-1"]["to"] is None
    assert by_id["s-1"]["channel"] == "sms" and by_id["s-1"]["to"].startswith("+1415555")
    assert receiver.received[0].headers["X-Nextbest-Message-Id"] in {"w-1", "s-1"}
    row = delivery(engine, "w-1")
    assert row is not None and row["provider_id"] in {"prov-1", "prov-2"}


def test_a_wrong_secret_is_refused_by_the_receiver_and_never_retried(
    engine: Engine, settings: Settings
) -> None:
    member = add_member(engine, settings, "W2", consents={"webhook/marketing": True})
    queue(engine, _message(member, "w-bad"))
    with webhook_receiver() as receiver:
        report = _dispatcher(engine, settings, receiver, Clock(), secret="nope").run_once()
    assert report.dead == 1
    assert [r.signed for r in receiver.received] == [False]
    row = delivery(engine, "w-bad")
    assert row is not None and row["last_error"].startswith("HTTP 401")


def test_server_errors_retry_with_backoff_then_dead(engine: Engine, settings: Settings) -> None:
    settings = settings.model_copy(
        update={"channels_max_attempts": 3, "channels_backoff_seconds": 60}
    )
    member = add_member(engine, settings, "W3", consents={"webhook/marketing": True})
    queue(engine, _message(member, "w-500"))
    clock = Clock()
    policy = RetryPolicy(max_attempts=3, base_seconds=60, cap_seconds=3600)
    with webhook_receiver(500, 503, 500) as receiver:
        dispatcher = _dispatcher(engine, settings, receiver, clock)
        for attempt in (1, 2):
            assert dispatcher.run_once().retried == 1
            row = delivery(engine, "w-500")
            assert row is not None
            assert (row["status"], row["attempts"]) == ("retry", attempt)
            wait = row["next_attempt_at"] - clock().timestamp()
            assert wait == pytest.approx(policy.delay(attempt, key="w-500"))
            assert 30 * 2 ** (attempt - 1) <= wait <= 60 * 2 ** (attempt - 1)
            # Not due before the backoff has passed.
            clock.advance(wait - 1)
            assert dispatcher.run_once().claimed == 0
            clock.advance(1.001)  # timedelta rounds to microseconds
        last = dispatcher.run_once()
        assert last.dead == 1
        row = delivery(engine, "w-500")
        assert row is not None and (row["status"], row["attempts"]) == ("dead", 3)
        assert row["last_error"].startswith("HTTP 500")
        clock.advance(86_400)
        assert dispatcher.run_once().claimed == 0
        assert len(receiver.received) == 3
        # Once fixed, an operator gives the dead letters another go.
        assert requeue_dead(engine, now=clock()) == 1
        assert dispatcher.run_once().sent == 1
    assert len(receiver.received) == 4


def test_a_client_error_is_dead_at_once(engine: Engine, settings: Settings) -> None:
    member = add_member(engine, settings, "W4", consents={"webhook/marketing": True})
    queue(engine, _message(member, "w-400"))
    with webhook_receiver(400) as receiver:
        report = _dispatcher(engine, settings, receiver, Clock()).run_once()
    assert (report.dead, report.retried) == (1, 0)
    row = delivery(engine, "w-400")
    assert row is not None and (row["status"], row["attempts"]) == ("dead", 1)
    assert len(receiver.received) == 1


def test_an_unreachable_receiver_is_retried(engine: Engine, settings: Settings) -> None:
    member = add_member(engine, settings, "W5", consents={"webhook/marketing": True})
    queue(engine, _message(member, "w-down"))
    hook = WebhookAdapter("http://127.0.0.1:9/hook", secret=SECRET, timeout=2)
    dispatcher = Dispatcher(
        engine, settings, adapters={"webhook": hook}, policy=OPEN, clock=Clock(NOW)
    )
    assert dispatcher.run_once().retried == 1
    row = delivery(engine, "w-down")
    assert row is not None and "ConnectError" in row["last_error"]
