"""`nextbest keys` end to end on the configured (SQLite) database."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nextbest.api.keys_store import verify_key
from nextbest.cli.keys import app
from nextbest.config import Settings
from nextbest.errors import Unauthorized
from nextbest.store.engine import make_engine, upgrade


def test_create_list_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXTBEST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("NEXTBEST_DATABASE_URL", raising=False)
    engine = make_engine(Settings())
    upgrade(engine)
    runner = CliRunner()

    created = runner.invoke(app, ["create", "--name", "till", "--scopes", "ingest,read"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    key = verify_key(engine, token)
    assert key.scopes == ("ingest", "read")

    listed = runner.invoke(app, ["list"])
    assert key.key_id in listed.stdout
    assert token.split("_", 2)[2] not in listed.stdout

    assert runner.invoke(app, ["revoke", key.key_id]).exit_code == 0
    with pytest.raises(Unauthorized):
        verify_key(engine, token)
    again = runner.invoke(app, ["revoke", key.key_id])
    assert again.exit_code == 1

    bad = runner.invoke(app, ["create", "--name", "x", "--scopes", "fly"])
    assert bad.exit_code != 0
    assert runner.invoke(app, ["create", "--name", "x"]).exit_code != 0  # no role: refused

    made = runner.invoke(app, ["create", "--name", "desk", "--roles", "service_agent"])
    assert made.exit_code == 0, made.output
    agent = verify_key(engine, made.stdout.strip().splitlines()[-1])
    assert agent.roles == ("service_agent",) and agent.scopes == ()
    assert "service_agent" in runner.invoke(app, ["list"], env={"COLUMNS": "200"}).stdout
    assert runner.invoke(app, ["create", "--name", "x", "--roles", "owner"]).exit_code != 0
    engine.dispose()
