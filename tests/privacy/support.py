"""A realistic member for the privacy tests: signup, purchases earning points, feedback, a
bad record in the dead letters, scores, a decision, an in-app and a direct-mail message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select

from nextbest.channels.dispatch import Dispatcher
from nextbest.channels.message import OutboundMessage
from nextbest.config import Settings
from nextbest.decide.budget import MemoryBudget
from nextbest.decide.engine import Request
from nextbest.decide.service import DecisionService, default_catalogue
from nextbest.ingest.history import EventHistory
from nextbest.ingest.pipeline import Ingestor
from nextbest.store import tables as t
from tests.channels.support import NOW, OPEN, Clock, queue
from tests.decide.support import set_scores
from tests.ingest.test_pipeline import records

CONSENTS = {
    "in_app/loyalty": True,
    "direct_mail/loyalty": True,
    "email/marketing": True,
    "push/marketing": True,
}


@dataclass(frozen=True)
class Person:
    loyalty_id: str
    email: str
    phone: str
    device_id: str
    first_name: str
    last_name: str
    member_id: str = ""

    def needles(self) -> list[str]:
        """The values no store may hold after erasure (blank ones not given)."""
        values = [
            self.loyalty_id,
            self.email,
            self.phone,
            self.device_id,
            self.first_name,
            self.last_name,
            self.member_id,
        ]
        return [v for v in values if v]


def _events(p: Person) -> list[dict[str, Any]]:
    ids = {"loyalty_id": p.loyalty_id, "email": p.email, "phone": p.phone}
    start = NOW - timedelta(days=60)
    rows: list[dict[str, Any]] = [
        {
            "type": "signup",
            "event_id": f"{p.loyalty_id}-signup",
            "occurred_at": start.isoformat(),
            "source": "app",
            "identifiers": {**ids, "device_id": p.device_id},
            "first_name": p.first_name,
            "last_name": p.last_name,
            "postcode": "94110",
            "timezone": "America/New_York",
            "consents": [
                {"channel": k.split("/")[0], "purpose": k.split("/")[1], "granted": v}
                for k, v in CONSENTS.items()
            ],
        }
    ]
    for n in range(3):
        rows.append(
            {
                "type": "purchase",
                "event_id": f"{p.loyalty_id}-p{n}",
                "occurred_at": (start + timedelta(days=10 * (n + 1))).isoformat(),
                "source": "pos",
                "identifiers": ids,
                "order_id": f"{p.loyalty_id}-order{n}",
                "total": 25.0,
                "lines": [{"sku": "beans", "category": "coffee", "quantity": 1, "unit_price": 25}],
            }
        )
    rows.append(
        {
            "type": "feedback",
            "event_id": f"{p.loyalty_id}-fb",
            "occurred_at": (NOW - timedelta(days=2)).isoformat(),
            "source": "app",
            "identifiers": {"email": p.email},
            "text": f"{p.first_name} {p.last_name} loved the latte",
            "rating": 5,
        }
    )
    # Refused (total does not match the lines): kept raw in the dead letters.
    rows.append({**rows[1], "event_id": f"{p.loyalty_id}-bad", "total": 99.0})
    return rows


def build_member(engine: Engine, settings: Settings, person: Person) -> Person:
    history = EventHistory(settings.event_history_dir)
    Ingestor(engine, settings, clock=lambda: NOW, history=history).ingest_records(
        records(_events(person)), origin=f"test-{person.loyalty_id}"
    )
    with engine.connect() as conn:
        member = str(
            conn.execute(
                select(t.identifiers.c.member_id).where(
                    t.identifiers.c.key == f"loyalty_id:{person.loyalty_id}"
                )
            ).scalar_one()
        )
    set_scores(engine, member, churn_risk=0.2, p_alive=0.5, clv_12m=90.0)
    service = DecisionService(engine, default_catalogue(), budget=MemoryBudget())
    service.decide(member, Request(at=NOW, seed=3), resolved=True)
    service.close()
    queue(
        engine,
        OutboundMessage(f"inapp-{member}", member, "in_app", "vip_milestone", purpose="loyalty"),
        OutboundMessage(
            f"dm-{member}", member, "direct_mail", "direct_mail_balance", purpose="loyalty"
        ),
    )
    report = Dispatcher(engine, settings, policy=OPEN, clock=Clock()).run_once()
    assert report.sent == 2, report
    return Person(**{**person.__dict__, "member_id": member})


ERASED = Person(
    loyalty_id="ERASE77",
    email="zephyrine.q@example.com",
    phone="+14155550177",
    device_id="DEV-ZEPHYR-77",
    first_name="Zephyrine",
    last_name="Quillfeather",
)
KEPT = Person(
    loyalty_id="KEEP88",
    email="ottoline.b@example.com",
    phone="+14155550188",
    device_id="DEV-OTTO-88",
    first_name="Ottoline",
    last_name="Brackenbury",
)
