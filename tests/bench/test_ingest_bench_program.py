"""`bench ingest --program`: the second run really posts points, the first posts none."""

from __future__ import annotations

from pathlib import Path

import nextbest
from nextbest.bench.ingest import run_ingest_bench

DEMO = Path(nextbest.__file__).parent / "ledger" / "programs" / "bean_and_bake.yaml"


def test_ingest_bench_measures_with_and_without_a_program(tmp_path: Path) -> None:
    result = run_ingest_bench(
        events=3_000, members=60, seed=3, cache=tmp_path, workers=0, program=DEMO
    )
    without, with_points = result["ours_sqlite"], result["ours_sqlite_with_program"]
    assert without["accepted"] == with_points["accepted"] > 0
    assert without["points_earned"] == 0
    assert with_points["points_earned"] > 0
    assert result["ratio_with_program_to_without"] > 0
