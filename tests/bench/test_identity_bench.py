"""`nextbest bench identity` on a small simulated program: figures present and sane."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from nextbest.cli import app


def test_identity_bench_scores_three_matchers(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["bench", "identity", "--members", "400", "--cache", str(tmp_path), "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    records = figures["records"]
    assert records["deterministic"]["predicted_pairs"] == 0
    assert records["deterministic"]["true_pairs"] > 0
    ours = records["probabilistic"]
    assert ours["predicted_pairs"] > 0
    assert ours["precision"] >= 0.9
    assert (
        figures["probabilistic_events"]["persons_split"]
        <= figures["deterministic_events"]["persons_split"]
    )
    assert figures["link_run"]["merged"] == figures["merge_quality"]["merges"]
