"""`bench recommend` on a tiny simulation: one JSON object, both levels and modes, ratios."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nextbest.bench.recommend import run_recommend_bench
from nextbest.cli import app

ARGS = ["--members", "300", "--months", "3", "--seed", "3"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench")


@pytest.fixture(scope="module")
def figures(cache: Path) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["bench", "recommend", *ARGS, "--cache", str(cache), "--json"])
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def test_one_json_object_with_every_level_mode_and_model(figures: dict[str, Any]) -> None:
    assert figures["simulation"]["reused"] is False
    assert figures["split"] == "2025-03-02"  # 30 days before the end of the simulation
    assert figures["units"]["fit_seconds"] == "s"
    for level, k in (("sku", 10), ("category", 3)):
        r = figures["levels"][level]
        assert r["k"] == k
        assert r["train_members"] > 0 and 0 < r["repeat_share"] <= 1
        assert set(r["fit_seconds"]) == {"item_knn", "als", "popularity", "frequency"}
        for mode, models in (("next", 4), ("new", 3)):
            m = r["modes"][mode]
            assert m["members"] > 0
            assert len(m["models"]) == models
            for name in m["models"]:
                assert 0 <= m["models"][name]["recall"] <= 1
                assert 0 <= m["models"][name]["ndcg"] <= 1
                assert m["models"][name]["members_per_s"] > 0
            ours, peer = m["models"]["item_knn"], m["models"]["popularity"]
            vs_peer = m["ratios"]["item_knn_to_popularity"]
            assert vs_peer["recall"] == pytest.approx(ours["recall"] / peer["recall"], abs=2e-3)
            assert vs_peer["recall_difference"] == pytest.approx(
                ours["recall"] - peer["recall"], abs=2e-4
            )
            assert vs_peer["recall_difference_se"] >= 0
        assert "item_knn_to_frequency" in r["modes"]["next"]["ratios"]
        assert "item_knn_to_frequency" not in r["modes"]["new"]["ratios"]


def test_the_simulation_is_reused_and_sim_dir_gives_the_same_figures(
    cache: Path, figures: dict[str, Any]
) -> None:
    again = run_recommend_bench(members=300, months=3, seed=3, cache=cache)
    assert again["simulation"]["reused"] is True
    sim = Path(figures["simulation"]["dir"])
    direct = run_recommend_bench(sim=sim, cache=cache)
    for result in (again, direct):
        for level in ("sku", "category"):
            for mode in ("next", "new"):
                assert (
                    result["levels"][level]["modes"][mode]["models"]["item_knn"]["recall"]
                    == figures["levels"][level]["modes"][mode]["models"]["item_knn"]["recall"]
                )


def test_table_and_bad_split(cache: Path) -> None:
    table = CliRunner().invoke(app, ["bench", "recommend", *ARGS, "--cache", str(cache)])
    assert table.exit_code == 0, table.output
    assert "popularity" in table.stdout and "recall@10" in table.stdout
    assert "ours - frequency" in table.stdout
    late = CliRunner().invoke(
        app, ["bench", "recommend", *ARGS, "--cache", str(cache), "--split", "2030-01-01"]
    )
    assert late.exit_code == 1
    assert "move --split" in late.output
