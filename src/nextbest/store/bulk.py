"""Fast multi-row writes for both dialects, bypassing per-row ORM work on hot paths.

SQLite gets ``executemany`` with timestamps pre-formatted the way SQLAlchemy stores them
(UTC, so lexical order is time order); PostgreSQL gets ``COPY`` for big batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table

COPY_THRESHOLD = 500


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        # SQLAlchemy's SQLite layout, in UTC so that text order is time order.
        v = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        return v.isoformat(sep=" ", timespec="microseconds")
    return value


def insert_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    on_conflict_do_nothing: Iterable[str] | None = None,
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table`` in one round of writes."""
    if not rows:
        return
    cols = ", ".join(columns)
    conflict = ""
    if on_conflict_do_nothing is not None:
        conflict = f" ON CONFLICT ({', '.join(on_conflict_do_nothing)}) DO NOTHING"
    if conn.dialect.name == "sqlite":
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {table.name} ({cols}) VALUES ({marks}){conflict}"
        has_time = [isinstance(v, datetime) for v in rows[0]]
        if any(has_time):
            rows = [tuple(_sqlite_value(v) for v in row) for row in rows]
        conn.exec_driver_sql(sql, list(rows))
        return
    if not conflict and len(rows) >= COPY_THRESHOLD:
        raw = conn.connection.driver_connection
        assert raw is not None, "a live DBAPI connection"
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("%s" for _ in columns)
    sql = f"INSERT INTO {table.name} ({cols}) VALUES ({marks}){conflict}"
    conn.exec_driver_sql(sql, list(rows))


def upsert_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    key: Sequence[str],
) -> None:
    """Insert or replace by ``key`` (same SQL on SQLite ≥ 3.24 and PostgreSQL)."""
    if not rows:
        return
    cols = ", ".join(columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    marks = ", ".join(mark for _ in columns)
    sql = (
        f"INSERT INTO {table.name} ({cols}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )
    if conn.dialect.name == "sqlite":
        rows = [tuple(_sqlite_value(v) for v in row) for row in rows]
    conn.exec_driver_sql(sql, list(rows))


def chunks(values: Sequence[Any], size: int = 5000) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
