"""The queue itself: idempotent enqueue in the caller's transaction, and two dispatchers
draining one queue at once, each message delivered exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from nextbest.channels.dispatch import Dispatcher
from nextbest.channels.message import OutboundMessage
from nextbest.channels.outbox import dead_letters, enqueue, status_counts
from nextbest.channels.webhook import WebhookAdapter
from nextbest.config import Settings
from nextbest.store import tables as t
from nextbest.store.engine import write_transaction
from tests.channels.support import NOW, OPEN, SECRET, Clock, add_member, queue, webhook_receiver


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t.deliveries)).scalar_one())


def test_enqueue_is_idempotent_and_part_of_the_callers_transaction(engine: Engine) -> None:
    m = OutboundMessage(message_id="j:i:1", member_id="m_1", channel="email", template="welcome")
    later = OutboundMessage(
        message_id="j:i:2",
        member_id="m_1",
        channel="push",
        template="winback",
        data={"bonus": 100},
        send_at=NOW + timedelta(hours=3),
        governed=True,
    )
    assert queue(engine, m, m, later) == [True, False, True]
    assert queue(engine, m) == [False]
    assert _count(engine) == 2
    with pytest.raises(RuntimeError), write_transaction(engine) as conn:
        enqueue(conn, OutboundMessage("j:i:3", "m_1", "sms", "winback"), now=NOW)
        raise RuntimeError("the journey step failed")
    assert _count(engine) == 2  # rolled back with the step that sent it
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(t.deliveries).where(t.deliveries.c.message_id == "j:i:2")
        ).one()
    assert row.next_attempt_at == (NOW + timedelta(hours=3)).timestamp()
    assert (row.status, row.attempts, row.governed, row.data) == ("pending", 0, 1, '{"bonus":100}')
    assert status_counts(engine) == {("pending", "email"): 1, ("pending", "push"): 1}


def test_a_message_is_not_sent_before_send_at(engine: Engine, settings: Settings) -> None:
    member = add_member(engine, settings, "Q1", consents={"webhook/marketing": True})
    msg = OutboundMessage(
        "later", member, "webhook", "cart_points", send_at=NOW + timedelta(minutes=5)
    )
    queue(engine, msg)
    clock = Clock()
    with webhook_receiver() as receiver:
        hook = WebhookAdapter(receiver.url, secret=SECRET)
        dispatcher = Dispatcher(
            engine, settings, adapters={"webhook": hook}, policy=OPEN, clock=clock
        )
        assert dispatcher.run_once().claimed == 0
        clock.advance(300)
        assert dispatcher.run_once().sent == 1
    assert receiver.message_ids() == ["later"]


def test_unknown_channel_and_template_become_dead_letters(
    engine: Engine, settings: Settings
) -> None:
    member = add_member(engine, settings, "Q2", consents={"in_app/marketing": True})
    queue(
        engine,
        OutboundMessage("bad-channel", member, "pigeon", "welcome"),
        OutboundMessage("bad-template", member, "in_app", "no_such_template"),
    )
    report = Dispatcher(engine, settings, policy=OPEN, clock=Clock()).run_once()
    assert report.dead == 2
    errors = {d["message_id"]: d["last_error"] for d in dead_letters(engine)}
    assert errors["bad-channel"] == "unknown channel 'pigeon'"
    assert errors["bad-template"].startswith("template no_such_template.yaml: no such template")


def test_two_dispatchers_deliver_each_message_exactly_once(
    engine: Engine, settings: Settings
) -> None:
    member = add_member(engine, settings, "C1", consents={"webhook/marketing": True})
    n = 60
    queue(
        engine,
        *(OutboundMessage(f"c-{i}", member, "webhook", "cart_points") for i in range(n)),
    )
    errors: list[BaseException] = []
    with webhook_receiver() as receiver:
        barrier = threading.Barrier(2)

        def work() -> None:
            try:
                hook = WebhookAdapter(receiver.url, secret=SECRET)
                dispatcher = Dispatcher(
                    engine, settings, adapters={"webhook": hook}, policy=OPEN, clock=Clock()
                )
                barrier.wait()
                while dispatcher.run_once(limit=7).claimed:
                    pass
                dispatcher.close()
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
    assert errors == []
    sent = Counter(receiver.message_ids())
    assert len(sent) == n and set(sent.values()) == {1}, sent.most_common(3)
    assert status_counts(engine) == {("sent", "webhook"): n}
