"""Engines for the embedded default (SQLite) and production (PostgreSQL), and migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from nextbest.config import Settings

MIGRATIONS = Path(__file__).parent / "migrations"
WRITE_OPTION = "nextbest_write"


def make_engine(settings: Settings, *, url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (default: the configured database), SQLite tuned for ingestion."""
    target = make_url(url or settings.resolved_database_url)
    if target.get_backend_name() == "sqlite":
        if target.database and target.database != ":memory:":
            Path(target.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(target, **kwargs)
        synchronous = settings.sqlite_synchronous
        cache_kib = settings.sqlite_cache_mib * 1024

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy issue BEGIN itself so every unit of work is one real transaction.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA busy_timeout=30000")
            # The default 2 MiB page cache made inserts slow down as the indexes outgrew it.
            cur.execute(f"PRAGMA cache_size=-{cache_kib}")
            cur.execute("PRAGMA temp_store=MEMORY")
            # Checkpoint every ~80 MB of WAL, not 4 MB: small commits (HTTP) spent a fifth
            # of their time copying pages back into the database file.
            cur.execute("PRAGMA wal_autocheckpoint=20000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Writers take the lock up front (IMMEDIATE) so they queue instead of failing
            # on upgrade; readers stay deferred and never wait on a writer in WAL mode.
            write = conn.get_execution_options().get(WRITE_OPTION, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return create_engine(target, pool_pre_ping=True, **kwargs)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One unit of work that writes: commits on success, rolls back on any error."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


GRAPH_LOCK = 0x6E657874  # PostgreSQL advisory lock id: one writer of the identity graph at a time


@contextmanager
def graph_transaction(engine: Engine) -> Iterator[Connection]:
    """A write transaction that may change the identity graph (ingest, merge, unmerge).

    SQLite serialises writers already (BEGIN IMMEDIATE); PostgreSQL takes a transaction-scoped
    advisory lock, so resolution never reads a graph another writer is changing.
    """
    with write_transaction(engine) as conn:
        if is_postgres(engine):
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": GRAPH_LOCK})
        yield conn


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (``nextbest db upgrade``)."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
