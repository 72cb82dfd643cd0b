"""`bench microsegments` on a small run: counts, sizes, the peer's cells and the RFM time."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nextbest.bench.microsegments import synthetic_features
from nextbest.cli import app


def test_bench_microsegments_reports_figures_and_the_peer() -> None:
    args = ["bench", "microsegments", "--members", "5000", "--min-size", "20", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    ours = figures["microsegments"]
    assert ours["segments"] > 10 and ours["min_size"] >= 20
    assert ours["min_size"] <= ours["median_size"] <= ours["max_size"]
    assert figures["same_cells"] is True
    assert figures["peer_group_by"]["cells"] == ours["raw_cells"]
    assert figures["ratio_to_peer"] > 0
    assert sum(figures["rfm"]["segments"].values()) == 5000
    assert figures["units"]["members_per_s"] == "members/s"


def test_bench_table_prints_ours_beside_the_peer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, ["bench", "microsegments", "--members", "2000"])
    assert result.exit_code == 0, result.output
    assert "peer: group_by count" in result.stdout and "RFM scores" in result.stdout


def test_synthetic_table_is_deterministic_and_skewed() -> None:
    a, b = synthetic_features(3000, seed=9), synthetic_features(3000, seed=9)
    assert a.equals(b)
    bought = a.filter(a["frequency"] > 0)
    assert bought["frequency"].mean() > bought["frequency"].median()  # type: ignore[operator]
    assert a["top_category"].value_counts(sort=True)["top_category"][0] == "coffee"
