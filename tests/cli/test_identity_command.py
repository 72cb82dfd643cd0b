"""`nextbest identity show` explains a member: identifiers, the merges and their causes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nextbest.cli import app
from nextbest.config import Settings
from nextbest.ingest.pipeline import Ingestor
from nextbest.store.engine import make_engine, upgrade
from tests.ingest.test_pipeline import records, story


@pytest.fixture
def ingested(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXTBEST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("NEXTBEST_DATABASE_URL", raising=False)
    settings = Settings(ingest_chunk_size=1)  # one event per chunk: members merge later
    engine = make_engine(settings)
    upgrade(engine)
    Ingestor(engine, settings).ingest_records(records(story()), origin="test")
    engine.dispose()


@pytest.mark.usefixtures("ingested")
def test_show_lists_identifiers_and_the_event_behind_each_merge() -> None:
    result = CliRunner().invoke(app, ["identity", "show", "ann@example.com", "--json"])
    assert result.exit_code == 0, result.output
    view = json.loads(result.output)
    assert {i["key"] for i in view["identifiers"]} == {
        "email:ann@example.com",
        "pos_card:CARD-1",
        "device_id:DEV-1",
    }
    assert [m["event_id"] for m in view["merged_from"]] == ["s1", "s1"]
    table = CliRunner().invoke(app, ["identity", "show", "pos_card:card-1"], terminal_width=200)
    assert "merges in this member" in table.output and "s1" in table.output


@pytest.mark.usefixtures("ingested")
def test_unknown_identifier_exits_with_a_reason() -> None:
    result = CliRunner().invoke(app, ["identity", "show", "nobody@example.com"])
    assert result.exit_code == 1
    assert "no member with identifier" in result.output
