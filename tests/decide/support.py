"""Members in a real store for decision tests: events through ingestion, scores as written
by the scoring job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select

from nextbest.config import Settings
from nextbest.ingest.pipeline import Ingestor
from nextbest.store import tables as t
from nextbest.store.engine import write_transaction
from tests.ingest.test_pipeline import records

DRIVERS = '[{"feature": "recency_days", "value": 40, "contribution": 0.3}]'
NOW = datetime(2027, 6, 1, 14, 0, tzinfo=UTC)  # 10:00 in New York, a Tuesday; ahead of
# the real clock, as Redis expires counters by its own clock


def member_events(
    loyalty_id: str,
    *,
    consents: dict[str, bool] | None = None,
    timezone: str = "America/New_York",
    purchases: int = 3,
    open_ticket: bool = False,
    start: datetime = NOW - timedelta(days=90),
) -> list[dict[str, Any]]:
    ids = {"loyalty_id": loyalty_id, "email": f"{loyalty_id.lower()}@example.com"}
    rows: list[dict[str, Any]] = [
        {
            "type": "signup",
            "event_id": f"{loyalty_id}-signup",
            "occurred_at": start.isoformat(),
            "source": "app",
            "identifiers": ids,
            "first_name": "Ada",
            "timezone": timezone,
            "consents": [
                {"channel": k.split("/")[0], "purpose": k.split("/")[1], "granted": v}
                for k, v in (consents or {}).items()
            ],
        }
    ]
    for n in range(purchases):
        at = start + timedelta(days=10 * (n + 1), hours=n % 3)
        rows.append(
            {
                "type": "purchase",
                "event_id": f"{loyalty_id}-p{n}",
                "occurred_at": at.isoformat(),
                "source": "pos",
                "identifiers": ids,
                "order_id": f"{loyalty_id}-o{n}",
                "total": 12.5,
                "channel": "store",
                "lines": [
                    {"sku": "latte", "category": "coffee", "quantity": 1, "unit_price": 12.5}
                ],
            }
        )
    if open_ticket:
        rows.append(
            {
                "type": "service_ticket_opened",
                "event_id": f"{loyalty_id}-t1",
                "occurred_at": (NOW - timedelta(days=1)).isoformat(),
                "source": "call_centre",
                "identifiers": ids,
                "ticket_id": f"{loyalty_id}-ticket",
                "topic": "late delivery",
            }
        )
    return rows


def add_member(engine: Engine, settings: Settings, loyalty_id: str, **kw: Any) -> str:
    rows = member_events(loyalty_id, **kw)
    Ingestor(engine, settings, clock=lambda: NOW).ingest_records(records(rows), origin=loyalty_id)
    with engine.connect() as conn:
        member = conn.execute(
            select(t.identifiers.c.member_id).where(
                t.identifiers.c.key == f"loyalty_id:{loyalty_id}"
            )
        ).scalar_one()
    return str(member)


def set_scores(engine: Engine, member_id: str, **scores: float) -> None:
    with write_transaction(engine) as conn:
        conn.execute(
            insert(t.member_scores),
            [
                {
                    "member_id": member_id,
                    "name": name,
                    "value": value,
                    "label": None,
                    "model_version": f"{name}-v1",
                    "as_of": NOW,
                    "scored_at": NOW,
                    "explanation": DRIVERS,
                }
                for name, value in scores.items()
            ],
        )
