"""The linking benchmarks run end to end at small sizes and report what they promise."""

from __future__ import annotations

import json

import pyarrow as pa
from typer.testing import CliRunner

from nextbest.bench.linking import _truth, exact_match_dedupe, expert_febrl4
from nextbest.cli import app
from nextbest.datasets.febrl import load_febrl
from nextbest.identity.linking.metrics import cluster_scores, link_scores
from nextbest.sim.identity_records import identity_records


def test_bench_dedupe_json_has_phases_scores_and_ratios() -> None:
    result = CliRunner().invoke(app, ["bench", "dedupe", "--records", "1500", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    ours = figures["ours"]
    assert {"infer_s", "prepare_s", "train_s", "predict_s", "cluster_s", "total_s"} <= set(ours)
    assert figures["records"] == 1500
    # probabilistic linking finds the persons exact identifiers cannot
    assert ours["recall"] > figures["peer_exact_email_phone"]["recall"]
    assert ours["f1"] >= 0.9
    assert figures["ratios_ours_to_peer"]["recall"] > 1.0


def test_exact_match_peer_links_shared_emails_and_phones() -> None:
    table = pa.table(
        {
            "record_id": ["a", "b", "c", "d"],
            "email": ["X@y.com", "x@y.com ", None, None],
            "phone": [None, "(415) 555-0134", "+1 415 555 0134", "999"],
        }
    )
    clusters, _ = exact_match_dedupe(table)
    assert clusters.to_pydict()["cluster_id"] == ["a", "a", "a", "d"]


def test_expert_peer_model_links_febrl4() -> None:
    left, right = load_febrl("dataset4a"), load_febrl("dataset4b")
    pairs, timings = expert_febrl4(left, right, threshold=0.9)
    scores = link_scores(pairs, _truth(left), _truth(right))
    assert scores.f1 >= 0.99
    assert {"train", "predict", "total"} <= set(timings)


def test_identity_records_truth_matches_cluster_scoring() -> None:
    table = identity_records(200, seed=2)
    truth = pa.table({"record_id": table["record_id"], "entity": table["person_id"]})
    perfect = pa.table({"record_id": table["record_id"], "cluster_id": table["person_id"]})
    assert cluster_scores(perfect, truth).f1 == 1.0
