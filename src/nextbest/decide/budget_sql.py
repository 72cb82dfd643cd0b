"""Contact counters in the database (``contact_counters``) when Redis is not configured.

A reserve is one write transaction: one conditional upsert per slot, in key order, each
returning the new count only if the slot had room. A slot that returns nothing rolls the
whole transaction back, so the contact takes all its slots or none. PostgreSQL serialises
concurrent reserves on the upserted rows' locks (the fixed key order keeps them free of
deadlocks); SQLite's write transactions begin IMMEDIATE (see ``store.engine``), so
concurrent reserves queue on the database lock instead of failing on upgrade.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from nextbest.decide.budget import expired
from nextbest.decide.governance import Slot
from nextbest.store.engine import is_postgres, write_transaction
from nextbest.store.tables import contact_counters

ATTEMPTS = 5
RETRY_STATES = {"40001", "40P01"}  # serialization failure, deadlock detected
c = contact_counters.c


class _Full(Exception):
    """Raised inside the transaction to roll it back when a slot is full."""

    def __init__(self, slot: Slot) -> None:
        super().__init__(slot.key)
        self.slot = slot


def _retryable(exc: DBAPIError) -> bool:
    """Errors another attempt can get past: lost serialisation races, deadlocks and an
    SQLite lock that outlived busy_timeout."""
    state = getattr(exc.orig, "sqlstate", None)
    return state in RETRY_STATES or "database is locked" in str(exc.orig)


class SqlBudget:
    """A :class:`~nextbest.decide.budget.ContactBudget` on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert: Any = postgresql.insert if is_postgres(engine) else sqlite.insert

    def _take(self, conn: Connection, slot: Slot, now: float) -> bool:
        """Count one use of ``slot`` if it has room; False (nothing written) if full."""
        if slot.limit <= 0:
            return False
        stmt = self._insert(contact_counters).values(
            key=slot.key, count=1, expires_at=slot.expires_at
        )
        lapsed = and_(c.expires_at.is_not(None), c.expires_at <= now)
        stmt = stmt.on_conflict_do_update(
            index_elements=[c["key"]],
            set_={
                "count": case((lapsed, 1), else_=c["count"] + 1),
                "expires_at": stmt.excluded.expires_at,
            },
            where=or_(lapsed, c["count"] < slot.limit),
        ).returning(c["count"])
        return conn.execute(stmt).first() is not None

    def reserve(self, slots: Sequence[Slot], *, now: float) -> Slot | None:
        if not slots:
            return None
        for attempt in range(ATTEMPTS):
            try:
                with write_transaction(self.engine) as conn:
                    for slot in slots:
                        if not self._take(conn, slot, now):
                            raise _Full(slot)
                return None
            except _Full as full:
                return full.slot
            except DBAPIError as exc:
                if attempt == ATTEMPTS - 1 or not _retryable(exc):
                    raise
                time.sleep(0.005 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def release(self, slots: Sequence[Slot], *, now: float) -> None:
        if not slots:
            return
        live = or_(c.expires_at.is_(None), c.expires_at > now)
        stmt = (
            update(contact_counters)
            .where(c["key"].in_(sorted({s.key for s in slots})), c["count"] > 0, live)
            .values(count=c["count"] - 1)
        )
        for attempt in range(ATTEMPTS):
            try:
                with write_transaction(self.engine) as conn:
                    conn.execute(stmt)
                return
            except DBAPIError as exc:
                if attempt == ATTEMPTS - 1 or not _retryable(exc):
                    raise
                time.sleep(0.005 * 2**attempt)

    def usage(self, keys: Sequence[str], *, now: float) -> dict[str, int]:
        if not keys:
            return {}
        query = select(c["key"], c["count"], c.expires_at).where(c["key"].in_(list(keys)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {k: 0 if expired(at, now) else n for k, n, at in rows}
