"""A small hand-made event history with answers that can be worked out by hand."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from nextbest.analytics.features import inputs
from nextbest.ingest.history import SCHEMA

AS_OF = datetime(2025, 6, 1, tzinfo=UTC)


def _purchase(
    eid: str,
    member: str,
    at: datetime,
    lines: list[tuple[str, str, int, float]],
    source: str = "pos",
) -> dict[str, object]:
    total = round(sum(q * p for _, _, q, p in lines), 2)
    payload = {
        "event_id": eid,
        "type": "purchase",
        "lines": [
            {"sku": s, "category": c, "quantity": q, "unit_price": p} for s, c, q, p in lines
        ],
        "total": total,
    }
    return {
        "event_id": eid,
        "type": "purchase",
        "occurred_at": at,
        "source": source,
        "member_id": member,
        "total": total,
        "payload": json.dumps(payload),
    }


def _event(eid: str, kind: str, member: str, at: datetime, **extra: object) -> dict[str, object]:
    payload = {"event_id": eid, "type": kind, **extra}
    return {
        "event_id": eid,
        "type": kind,
        "occurred_at": at,
        "source": "app",
        "member_id": member,
        "total": None,
        "payload": json.dumps(payload),
    }


def history() -> pa.Table:
    day = AS_OF - timedelta(days=1)
    rows = [
        # m1: three purchases 10, 40 and 100 days before; a weekday-morning coffee regular
        _purchase("p1", "m1", AS_OF - timedelta(days=10, hours=-9), [("CF-LAT", "coffee", 2, 4.5)]),
        _purchase(
            "p2",
            "m1",
            AS_OF - timedelta(days=40, hours=-8),
            [("CF-LAT", "coffee", 1, 4.5), ("BK-CRO", "bakery", 1, 3.0)],
        ),
        _purchase(
            "p3",
            "m1",
            AS_OF - timedelta(days=100, hours=-10),
            [("CF-ESP", "coffee", 1, 3.0)],
            source="app",
        ),
        _event("o1", "message_opened", "m1", AS_OF - timedelta(days=5)),
        _event("d1", "message_delivered", "m1", AS_OF - timedelta(days=6)),
        _event("t1", "service_ticket_opened", "m1", AS_OF - timedelta(days=20), ticket_id="T1"),
        _event("f1", "feedback", "m1", AS_OF - timedelta(days=19), rating=2),
        # m2 (merged into m1 after ingestion): one purchase, counted for m1
        _purchase("p4", "m2", AS_OF - timedelta(days=3), [("BK-CRO", "bakery", 1, 3.0)]),
        # m3: never purchased, opened the app; its purchase after AS_OF is a label only
        _event("a1", "app_open", "m3", AS_OF - timedelta(days=2)),
        _purchase("p5", "m3", AS_OF + timedelta(days=7), [("CF-LAT", "coffee", 1, 4.5)]),
        # m1 buys again 20 days after the snapshot; the snapshot must not see it
        _purchase("p6", "m1", AS_OF + timedelta(days=20), [("BK-CRO", "bakery", 2, 3.0)]),
        _event("late", "app_open", "m4", day + timedelta(days=2)),  # after AS_OF: no row for m4
    ]
    columns = {
        name: [r.get(name) for r in rows]
        for name in ("event_id", "type", "occurred_at", "source", "member_id", "total", "payload")
    }
    columns["received_at"] = [AS_OF + timedelta(days=30)] * len(rows)
    columns["order_id"] = [None] * len(rows)
    return pa.table(columns, schema=SCHEMA)


def member_map() -> pa.Table:
    return pa.table(
        {"member_id": ["m2"], "survivor_id": ["m1"]}, schema=inputs.SCHEMAS["member_map"]
    )


def members() -> pa.Table:
    return pa.table(
        {
            "member_id": ["m1", "m3"],
            "timezone": ["America/New_York", None],
            "birthday": [date(1990, 7, 1), None],
        },
        schema=inputs.SCHEMAS["members"],
    )


def ledger() -> pa.Table:
    at = [AS_OF - timedelta(days=10), AS_OF - timedelta(days=5), AS_OF + timedelta(days=1)]
    return pa.table(
        {
            "member_id": ["m1", "m1", "m1"],
            "occurred_at": at,
            "currency": ["pts", "pts", "pts"],
            "amount": [90, -40, 500],
            "kind": ["earn", "redeem", "earn"],
        },
        schema=inputs.SCHEMAS["ledger"],
    )
