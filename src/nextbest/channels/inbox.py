"""The in-app inbox: the adapter writes ``inbox_messages``; the app reads and marks them.

Writing is idempotent on the message id, so a resend after a crash shows the message once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from nextbest.channels.message import DeliveryResult, OutboundMessage, Rendered
from nextbest.identity.repository import as_utc
from nextbest.store import tables as t
from nextbest.store.engine import is_postgres, write_transaction

i = t.inbox_messages.c


class InboxAdapter:
    def __init__(self, db: Engine) -> None:
        self.db = db
        self._insert: Any = postgresql.insert if is_postgres(db) else sqlite.insert

    def send(
        self, rendered: Rendered, message: OutboundMessage, address: str | None
    ) -> DeliveryResult:
        stmt = (
            self._insert(t.inbox_messages)
            .values(
                message_id=message.message_id,
                member_id=message.member_id,
                title=rendered.subject[:500],
                body=rendered.text,
                created_at=datetime.now(UTC),
            )
            .on_conflict_do_nothing(index_elements=["message_id"])
        )
        with write_transaction(self.db) as conn:
            conn.execute(stmt)
        return DeliveryResult.delivered(f"inbox:{message.message_id}")


def _view(row: Any) -> dict[str, Any]:
    return {
        "message_id": row.message_id,
        "title": row.title,
        "body": row.body,
        "created_at": as_utc(row.created_at).isoformat(),
        "read_at": as_utc(row.read_at).isoformat() if row.read_at else None,
    }


def list_inbox(
    conn: Connection, member_id: str, *, unread_only: bool = False, limit: int = 50
) -> list[dict[str, Any]]:
    """The member's messages, newest first."""
    query = select(t.inbox_messages).where(i.member_id == member_id)
    if unread_only:
        query = query.where(i.read_at.is_(None))
    query = query.order_by(i.created_at.desc(), i.message_id.desc()).limit(limit)
    return [_view(r) for r in conn.execute(query)]


def unread_count(conn: Connection, member_id: str) -> int:
    from sqlalchemy import func

    return int(
        conn.execute(
            select(func.count()).where(i.member_id == member_id, i.read_at.is_(None))
        ).scalar_one()
    )


def mark_read(db: Engine, member_id: str, message_id: str, *, now: datetime) -> dict[str, Any]:
    """Mark one of the member's messages read (the first read time stays); raises NotFound."""
    from nextbest.errors import NotFound

    with write_transaction(db) as conn:
        conn.execute(
            update(t.inbox_messages)
            .where(i.member_id == member_id, i.message_id == message_id, i.read_at.is_(None))
            .values(read_at=now)
        )
        row = conn.execute(
            select(t.inbox_messages).where(i.member_id == member_id, i.message_id == message_id)
        ).first()
    if row is None:
        raise NotFound(f"no inbox message {message_id!r} for member {member_id}")
    return _view(row)
