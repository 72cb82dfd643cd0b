"""The pipeline's inputs read from the operational store (SQLite or PostgreSQL) as Arrow.

The event history itself is Parquet and is read by the engine directly; from the store
come the merge map (events follow merges made after they were ingested), the stated
attributes that say a member's time zone and age, and the ledger's member postings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy import Engine

from nextbest.store import tables as t

SCHEMAS: dict[str, pa.Schema] = {
    "member_map": pa.schema([("member_id", pa.string()), ("survivor_id", pa.string())]),
    "members": pa.schema(
        [("member_id", pa.string()), ("timezone", pa.string()), ("birthday", pa.date32())]
    ),
    "ledger": pa.schema(
        [
            ("member_id", pa.string()),
            ("occurred_at", pa.timestamp("us", tz="UTC")),
            ("currency", pa.string()),
            ("amount", pa.int64()),
            ("kind", pa.string()),
        ]
    ),
}


def empty(name: str) -> pa.Table:
    return SCHEMAS[name].empty_table()


def member_map(engine: Engine) -> pa.Table:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.members.c.member_id, t.members.c.merged_into).where(
                t.members.c.merged_into.is_not(None)
            )
        ).all()
    return pa.table(
        {"member_id": [r[0] for r in rows], "survivor_id": [r[1] for r in rows]},
        schema=SCHEMAS["member_map"],
    )


def member_attributes(engine: Engine) -> pa.Table:
    """Time zone and birthday as stated (latest statement wins, as in the profile)."""
    ids: list[str] = []
    zones: list[str | None] = []
    birthdays: list[Any] = []
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=20_000).execute(
            sa.select(t.profiles.c.member_id, t.profiles.c.state)
        )
        for member_id, state in result:
            attributes = orjson.loads(state).get("attributes", {})
            ids.append(member_id)
            zones.append(_stated(attributes, "timezone"))
            birthdays.append(_date(_stated(attributes, "birthday")))
    return pa.table(
        {"member_id": ids, "timezone": zones, "birthday": birthdays}, schema=SCHEMAS["members"]
    )


def ledger_postings(engine: Engine) -> pa.Table:
    p, e = t.ledger_postings, t.ledger_entries
    query = (
        sa.select(p.c.member_id, e.c.occurred_at, p.c.currency, p.c.amount, e.c.kind)
        .join(e, e.c.entry_id == p.c.entry_id)
        .where(p.c.member_id.is_not(None))
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pa.table(
        {
            "member_id": [r[0] for r in rows],
            "occurred_at": [_utc(r[1]) for r in rows],
            "currency": [r[2] for r in rows],
            "amount": [int(r[3]) for r in rows],
            "kind": [r[4] for r in rows],
        },
        schema=SCHEMAS["ledger"],
    )


def _stated(attributes: dict[str, Any], name: str) -> str | None:
    stated = attributes.get(name)
    return str(stated[0]) if stated and stated[0] is not None else None


def _date(text: str | None) -> Any:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        return None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
