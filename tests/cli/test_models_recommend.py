"""`nextbest models recommend` on a tiny simulated history, ingested and raw."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nextbest.cli import app
from nextbest.config import Settings
from nextbest.ingest.service import ingest_file
from nextbest.sim import SimConfig, simulate_to_dir
from nextbest.store.engine import make_engine, upgrade

AS_OF = "2025-02-15"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate_to_dir(SimConfig(members=250, months=2, seed=5, start=date(2025, 1, 1)), out)
    return out


@pytest.fixture(scope="module")
def history(sim: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("store"),
        database_url=None,
        redis_url=None,
        ingest_workers=0,
    )
    engine = make_engine(settings)
    upgrade(engine)
    for part in sorted((sim / "events").glob("events-*.parquet")):
        ingest_file(engine, settings, part)
    engine.dispose()
    return settings.event_history_dir


def run(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["models", "recommend", "--as-of", AS_OF, *args, "--json"])
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def test_history_sample_with_explanations_that_add_up(history: Path) -> None:
    out = run("--history", str(history), "-k", "4", "--sample", "3")
    assert out["source"] == "history" and out["level"] == "sku"
    assert out["model"]["kind"] == "item_knn" and len(out["model"]["version"]) == 12
    assert len(out["members"]) == 3
    for member in out["members"]:
        assert member["known"] and member["member_id"].startswith("m_")
        recs = member["recommendations"]
        assert [r["rank"] for r in recs] == [1, 2, 3, 4]
        assert [r["score"] for r in recs] == sorted((r["score"] for r in recs), reverse=True)
        bought = {b["item"] for b in member["bought"]}
        for r in recs:
            total = sum(b["share"] for b in r["because"]) + r["base"]
            assert total == pytest.approx(r["score"], abs=1e-5)
            assert {b["item"] for b in r["because"]} <= bought


def test_members_levels_models_and_new_only(sim: Path) -> None:
    out = run(
        "--history", str(sim), "--member", "P0000007", "--member", "nobody",
        "--level", "category", "-k", "3", "--new-only", "--model", "als",
    )  # fmt: skip
    assert out["source"] == "simulation" and out["model"]["kind"] == "als"
    known, unknown = out["members"]
    assert known["member_id"] == "P0000007" and unknown == {
        **unknown,
        "member_id": "nobody",
        "known": False,
        "bought": [],
    }
    assert len(unknown["recommendations"]) == 3  # popularity fills in for a stranger
    assert all(r["because"] == [] for r in unknown["recommendations"])
    bought = {b["item"] for b in known["bought"]}
    assert bought and not bought & {r["item"] for r in known["recommendations"]}


def test_same_as_of_same_version(sim: Path) -> None:
    a = run("--history", str(sim), "--sample", "1")
    b = run("--history", str(sim), "--sample", "1")
    assert a == b
    later = CliRunner().invoke(
        app, ["models", "recommend", "--history", str(sim), "--as-of", "2025-02-20", "--json"]
    )
    assert json.loads(later.stdout)["model"]["version"] != a["model"]["version"]


def test_table_output(sim: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["models", "recommend", "--history", str(sim), "--as-of", AS_OF, "--member", "P0000007"],
    )
    assert result.exit_code == 0, result.output
    assert "P0000007" in result.stdout and "because" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--level", "brand"], 2, "--level must be one of sku, category"),
        (["--model", "deep"], 2, "--model must be one of"),
        (["--as-of", "soon"], 2, "--as-of must be YYYY-MM-DD"),
        (["--as-of", "2024-01-01"], 1, "no purchases before 2024-01-01"),
    ],
)
def test_bad_arguments_say_why(sim: Path, args: list[str], code: int, message: str) -> None:
    result = CliRunner().invoke(
        app, ["models", "recommend", "--history", str(sim), "--as-of", AS_OF, *args]
    )
    assert result.exit_code == code
    assert message in result.output


def test_missing_history_is_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["models", "recommend", "--history", str(tmp_path), "--as-of", AS_OF]
    )
    assert result.exit_code == 1
    assert "no event history files" in result.output
