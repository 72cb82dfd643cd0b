"""A small hand-made program with known defects, and the figures an audit must find in it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from nextbest.config import Settings
from nextbest.ingest.history import EventHistory
from nextbest.ingest.pipeline import Ingestor
from tests.ingest.test_pipeline import T0, buy, ev, records

RECEIVED = T0 + timedelta(days=2)


def signup(
    event_id: str, hours: float, source: str, ids: dict[str, str], **fields: Any
) -> dict[str, Any]:
    return ev(event_id, "signup", hours, source=source, identifiers=ids, **fields)


def defects() -> list[dict[str, Any]]:
    """Guest and duplicate-order purchases, a look-alike with a typo'd email, gaps, a refusal."""
    dup_web = buy("p3", 2, 10.0, email="ann@example.com") | {"source": "web", "order_id": "o-dup"}
    dup_app = buy("p4", 3, 10.0, device_id="dev-9") | {"source": "app", "order_id": "o-dup"}
    ann = {"first_name": "Ann", "last_name": "Lee", "birthday": "1990-01-01", "postcode": "10001"}
    return [
        buy("p1", 0, 4.0, pos_card="card-1"),
        buy("p2", 1, 6.0),  # guest at the till: no identifier
        dup_web,
        dup_app,  # same order id as p3
        signup("s1", 4, "web", {"email": "ann@example.com"}, **ann),
        # The same person again, with a misspelt mail domain and a second card.
        signup("s2", 5, "pos", {"email": "Ann@gmial.com", "pos_card": "card-2"}, **ann),
        signup("s3", 6, "kiosk", {"device_id": "dev-9"}, first_name="Bob", last_name="Ray"),
        ev(
            "t1",
            "service_ticket_opened",
            7,
            source="call_centre",
            identifiers={"phone": "(212) 555-0100"},
            ticket_id="T1",
            topic="refund",
        ),
        # Refused by the validator: not an email address.
        ev("bad1", "app_open", 8, identifiers={"email": "not-an-email"}),
    ]


def ingest(engine: Engine, settings: Settings) -> None:
    """Through the real pipeline, history included, received two days after the first event."""
    history = EventHistory(settings.event_history_dir)
    ingestor = Ingestor(engine, settings, clock=lambda: RECEIVED, history=history)
    ingestor.ingest_records(records(defects()), origin="test")
