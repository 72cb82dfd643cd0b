"""`nextbest bench analytics` on a tiny history: generated as asked, every stage run."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import typer
from typer.testing import CliRunner

from nextbest.bench.analytics import STAGES
from nextbest.bench.synthetic_history import HistorySpec, ensure_history, generate_chunk
from nextbest.cli.bench_analytics import bench_analytics
from nextbest.ingest.history import SCHEMA

MEMBERS, MONTHS = 2_000, 12


def test_generated_history_matches_the_request(tmp_path: Path) -> None:
    spec = HistorySpec(members=MEMBERS, months=MONTHS, seed=3, chunk_members=700)
    history = ensure_history(spec, cache=tmp_path)
    assert len(history.files) == 3
    events = pq.read_table(history.events_dir)
    assert events.schema.equals(SCHEMA)
    assert history.counts["events"] == events.num_rows
    members = pq.read_table(history.members_path)
    assert members.num_rows == MEMBERS
    assert len(set(members["member_id"].to_pylist())) == MEMBERS
    ids = events["event_id"].to_pylist()
    assert len(set(ids)) == len(ids)
    kinds = Counter(events["type"].to_pylist())
    assert kinds["purchase"] == history.counts["purchases"]
    assert set(kinds) == {"purchase", "message_delivered", "message_opened", "app_open"}
    assert pc.count_distinct(events["member_id"]).as_py() == MEMBERS  # all buy on joining
    assert 5 < kinds["purchase"] / MEMBERS < 30
    assert 0.1 < (events.num_rows - kinds["purchase"]) / kinds["purchase"] < 0.35
    start, end = spec.start.timestamp(), spec.start.timestamp() + (spec.days + 2) * 86_400
    stamps = pc.cast(events["occurred_at"], "int64").to_numpy() / 1e6
    assert start - 86_400 < stamps.min() and stamps.max() < end
    purchases = events.filter(pc.equal(events["type"], "purchase"))
    lines = 0
    for payload, total in zip(
        purchases["payload"].to_pylist(), purchases["total"].to_pylist(), strict=True
    ):
        body = json.loads(payload)
        assert 1 <= len(body["lines"]) <= 3
        lines += len(body["lines"])
        amount = sum(line["quantity"] * line["unit_price"] for line in body["lines"])
        assert abs(amount - total) < 1e-6 and body["total"] == total
    assert lines == history.counts["lines"]
    assert ensure_history(spec, cache=tmp_path).reused


def test_generation_is_deterministic() -> None:
    spec = HistorySpec(members=300, months=MONTHS)

    def draw(seed: int) -> list[object]:
        people, events, _ = generate_chunk(
            rng=np.random.default_rng([seed, 0]), chunk=0, first_member=0, members=300, spec=spec
        )
        return [people.to_pylist(), events.to_pylist()]

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)


def test_bench_runs_every_stage(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(bench_analytics)
    args = ["--members", str(MEMBERS), "--months", str(MONTHS), "--train-members", "1000"]
    args += ["--chunk-members", "1000", "--cache", str(tmp_path), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["members"] == MEMBERS
    assert figures["history"]["members"] == MEMBERS
    assert figures["transactions"] == figures["history"]["purchases"] > MEMBERS
    assert set(figures["stages"]) == set(STAGES)
    assert all(seconds > 0 for seconds in figures["stages"].values())
    assert abs(figures["total_seconds"] - sum(figures["stages"].values())) < 0.01
    assert figures["rfm"]["members_scored"] == sum(figures["rfm"]["segments"].values()) == MEMBERS
    assert figures["churn"]["train_sample_members"] == 1000
    assert figures["churn"]["scored_members"] == MEMBERS
    assert figures["churn"]["auc_model"] > 0.6
    assert figures["bgnbd"]["customers"] == MEMBERS
    assert figures["bgnbd"]["converged"]
    assert 0.0 < figures["bgnbd"]["p_alive"]["mean"] < 1.0
    assert figures["clv"]["clv"]["mean"] > 0
    assert figures["peer"]["rows"] == MEMBERS
    assert figures["ratio_features_to_peer"] > 1
