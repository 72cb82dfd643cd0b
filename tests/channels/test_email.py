"""Email end to end through a real SMTP server (aiosmtpd) on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Engine

from nextbest.channels.dispatch import Dispatcher
from nextbest.channels.message import OutboundMessage
from nextbest.channels.outbox import delivery
from nextbest.channels.smtp import SmtpAdapter
from nextbest.config import Settings
from nextbest.store import tables as t
from tests.channels.support import OPEN, Clock, SmtpSink, add_member, queue, smtp_server


def _dispatcher(engine: Engine, settings: Settings, port: int, clock: Clock) -> Dispatcher:
    smtp = SmtpAdapter(host="127.0.0.1", port=port, sender="Bean & Bake <rewards@bb.test>")
    return Dispatcher(engine, settings, adapters={"email": smtp}, policy=OPEN, clock=clock)


def test_welcome_email_reaches_the_member_once(engine: Engine, settings: Settings) -> None:
    member = add_member(engine, settings, "L1", consents={"email/loyalty": True})
    welcome = OutboundMessage(
        message_id="j:onboarding-1:0",
        member_id=member,
        channel="email",
        template="welcome",
        purpose="loyalty",
        journey_id="onboarding",
        step="welcome",
    )
    assert queue(engine, welcome) == [True]
    sink = SmtpSink()
    clock = Clock()
    with smtp_server(sink) as port:
        dispatcher = _dispatcher(engine, settings, port, clock)
        report = dispatcher.run_once()
        assert (report.claimed, report.sent) == (1, 1), report
        # Again, and with the same message enqueued again: nothing is sent twice.
        assert queue(engine, welcome) == [False]
        clock.advance(3600)
        again = dispatcher.run_once()
        assert (again.claimed, again.sent) == (0, 0)
    [envelope] = sink.envelopes
    assert envelope.rcpt_tos == ["l1@example.com"]
    [mail] = sink.messages()
    assert mail["Subject"] == "Welcome to Bean & Bake, Ada!"
    assert mail["X-Nextbest-Message-Id"] == "j:onboarding-1:0"
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None and "Hi Ada," in text.get_content()
    assert html is not None and "<p>Hi Ada,</p>" in html.get_content()

    row = delivery(engine, "j:onboarding-1:0")
    assert row is not None
    assert (row["status"], row["attempts"]) == ("sent", 1)
    assert row["provider_id"] == mail["Message-ID"]
    with engine.connect() as conn:
        events = conn.execute(
            sa.select(t.events.c.type, t.events.c.member_id, t.events.c.source).where(
                t.events.c.event_id == "delivered:j:onboarding-1:0"
            )
        ).all()
    assert [tuple(e) for e in events] == [("message_delivered", member, "email")]


def test_smtp_permanent_rejection_is_dead_and_a_temporary_one_retries(
    engine: Engine, settings: Settings
) -> None:
    member = add_member(engine, settings, "L2", consents={"email/marketing": True})
    queue(
        engine,
        OutboundMessage(message_id="m-perm", member_id=member, channel="email", template="winback"),
    )
    clock = Clock()
    with smtp_server(SmtpSink("554 5.7.1 rejected as spam")) as port:
        report = _dispatcher(engine, settings, port, clock).run_once()
    assert report.dead == 1
    row = delivery(engine, "m-perm")
    assert row is not None and row["status"] == "dead" and "554" in row["last_error"]

    queue(
        engine,
        OutboundMessage(message_id="m-temp", member_id=member, channel="email", template="winback"),
    )
    with smtp_server(SmtpSink("451 4.3.0 try again later")) as port:
        report = _dispatcher(engine, settings, port, clock).run_once()
    assert report.retried == 1
    row = delivery(engine, "m-temp")
    assert row is not None and (row["status"], row["attempts"]) == ("retry", 1)
    assert "451" in row["last_error"]


def test_a_member_without_email_address_is_suppressed(engine: Engine, settings: Settings) -> None:
    queue(
        engine,
        OutboundMessage(
            message_id="m-x",
            member_id="m_unknown",
            channel="email",
            template="apology",
            purpose="service",
            priority="service",
        ),
    )
    report = _dispatcher(engine, settings, 1, Clock()).run_once()
    assert report.suppressed == 1
    row = delivery(engine, "m-x")
    assert row is not None and row["last_error"] == "no email address"
