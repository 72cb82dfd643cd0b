"""Fast multi-row writes for both dialects, bypassing per-row ORM work on hot paths.

SQLite gets ``executemany`` with timestamps pre-formatted the way SQLAlchemy stores them
(UTC, so lexical order is time order); PostgreSQL gets ``COPY`` for big batches.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table

COPY_THRESHOLD = 500


def _sqlite_value(value: Any) -> Any:
    # Text in UTC with a fixed layout, so that text order is time order; SQLAlchemy's
    # SQLite DATETIME reads the leading "YYYY-MM-DD HH:MM:SS.ffffff" part back.
    return utc_text(value) if isinstance(value, datetime) else value


def utc_text(value: datetime) -> str:
    """Timestamp text both stores accept: UTC, microseconds, explicit offset.

    >>> from datetime import datetime, UTC
    >>> utc_text(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    '2026-01-02 03:04:05.000000+00:00'
    """
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value.isoformat(" ", "microseconds")


def _sqlite_rows(rows: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
    """Format the timestamp columns only: those whose first non-null value is a datetime.

    Hot paths pass timestamps already as ``utc_text`` and pay for nothing here.
    """
    width = len(rows[0])
    time_cols = [
        i
        for i in range(width)
        if isinstance(next((row[i] for row in rows if row[i] is not None), None), datetime)
    ]
    if not time_cols:
        return [tuple(row) for row in rows]
    out: list[Sequence[Any]] = []
    for row in rows:
        values = list(row)
        for i in time_cols:
            values[i] = _sqlite_value(values[i])
        out.append(tuple(values))
    return out


def select_in(
    conn: Connection, sql: str, values: Collection[Any], *, size: int = 10_000
) -> list[tuple[Any, ...]]:
    """Run ``sql`` (one ``{in}`` placeholder for the value list) over ``values`` in parts.

    Raw driver SQL: SQLAlchemy's per-statement compilation of large IN lists was a top cost
    of ingestion. PostgreSQL gets one array parameter, SQLite a list of markers.
    """
    ordered = sorted(values)
    found: list[tuple[Any, ...]] = []
    postgres = conn.dialect.name == "postgresql"
    for part in chunks(ordered, size):
        if postgres:
            # One array parameter, sent binary (text arrays are escaped value by value), as
            # a set to join: "= ANY(array)" on a table without statistics yet was planned
            # as a scan testing every row against the whole array.
            query = sql.replace("IN {in}", "IN (SELECT unnest(%b))")
            result = conn.exec_driver_sql(query, (list(part),))
        else:
            query = sql.replace("{in}", "(" + ",".join("?" * len(part)) + ")")
            result = conn.exec_driver_sql(query, tuple(part))
        found.extend(tuple(row) for row in result.fetchall())
    return found


def execute_many(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run a statement written with ``?`` markers once per row, in one driver call."""
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(sql, _sqlite_rows(rows))
    else:
        conn.exec_driver_sql(sql.replace("?", "%s"), [tuple(row) for row in rows])


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
        conn.exec_driver_sql(sql, _sqlite_rows(rows))
        return
    if not conflict and len(rows) >= COPY_THRESHOLD:
        raw = conn.connection.driver_connection
        assert raw is not None, "a live DBAPI connection"
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    _pg_unnest(conn, table, columns, conflict, rows)


def _pg_unnest(
    conn: Connection, table: Table, columns: Sequence[str], tail: str, rows: Sequence[Sequence[Any]]
) -> None:
    """All rows in one statement, one array parameter per column.

    psycopg's executemany sends a statement per row, and those round trips dominated small
    HTTP batches on PostgreSQL; ``unnest`` keeps the statement text fixed whatever the size.
    """
    casts = ", ".join(
        f"%b::{table.c[name].type.compile(dialect=conn.dialect)}[]" for name in columns
    )
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({casts}){tail}"
    conn.exec_driver_sql(sql, tuple(list(column) for column in zip(*rows, strict=True)))


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
    conflict = f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    if conn.dialect.name != "sqlite":
        _pg_unnest(conn, table, columns, conflict, rows)
        return
    marks = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {table.name} ({cols}) VALUES ({marks}){conflict}"
    conn.exec_driver_sql(sql, _sqlite_rows(rows))


def chunks(values: Sequence[Any], size: int = 5000) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
