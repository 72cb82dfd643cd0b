"""`nextbest proposals` end to end on a SQLite data dir (the group is mounted by the lead)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nextbest.cli.proposals import app
from nextbest.config import Settings
from nextbest.store.engine import make_engine, upgrade
from tests.agents.support import with_cost, with_unknown_channel


def test_propose_list_show_approve_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("NEXTBEST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("NEXTBEST_DATABASE_URL", raising=False)
    settings = Settings()
    upgrade(make_engine(settings))
    runner = CliRunner()
    bad, line = with_unknown_channel()
    (tmp_path / "bad.yaml").write_text(bad)
    refused = runner.invoke(app, ["propose", str(tmp_path / "bad.yaml"), "--as", "user:a"])
    assert refused.exit_code == 1
    assert f"line {line}" in refused.output
    (tmp_path / "new.yaml").write_text(with_cost("0.5"))
    made = runner.invoke(app, ["propose", str(tmp_path / "new.yaml"), "--as", "user:a"])
    assert made.exit_code == 0, made.output
    pid = made.stdout.strip()
    assert pid in runner.invoke(app, ["list", "--status", "pending"], env={"COLUMNS": "200"}).stdout
    assert "+    cost: 0.5" in runner.invoke(app, ["show", pid]).stdout
    own = runner.invoke(app, ["approve", pid, "--as", "user:a"])
    assert own.exit_code == 1 and "four eyes" in own.output
    ok = runner.invoke(app, ["approve", pid, "--as", "user:b", "--note", "fine"])
    assert ok.exit_code == 0, ok.output
    assert settings.writable_catalogue_path().read_text() == with_cost("0.5")
