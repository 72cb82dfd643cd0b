"""`nextbest bench console` on a tiny store: built, reused, every page served and timed."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from nextbest.bench.console import PAGES, StoreSpec, ensure_store, run_console_bench
from nextbest.cli.bench_console import bench_console

MEMBERS = 300


def test_the_bench_builds_a_store_and_times_every_page(tmp_path: Path) -> None:
    result = run_console_bench(cache=tmp_path, members=MEMBERS, months=12, score=False, loads=2)

    store = result["store"]
    assert not store["reused"]
    counts = store["counts"]
    assert counts["members"] == MEMBERS
    assert counts["dead_letters"] == 0
    # every generated event was ingested, plus one signup per member
    assert counts["events"] == counts["history_events"] + MEMBERS
    assert counts["ledger_entries"] > 0  # the demo program was active: purchases earned
    assert set(store["build_stages_s"]) == {"history", "events", "ingest"}

    assert list(result["pages"]) == [p.name for p in PAGES]
    for name, page in result["pages"].items():
        assert page["status"] == 200, name
        assert page["first_s"] > 0 and page["cold_s"] > 0 and page["warm_s"] > 0, name
        assert page["bytes"] > 0, name
    member = result["member_searched"]
    assert result["pages"]["member_360"]["path"] == f"/console/members/{member}"
    assert result["peer_floor"]["warm_s"] > 0
    assert result["peer_duckdb"]["months"] > 0
    assert result["ratio_overview_cold_to_duckdb"] > 0

    # the same spec again: the store is reused, and the CLI prints one JSON object with units
    assert ensure_store(StoreSpec(members=MEMBERS, months=12, score=False), cache=tmp_path).reused
    app = typer.Typer()
    app.command()(bench_console)
    args = ["--members", str(MEMBERS), "--months", "12", "--no-score", "--loads", "1"]
    out = CliRunner().invoke(app, [*args, "--cache", str(tmp_path), "--json"])
    assert out.exit_code == 0, out.output
    figures = json.loads(out.stdout)
    assert figures["store"]["reused"]
    assert figures["units"]["cold_s"].startswith("s")
    assert figures["units"]["warm_s"].startswith("s")
    assert figures["units"]["bytes"].startswith("bytes")
    assert all(p["status"] == 200 for p in figures["pages"].values())

    table = CliRunner().invoke(app, [*args, "--cache", str(tmp_path)])
    assert table.exit_code == 0, table.output
    assert "overview" in table.stdout and "floor (peer)" in table.stdout
