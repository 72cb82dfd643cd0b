"""`nextbest segments rfm | migration | micro` on small Parquet and CSV feature tables."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from nextbest.bench.microsegments import synthetic_features
from nextbest.cli import app
from nextbest.cli.segments import FEATURES_MODULE

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich tables: one row a line


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("features") / "members.parquet"
    synthetic_features(2_000, seed=3).write_parquet(path)
    return path


def cli(*args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(app, ["segments", *args])
    assert result.exit_code == code, result.output
    return result


def test_rfm_prints_the_segment_table_and_writes_the_chart(features: Path, tmp_path: Path) -> None:
    chart = tmp_path / "rfm.png"
    out = cli("rfm", "--features", str(features), "--chart", str(chart), "--explain", "m0000001")
    for name in ("champions", "at risk", "no purchase", "mean monetary", "edges"):
        assert name in out.stdout
    assert "m0000001: " in out.stdout and "because" in out.stdout
    assert chart.read_bytes()[:8] == PNG


def test_rfm_json_is_one_object_with_the_edges(features: Path) -> None:
    out = cli("rfm", "--features", str(features), "--k", "4", "--axis", "fm", "--json")
    figures = json.loads(out.stdout)
    assert figures["members"] == 2_000 and figures["k"] == 4 and figures["axis"] == "fm"
    assert len(figures["edges"]["r"]) == 3
    assert sum(s["members"] for s in figures["segments"]) == 2_000
    assert {s["segment"] for s in figures["segments"]} >= {"champions", "lost", "no purchase"}


def test_rfm_reads_csv_and_names_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "members.csv"
    path.write_text("member_id,recency_days,frequency,monetary\n001,3,2,5.5\n002,,0,\n003,9,-1,4\n")
    out = cli("rfm", "--features", str(path), code=2)
    assert "row 2 (member 003): frequency: negative" in out.output
    path.write_text("member_id,recency_days,frequency,monetary\n001,3,2,5.5\n002,,0,\n")
    figures = json.loads(cli("rfm", "--features", str(path), "--json", "--explain", "001").stdout)
    # One purchaser: every edge is its own value, so R=5 and F=1: "new".
    assert [s["segment"] for s in figures["segments"]] == ["new", "no purchase"]
    assert figures["explain"][0].startswith("001: new: R=5")


def test_missing_features_module_exits_2_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, FEATURES_MODULE, None)  # import raises ModuleNotFoundError
    out = cli("rfm", "--as-of", "2026-03-01", code=2)
    assert f"--as-of needs {FEATURES_MODULE}" in out.output
    assert "--features FILE" in out.output


def test_as_of_uses_load_member_features(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    seen: dict[str, Any] = {}

    def load_member_features(settings: Any, *, as_of: Any) -> Any:
        seen["as_of"] = as_of
        return synthetic_features(300, seed=1).to_arrow()

    module = types.ModuleType(FEATURES_MODULE)
    module.load_member_features = load_member_features  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, FEATURES_MODULE, module)
    figures = json.loads(cli("micro", "--as-of", "2026-03-01", "--min-size", "5", "--json").stdout)
    assert str(seen["as_of"]) == "2026-03-01" and figures["members"] == 300


def test_no_input_and_bad_dates_exit_2(features: Path) -> None:
    assert "give --features FILE" in cli("rfm", code=2).output
    assert "not a date" in cli("rfm", "--as-of", "yesterday", code=2).output
    assert "no such file" in cli("micro", "--features", "nowhere.parquet", code=2).output
    assert "--axis" in cli("rfm", "--features", str(features), "--axis", "xy", code=2).output


def test_migration_prints_the_matrix(tmp_path: Path) -> None:
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    frame = synthetic_features(1_000, seed=4)
    frame.write_parquet(a)
    joined = synthetic_features(50, seed=5).with_columns(member_id="n" + pl.col("member_id"))
    later = frame.slice(100).with_columns(recency_days=pl.col("recency_days") + 30)
    pl.concat([later, joined]).write_parquet(b)
    chart = tmp_path / "migration.png"
    out = cli("migration", "--features-a", str(a), "--features-b", str(b), "--chart", str(chart))
    assert "from \\ to" in out.stdout and "(left)" in out.stdout and "(entered)" in out.stdout
    assert "1,050 members" in out.stdout
    assert any(line.startswith("│ (entered)") for line in out.stdout.splitlines())
    assert chart.read_bytes()[:8] == PNG
    args = ("migration", "--features-a", str(a), "--features-b", str(b), "--json")
    figures = json.loads(cli(*args, "--fixed-edges").stdout)
    assert figures["members"] == 1_050
    left = figures["to"].index("(left)")
    assert sum(row[left] for row in figures["counts"]) == 100
    assert figures["from"][0] == "(entered)" and sum(figures["counts"][0]) == 50


def test_micro_prints_top_segments_and_writes_members(features: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "segments.parquet"
    args = ("micro", "--features", str(features), "--min-size", "20", "--top", "5")
    out = cli(*args, "--out", str(out_file))
    assert "micro-segments for 2,000 members in" in out.stdout
    assert "largest 5 segments" in out.stdout
    written = pl.read_parquet(out_file)
    assert written.columns == ["member_id", "segment_id", "description"]
    assert written.height == 2_000
    assert written.group_by("segment_id").len()["len"].min() >= 20
    figures = json.loads(cli(*args, "--json").stdout)
    assert figures["sizes"]["min"] >= 20 and len(figures["top"]) == 5
    assert figures["units"]["seconds"] == "s"
    csv_file = tmp_path / "segments.csv"
    cli("micro", "--features", str(features), "--out", str(csv_file))
    assert csv_file.read_text().startswith("member_id,segment_id,description\n")
