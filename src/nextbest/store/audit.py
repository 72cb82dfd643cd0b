"""The append-only audit log: who changed what, when, and why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select

from nextbest.store import tables as t


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    subject: str,
    detail: dict[str, Any],
    at: datetime,
) -> None:
    """Append one entry, in the caller's transaction (it commits with the change it records)."""
    conn.execute(
        insert(t.audit_log).values(
            at=at,
            actor=actor,
            action=action,
            subject=subject,
            detail=orjson.dumps(detail, option=orjson.OPT_SORT_KEYS).decode(),
        )
    )


def entries(
    conn: Connection,
    subject: str | None = None,
    limit: int = 100,
    *,
    action: str | None = None,
    before: int | None = None,
) -> list[dict[str, Any]]:
    """Newest first; only those about ``subject``, of ``action``, or older than the entry
    ``before`` (an ``audit_id``, to page on) when given."""
    query = select(t.audit_log).order_by(t.audit_log.c.audit_id.desc()).limit(limit)
    if subject is not None:
        query = query.where(t.audit_log.c.subject == subject)
    if action is not None:
        query = query.where(t.audit_log.c.action == action)
    if before is not None:
        query = query.where(t.audit_log.c.audit_id < before)
    return [{**row._asdict(), "detail": orjson.loads(row.detail)} for row in conn.execute(query)]
