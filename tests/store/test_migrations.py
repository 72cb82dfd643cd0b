"""The migrations build exactly the schema the table definitions describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from nextbest.store import tables as t
from nextbest.store.engine import current_revision, upgrade


def test_migrations_match_table_definitions(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_server_default": False})
        diff = compare_metadata(ctx, t.metadata)
    assert diff == []


def test_downgrade_then_upgrade_round_trips(engine: Engine) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    from nextbest.store.engine import alembic_config

    config = alembic_config(engine)
    command.downgrade(config, "0001")
    assert current_revision(engine) == "0001"
    upgrade(engine)
    assert current_revision(engine) == ScriptDirectory.from_config(config).get_current_head()
    assert current_revision(engine) == "0009"
