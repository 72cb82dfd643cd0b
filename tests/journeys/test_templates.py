"""Each built-in journey template end to end on simulated members: the real worker (triggers,
steps, decisions, ledger, outbox) delivers to a real SMTP server (aiosmtpd), a real signed
webhook receiver, the in-app inbox and the direct-mail file, on SQLite and PostgreSQL. A
moved clock stands for the days a journey waits; the demo program's contact policy applies."""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, func, select

from nextbest.channels.direct_mail import exported
from nextbest.config import Settings
from nextbest.ingest.pipeline import Ingestor
from nextbest.journeys.catalog import load_journeys
from nextbest.journeys.worker import Worker
from nextbest.ledger.service import Ledger
from nextbest.store import tables as t
from nextbest.store.engine import write_transaction
from tests.channels.support import (
    NOW,
    SECRET,
    Clock,
    Receiver,
    SmtpSink,
    smtp_server,
    webhook_receiver,
)
from tests.ingest.test_pipeline import records
from tests.ledger.support import apply_program

CHANNELS = ("email", "push", "sms", "in_app", "direct_mail")
EVERY_CONSENT = {f"{c}/{p}": True for c in CHANNELS for p in ("marketing", "loyalty")}


@dataclass
class Rig:
    """One template's worker with its receivers; ``run`` moves the clock and works until idle."""

    engine: Engine
    settings: Settings
    clock: Clock
    smtp: SmtpSink
    hook: Receiver
    worker: Worker
    ids: dict[str, str]  # loyalty id -> member id

    def run(self, *, hours: float = 0.0) -> None:
        # Five seconds more each time: fresh events settle before the runner reads them.
        self.clock.advance(hours * 3600 + 5)
        for _ in range(40):
            got = self.worker.run_once()
            if not (got.steps or got.entered or got.sent):
                return
        raise AssertionError("the worker never went idle")

    def ingest(self, *events: dict[str, Any]) -> None:
        at = self.clock()
        rows = [{"occurred_at": at.isoformat(), "source": "app", **e} for e in events]
        Ingestor(self.engine, self.settings, clock=self.clock).ingest_records(
            records(rows), origin="test"
        )

    def member(
        self, loyalty_id: str, consents: dict[str, bool] | None = None, **fields: Any
    ) -> str:
        n = zlib.crc32(loyalty_id.encode()) % 10_000  # distinct phones: no merges here
        given = EVERY_CONSENT if consents is None else consents
        self.ingest(
            {
                "type": "signup",
                "event_id": f"{loyalty_id}-signup",
                "identifiers": {
                    "loyalty_id": loyalty_id,
                    "email": f"{loyalty_id.lower()}@example.com",
                    "phone": f"+1415555{n:04d}",
                    "device_id": f"dev-{loyalty_id}",
                },
                "first_name": f"Ada{loyalty_id}",
                "last_name": "Lovelace",
                "postcode": "94110",
                "timezone": "America/New_York",
                "consents": [
                    {"channel": k.split("/")[0], "purpose": k.split("/")[1], "granted": v}
                    for k, v in given.items()
                ],
                **fields,
            }
        )
        with self.engine.connect() as conn:
            member = conn.execute(
                select(t.identifiers.c.member_id).where(
                    t.identifiers.c.key == f"loyalty_id:{loyalty_id}"
                )
            ).scalar_one()
        self.ids[loyalty_id] = str(member)
        return str(member)

    def purchase(self, loyalty_id: str, total: float, n: int = 1) -> None:
        self.ingest(
            {
                "type": "purchase",
                "event_id": f"{loyalty_id}-buy-{n}",
                "source": "pos",
                "identifiers": {"loyalty_id": loyalty_id},
                "order_id": f"{loyalty_id}-order-{n}",
                "total": total,
                "channel": "store",
                "lines": [
                    {"sku": "latte", "category": "coffee", "quantity": 1, "unit_price": total}
                ],
            }
        )

    def score(self, loyalty_id: str, name: str, value: float | None, label: str | None) -> None:
        now = self.clock()
        with write_transaction(self.engine) as conn:
            conn.execute(
                t.member_scores.insert().values(
                    member_id=self.ids[loyalty_id],
                    name=name,
                    value=value,
                    label=label,
                    model_version="test",
                    as_of=now,
                    scored_at=now,
                )
            )

    # --- what happened -------------------------------------------------------------------
    def status(self, loyalty_id: str) -> str | None:
        with self.engine.connect() as conn:
            got = conn.execute(
                select(t.journey_instances.c.status).where(
                    t.journey_instances.c.member_id == self.ids[loyalty_id]
                )
            ).scalar_one_or_none()
        return None if got is None else str(got)

    def treated(self, *loyalty_ids: str) -> list[str]:
        """Those not drawn into the journey's holdout (who must then get nothing at all)."""
        held = [i for i in loyalty_ids if self.status(i) == "holdout"]
        for i in held:
            assert self.sent(i) == []
        return [i for i in loyalty_ids if i not in held]

    def deliveries(self) -> list[Any]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(t.deliveries).order_by(t.deliveries.c.created_at, t.deliveries.c.step)
                ).all()
            )

    def sent(self, loyalty_id: str) -> list[tuple[str | None, str, str]]:
        """(step, channel, template) of every message sent to the member, in order."""
        member = self.ids[loyalty_id]
        return [
            (d.step, d.channel, d.template)
            for d in self.deliveries()
            if d.member_id == member and d.status == "sent"
        ]

    def balance(self, loyalty_id: str) -> int:
        return int(Ledger(self.engine).account(self.ids[loyalty_id])["balance"])

    def emails(self) -> dict[str, EmailMessage]:
        return {str(m["X-Nextbest-Message-Id"]).strip(): m for m in self.smtp.messages()}

    def assert_received_once(self) -> None:
        """Every delivery recorded as sent reached its receiver exactly once, and nothing else
        did: the outbox and the receivers agree message by message."""
        sent = {d.message_id: d for d in self.deliveries() if d.status == "sent"}
        emails = [str(m["X-Nextbest-Message-Id"]).strip() for m in self.smtp.messages()]
        hooks = self.hook.message_ids()
        assert all(r.signed for r in self.hook.received)
        with self.engine.connect() as conn:
            inbox = list(conn.execute(select(t.inbox_messages.c.message_id)).scalars())
        letters = [
            r["message_id"]
            for day in range(40)
            for r in exported(self.settings.data_dir / "direct_mail", NOW + timedelta(days=day))
        ]
        for got in (emails, hooks, inbox, letters):
            assert len(got) == len(set(got)), "a receiver got a message twice"
        expected = Counter(d.channel for d in sent.values())
        assert set(emails) == {m for m, d in sent.items() if d.channel == "email"}
        assert set(hooks) == {m for m, d in sent.items() if d.channel in ("push", "sms")}
        assert set(inbox) == {m for m, d in sent.items() if d.channel == "in_app"}
        assert set(letters) == {m for m, d in sent.items() if d.channel == "direct_mail"}
        assert sum(expected.values()) == len(emails) + len(hooks) + len(inbox) + len(letters)


@pytest.fixture
def rig_for(engine: Engine, settings: Settings) -> Iterator[Callable[[str], Rig]]:
    stack = ExitStack()

    def make(template: str, *, at: datetime = NOW + timedelta(minutes=1)) -> Rig:
        apply_program(engine)
        sink = SmtpSink()
        port = stack.enter_context(smtp_server(sink))
        hook = stack.enter_context(webhook_receiver())
        wired = settings.model_copy(
            update={
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "webhook_url": hook.url,
                "webhook_secret": SecretStr(SECRET),
            }
        )
        clock = Clock(at)
        [journey] = [j for j in load_journeys(None) if j.id == template]
        worker = Worker(wired, journeys=[journey], clock=clock, db=engine, scan_every=0)
        stack.callback(worker.close)
        return Rig(engine, wired, clock, sink, hook, worker, {})

    with stack:
        yield make


def test_onboarding_welcomes_decides_a_first_reward_and_nudges_who_did_not_buy(
    rig_for: Callable[..., Rig],
) -> None:
    rig = rig_for("onboarding")
    people = [f"ON{i}" for i in range(6)]
    for p in people:
        rig.member(p)
    rig.run()
    treated = rig.treated(*people)
    assert len(treated) >= 4  # a 10% holdout of six
    for p in treated:
        assert rig.sent(p) == [("welcome", "email", "welcome")]
    subjects = {str(m["To"]): str(m["Subject"]) for m in rig.emails().values()}
    assert subjects == {
        f"{p.lower()}@example.com": f"Welcome to Bean & Bake, Ada{p}!" for p in treated
    }

    rig.run(hours=25)  # the settle wait is over: the engine picks a first reward
    with rig.engine.connect() as conn:
        decided = conn.execute(
            select(func.count())
            .select_from(t.decisions)
            .where(t.decisions.c.request_key.like("j:%"))
        ).scalar_one()
    assert decided == len(treated)
    buyer, *others = treated
    rig.purchase(buyer, 6.0)
    rig.run(hours=1)
    assert rig.status(buyer) == "exited"
    rig.run(hours=24 * 7)
    assert not any(step == "nudge" for step, _c, _t in rig.sent(buyer))
    for p in others:
        assert rig.status(p) == "done"
        assert [s for s in rig.sent(p) if s[0] == "nudge"] == [("nudge", "push", "first_reward")]
    rig.assert_received_once()


def test_winback_emails_members_at_risk_then_adds_points_for_who_stays_away(
    rig_for: Callable[..., Rig],
) -> None:
    rig = rig_for("winback")
    people = ["WB1", "WB2", "WB3", "WB4"]
    for p in people:
        rig.member(p)
        rig.score(p, "churn_risk", 0.8, None)
    rig.member("SAFE")
    rig.score("SAFE", "churn_risk", 0.2, None)
    rig.run()
    assert rig.status("SAFE") is None and rig.sent("SAFE") == []
    treated = rig.treated(*people)
    assert len(treated) >= 2
    for p in treated:
        assert rig.sent(p) == [("miss-you", "email", "winback")]
    back, *away = treated
    rig.run(hours=48)
    rig.purchase(back, 5.0)
    rig.run(hours=1)
    assert rig.status(back) == "exited"
    rig.run(hours=24 * 4)
    assert rig.sent(back) == [("miss-you", "email", "winback")]
    assert rig.balance(back) < 100  # what the purchase earned, no win-back bonus
    for p in away:
        assert rig.balance(p) == 100
        assert rig.sent(p) == [("miss-you", "email", "winback"), ("tell", "push", "winback")]
    pushes = [r.body for r in rig.hook.received]
    # Device ids are stored as normalised (upper case).
    assert sorted(b["to"] for b in pushes) == sorted(f"DEV-{p}" for p in away)
    assert all(b["data"]["bonus"] == 100 for b in pushes)
    rig.assert_received_once()


def test_cart_abandonment_gives_points_to_the_sensitive_and_splits_the_rest(
    rig_for: Callable[..., Rig],
) -> None:
    rig = rig_for("cart_abandonment")
    people = [f"CA{i}" for i in range(8)]
    for i, p in enumerate(people):
        rig.member(p)
        rig.score(p, "churn_risk", 0.9 if i < 2 else 0.1, None)
    rig.run(hours=1)
    rig.ingest(
        *(
            {
                "type": "cart_abandoned",
                "event_id": f"{p}-cart",
                "identifiers": {"loyalty_id": p},
                "cart_id": f"cart-{p}",
                "value": 12.5,
            }
            for p in people
        )
    )
    rig.run()
    treated = rig.treated(*people)
    assert rig.deliveries() == []  # the first step waits an hour
    rig.run(hours=1)
    emailed = 0
    for p in treated:
        if p in ("CA0", "CA1"):
            assert rig.balance(p) == 25
            assert rig.sent(p) == [("push", "push", "cart_points")]
        else:
            assert rig.balance(p) == 0
            assert rig.sent(p) in ([], [("email", "email", "cart_reminder")])
            emailed += bool(rig.sent(p))
    rig.run(hours=25)
    for p in treated:
        assert rig.status(p) == "exited"  # the window closed: "end" exits
    with rig.engine.connect() as conn:
        split = Counter(
            conn.execute(
                select(t.journey_steps.c.step).where(t.journey_steps.c.step.in_(("email", "wait")))
            ).scalars()
        )
    assert split["email"] == emailed
    rig.assert_received_once()


def test_vip_milestone_thanks_an_upgraded_member_with_a_bonus_and_an_inbox_note(
    rig_for: Callable[..., Rig],
) -> None:
    rig = rig_for("vip_milestone")
    for p in ("VIP", "REG"):
        rig.member(p)
        rig.purchase(p, 10.0, n=1)  # enrols in green: not an upgrade
    rig.run(hours=1)
    assert rig.deliveries() == []
    rig.purchase("VIP", 400.0, n=2)
    rig.purchase("REG", 20.0, n=2)
    earned = rig.balance("VIP")  # the ledger posts purchases as they are ingested
    assert earned >= 300
    rig.run(hours=1)
    assert rig.status("REG") is None
    assert rig.sent("VIP") == [("congrats", "email", "tier_upgrade")]
    rig.run(hours=24)
    assert rig.sent("VIP") == [
        ("congrats", "email", "tier_upgrade"),
        ("inbox", "in_app", "vip_milestone"),
    ]
    assert rig.balance("VIP") == earned + 50
    [mail] = rig.emails().values()
    assert mail["To"] == "vip@example.com"
    rig.assert_received_once()


def test_birthday_treat_arrives_at_nine_in_the_members_zone(
    rig_for: Callable[..., Rig],
) -> None:
    # 05:00 UTC is 01:00 in New York: the member enters at once, the treat waits until 09:00.
    rig = rig_for("birthday", at=datetime(2027, 6, 2, 5, tzinfo=UTC))
    rig.member("BDAY", birthday="1990-06-02")
    rig.member("LATER", birthday="1990-07-15")
    rig.run()
    assert rig.status("BDAY") == "active" and rig.status("LATER") is None
    assert rig.deliveries() == [] and rig.balance("BDAY") == 0
    rig.run(hours=7.9)  # 12:54 UTC, 08:54 local
    assert rig.deliveries() == []
    rig.run(hours=0.2)
    assert rig.balance("BDAY") == 100
    assert rig.sent("BDAY") == [("card", "email", "birthday")]
    rig.run(hours=24)  # the next day's scan does not send it again
    assert len(rig.deliveries()) == 1
    rig.assert_received_once()


def test_points_expiry_reminds_by_email_then_push_unless_the_member_redeems(
    rig_for: Callable[..., Rig],
) -> None:
    rig = rig_for("points_expiry")
    for p in ("EXP", "USE"):
        rig.member(p)
        rig.purchase(p, 100.0)
    rig.run()
    # The lots expire in six months; the ledger's daily run warns thirty days ahead.
    rig.clock.at = NOW + timedelta(days=160)
    notices = Ledger(rig.engine, clock=rig.clock).run_due(as_of=rig.clock())["notices"]
    assert notices == 2
    rig.run()
    for p in ("EXP", "USE"):
        assert rig.sent(p) == [("email", "email", "points_expiring")]
    rig.ingest(
        {
            "type": "reward_redeemed",
            "event_id": "USE-redeem",
            "source": "pos",
            "identifiers": {"loyalty_id": "USE"},
            "reward_id": "drip-coffee",
        }
    )
    rig.run(hours=1)
    assert rig.status("USE") == "exited"
    rig.run(hours=24 * 3)
    assert rig.sent("USE") == [("email", "email", "points_expiring")]
    assert rig.sent("EXP") == [
        ("email", "email", "points_expiring"),
        ("push", "push", "points_expiring"),
    ]
    rig.assert_received_once()


def test_service_recovery_apologises_with_points_even_without_marketing_consent(
    rig_for: Callable[..., Rig],
) -> None:
    rig = rig_for("service_recovery")
    rig.member("SAD", consents={})  # service messages need no opt-in
    rig.member("HAPPY")
    rig.member("NOMAIL", consents={"email/service": False})
    for p, rating in (("SAD", 1), ("HAPPY", 5), ("NOMAIL", 2)):
        rig.ingest(
            {
                "type": "feedback",
                "event_id": f"{p}-feedback",
                "identifiers": {"loyalty_id": p},
                "rating": rating,
                "text": "cold coffee" if rating < 3 else "lovely",
            }
        )
    rig.run()
    assert rig.status("HAPPY") is None
    assert (rig.balance("SAD"), rig.balance("NOMAIL"), rig.balance("HAPPY")) == (150, 150, 0)
    assert rig.sent("SAD") == [("apology", "email", "apology")]
    assert rig.sent("NOMAIL") == []
    [refused] = [d for d in rig.deliveries() if d.member_id == rig.ids["NOMAIL"]]
    assert refused.status == "suppressed" and "refused email" in refused.last_error
    rig.assert_received_once()


def test_direct_mail_balance_letter_then_an_in_app_reminder(
    rig_for: Callable[..., Rig],
) -> None:
    rig = rig_for("direct_mail_balance")
    for p, label in (("RISK", "at risk"), ("CHAMP", "champions")):
        rig.member(p)
        rig.purchase(p, 42.0)
        rig.score(p, "rfm", None, label)
    rig.run()
    assert rig.status("CHAMP") is None
    assert rig.sent("RISK") == [("letter", "direct_mail", "direct_mail_balance")]
    [letter] = exported(rig.settings.data_dir / "direct_mail", rig.clock())
    assert (letter["first_name"], letter["points_balance"]) == ("AdaRISK", "42")
    rig.run(hours=24 * 5)
    assert rig.sent("RISK")[-1] == ("remind", "in_app", "redeem_reminder")
    with rig.engine.connect() as conn:
        [note] = conn.execute(
            select(t.inbox_messages).where(t.inbox_messages.c.member_id == rig.ids["RISK"])
        ).all()
    assert note.title
    rig.assert_received_once()
