"""The decision log: every decision with its context, candidates and propensity.

Rows are buffered and written in batches by one background thread, so a decision does not
wait for a commit (thousands per second on SQLite would otherwise queue on its one writer).
A decision is in the log within ``flush_seconds``; ``flush()`` forces it (tests, the CLI,
shutdown). A replayed request finds its decision in the buffer before the table.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from nextbest.identity.repository import as_utc
from nextbest.store import tables as t
from nextbest.store.engine import is_postgres, write_transaction


class DecisionLog:
    """Append-only, idempotent (a decision id or request key is written once)."""

    def __init__(self, engine: Engine, *, flush_seconds: float = 0.2, batch: int = 2000) -> None:
        self.engine = engine
        self.flush_seconds = flush_seconds
        self.batch = batch
        self._insert: Any = postgresql.insert if is_postgres(engine) else sqlite.insert
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._pending: list[dict[str, Any]] = []
        self._by_key: dict[str, dict[str, Any]] = {}
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.written = 0

    def append(self, row: Mapping[str, Any]) -> None:
        with self._lock:
            self._pending.append(dict(row))
            if row.get("request_key"):
                self._by_key[row["request_key"]] = dict(row)
            full = len(self._pending) >= self.batch
            if self._thread is None and self.flush_seconds > 0:
                self._thread = threading.Thread(target=self._run, daemon=True, name="nba-log")
                self._thread.start()
        if self.flush_seconds <= 0:
            self.flush()
        elif full:
            self._wake.set()

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write what is buffered; returns the number of rows handed to the database."""
        with self._flushing:
            with self._lock:
                rows, self._pending = self._pending, []
            if not rows:
                return 0
            stmt = self._insert(t.decisions).on_conflict_do_nothing()
            with write_transaction(self.engine) as conn:
                conn.execute(stmt, rows)
            with self._lock:
                for row in rows:
                    key = row.get("request_key")
                    if not key:
                        continue
                    mine = self._by_key.get(key)
                    if mine is not None and mine["decision_id"] == row["decision_id"]:
                        del self._by_key[key]
            self.written += len(rows)
            return len(rows)

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()

    def by_request_key(self, key: str) -> dict[str, Any] | None:
        """The decision already made for an idempotency key, or None."""
        with self._lock:
            got = self._by_key.get(key)
        if got is not None:
            return got
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(t.decisions).where(t.decisions.c.request_key == key))
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def get(self, decision_id: str) -> dict[str, Any] | None:
        self.flush()
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(t.decisions).where(t.decisions.c.decision_id == decision_id))
                .mappings()
                .first()
            )
        return dict(row) if row else None


def rows_for_member(engine: Engine, member_id: str, *, limit: int = 50) -> Iterator[dict[str, Any]]:
    """The member's latest decisions, newest first, records parsed."""
    with engine.connect() as conn:
        rows = (
            conn.execute(
                select(t.decisions)
                .where(t.decisions.c.member_id == member_id)
                .order_by(t.decisions.c.decided_at.desc())
                .limit(limit)
            )
            .mappings()
            .all()
        )
    for row in rows:
        out = dict(row)
        out["record"] = orjson.loads(out["record"])
        out["decided_at"] = as_utc(out["decided_at"])
        yield out
