"""The delivery queue (``deliveries``): enqueue in the caller's transaction, claim due rows,
record each outcome.

``enqueue`` writes inside the transaction of whoever decided to send (a journey step, a
decision), so a message exists exactly when the step that sent it does. Claiming pushes the
claimed rows' ``next_attempt_at`` past a lease in one short transaction (PostgreSQL skips
rows another worker has locked): no transaction stays open while a message is on the
network, and a worker that dies mid-send leaves its rows due again when the lease ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from nextbest.channels.message import OutboundMessage
from nextbest.identity.repository import as_utc
from nextbest.store import tables as t
from nextbest.store.engine import is_postgres, write_transaction

PENDING, SENT, RETRY, DEAD, SUPPRESSED = "pending", "sent", "retry", "dead", "suppressed"
STATUSES = (PENDING, SENT, RETRY, DEAD, SUPPRESSED)
DUE = (PENDING, RETRY)
ERROR_MAX = 2000
d = t.deliveries.c


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def enqueue(conn: Connection, message: OutboundMessage, *, now: datetime) -> bool:
    """Queue ``message`` in the caller's transaction; False if its id was queued before."""
    not_before = message.send_at or now
    stmt = (
        _insert(conn)(t.deliveries)
        .values(
            message_id=message.message_id,
            member_id=message.member_id,
            channel=message.channel,
            template=message.template,
            purpose=message.purpose,
            priority=message.priority,
            data=orjson.dumps(dict(message.data), default=str).decode(),
            journey_id=message.journey_id,
            step=message.step,
            status=PENDING,
            attempts=0,
            next_attempt_at=not_before.timestamp(),
            created_at=now,
            governed=int(message.governed),
        )
        .on_conflict_do_nothing(index_elements=["message_id"])
        .returning(d.message_id)  # rowcount is not reliable for ON CONFLICT on every driver
    )
    return conn.execute(stmt).first() is not None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed row: the message as queued plus its delivery state."""

    message: OutboundMessage
    attempts: int
    status: str


def _message(row: Any) -> OutboundMessage:
    return OutboundMessage(
        message_id=row.message_id,
        member_id=row.member_id,
        channel=row.channel,
        template=row.template,
        purpose=row.purpose,
        priority=row.priority,
        data=orjson.loads(row.data),
        journey_id=row.journey_id,
        step=row.step,
        send_at=None,
        governed=bool(row.governed),
    )


def claim(db: Engine, *, now: float, limit: int, lease_seconds: float) -> list[Claimed]:
    """Take up to ``limit`` due messages for this worker, oldest due first."""
    query = (
        select(t.deliveries)
        .where(d.status.in_(DUE), d.next_attempt_at <= now)
        .order_by(d.next_attempt_at)
        .limit(limit)
    )
    if is_postgres(db):
        query = query.with_for_update(skip_locked=True)
    with write_transaction(db) as conn:
        rows = conn.execute(query).all()
        if rows:
            conn.execute(
                update(t.deliveries)
                .where(d.message_id.in_([r.message_id for r in rows]))
                .values(next_attempt_at=now + lease_seconds)
            )
    return [Claimed(message=_message(r), attempts=r.attempts, status=r.status) for r in rows]


def finish(db: Engine, message_id: str, *, expected: str, **values: Any) -> bool:
    """Record an outcome, unless the row moved on meanwhile (an operator's change, or a
    worker that claimed it after this one's lease ran out)."""
    if "last_error" in values and values["last_error"] is not None:
        values["last_error"] = str(values["last_error"])[:ERROR_MAX]
    with write_transaction(db) as conn:
        done = conn.execute(
            update(t.deliveries)
            .where(d.message_id == message_id, d.status == expected)
            .values(**values)
        ).rowcount
    return bool(done)


def status_counts(db: Engine) -> dict[tuple[str, str], int]:
    """Messages by (status, channel)."""
    with db.connect() as conn:
        rows = conn.execute(
            select(d.status, d.channel, func.count()).group_by(d.status, d.channel)
        ).all()
    return {(status, channel): n for status, channel, n in rows}


def dead_letters(db: Engine, *, limit: int = 50) -> list[dict[str, Any]]:
    """The latest messages that will not be sent, with the reason."""
    with db.connect() as conn:
        rows = conn.execute(
            select(
                d.message_id,
                d.member_id,
                d.channel,
                d.template,
                d.attempts,
                d.last_error,
                d.created_at,
            )
            .where(d.status == DEAD)
            .order_by(d.created_at.desc(), d.message_id)
            .limit(limit)
        ).all()
    return [{**r._asdict(), "created_at": as_utc(r.created_at).isoformat()} for r in rows]


def delivery(db: Engine, message_id: str) -> dict[str, Any] | None:
    """One message's row, for tests and the CLI."""
    with db.connect() as conn:
        row = conn.execute(select(t.deliveries).where(d.message_id == message_id)).first()
    return None if row is None else dict(row._mapping)


def requeue_dead(db: Engine, *, now: datetime | None = None) -> int:
    """Give every dead letter a fresh set of attempts (after fixing what killed them)."""
    at = (now or datetime.now(UTC)).timestamp()
    with write_transaction(db) as conn:
        return int(
            conn.execute(
                update(t.deliveries)
                .where(d.status == DEAD)
                .values(status=PENDING, attempts=0, next_attempt_at=at)
            ).rowcount
        )
