"""`nextbest bench febrl` and `nextbest bench dedupe`: probabilistic linking, measured.

febrl: our auto-configured model on FEBRL4 (4a x 4b, 5,000 true pairs) beside an expert's
hand-written Splink model for the same data (the usual FEBRL4 choices: names with
Jaro-Winkler levels and term frequencies, date of birth, social security id, street
number, postcode, suburb, address), both trained the same way and timed in the same run;
plus a dedupe of FEBRL3. dedupe: a million simulated identity records, time per phase,
beside an exact-match dedupe on normalised email and phone in DuckDB.
"""

from __future__ import annotations

import time
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from nextbest.datasets.febrl import febrl_entities, load_febrl
from nextbest.identity.linking import dedupe, infer_config, link
from nextbest.identity.linking.clusters import cluster_table
from nextbest.identity.linking.metrics import PairScores, cluster_scores, link_scores
from nextbest.sim.identity_records import identity_records

U_MAX_PAIRS = 1_000_000  # the same u budget for ours and the peer


def _truth(table: pa.Table) -> pa.Table:
    return pa.table({"record_id": table["rec_id"], "entity": febrl_entities(table["rec_id"])})


def _figures(scores: PairScores, timings: dict[str, float]) -> dict[str, Any]:
    return {
        "precision": scores.precision,
        "recall": scores.recall,
        "f1": scores.f1,
        "predicted_pairs": scores.predicted_pairs,
        "true_pairs": scores.true_pairs,
        **{f"{k}_s": v for k, v in timings.items()},
    }


def expert_febrl4(
    left: pa.Table, right: pa.Table, *, threshold: float
) -> tuple[pa.Table, dict[str, float]]:
    """A hand-written Splink model for FEBRL4; returns pairs at ``threshold`` and timings."""
    started = time.perf_counter()
    db = DuckDBAPI(duckdb.connect())
    inputs = [
        db.register(left, dataset_display_name="a"),
        db.register(right, dataset_display_name="b"),
    ]
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="rec_id",
        blocking_rules_to_generate_predictions=[
            block_on("given_name", "surname"),
            "l.given_name = r.surname AND l.surname = r.given_name",  # type: ignore[list-item]
            block_on("date_of_birth"),
            block_on("soc_sec_id"),
            block_on("state", "address_1"),
            block_on("street_number", "address_1"),
            block_on("postcode"),
        ],
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y%m%d"
            ),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(
                term_frequency_adjustments=True
            ),
            cl.JaroWinklerAtThresholds("suburb", [0.9]).configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.8]).configure(
                term_frequency_adjustments=True
            ),
        ],
        retain_intermediate_calculation_columns=True,
    )
    linker = Linker(inputs, settings, log_level=None)
    prepared = time.perf_counter()
    training = linker.training
    training.estimate_probability_two_random_records_match(
        [
            "l.soc_sec_id = r.soc_sec_id",
            "l.given_name = r.given_name AND l.surname = r.surname "
            "AND l.date_of_birth = r.date_of_birth",
            "l.given_name = r.surname AND l.surname = r.given_name "
            "AND l.date_of_birth = r.date_of_birth",
        ],
        recall=0.9,
    )
    training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=7)
    training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    training.estimate_parameters_using_expectation_maximisation(block_on("postcode"))
    trained = time.perf_counter()
    predictions = linker.inference.predict(
        threshold_match_probability=threshold, warning_mode="never"
    )
    pairs = (
        predictions.as_duckdbpyrelation()
        .select(
            "CASE WHEN source_dataset_l = 'a' THEN rec_id_l ELSE rec_id_r END AS left_id, "
            "CASE WHEN source_dataset_l = 'a' THEN rec_id_r ELSE rec_id_l END AS right_id, "
            "match_probability"
        )
        .to_arrow_table()
    )
    done = time.perf_counter()
    timings = {
        "prepare": prepared - started,
        "train": trained - prepared,
        "predict": done - trained,
        "total": done - started,
    }
    return pairs, timings


def run_febrl_bench(*, threshold: float = 0.9) -> dict[str, Any]:
    left, right = load_febrl("dataset4a"), load_febrl("dataset4b")
    left_truth, right_truth = _truth(left), _truth(right)

    started = time.perf_counter()
    config = infer_config(left, "rec_id", other=right)
    inferred = time.perf_counter() - started
    ours = link(
        left, right, "rec_id", config=config, threshold=threshold, min_probability=threshold
    )
    timings = {"infer": inferred, **ours.timings, "total": inferred + ours.timings["total"]}
    ours_figures = _figures(link_scores(ours.pairs, left_truth, right_truth), timings)

    peer_pairs, peer_timings = expert_febrl4(left, right, threshold=threshold)
    peer_figures = _figures(link_scores(peer_pairs, left_truth, right_truth), peer_timings)

    dup = load_febrl("dataset3")
    deduped = dedupe(dup, "rec_id", threshold=threshold)
    assert deduped.clusters is not None
    dedupe_figures = _figures(cluster_scores(deduped.clusters, _truth(dup)), deduped.timings)
    return {
        "threshold": threshold,
        "units": {"precision": "share", "recall": "share", "f1": "share", "*_s": "seconds"},
        "febrl4_ours": ours_figures,
        "febrl4_peer_expert_splink": peer_figures,
        "ratios_ours_to_peer": {
            "f1": ours_figures["f1"] / peer_figures["f1"] if peer_figures["f1"] else None,
            "train_s": ours_figures["train_s"] / peer_figures["train_s"],
            "predict_s": ours_figures["predict_s"] / peer_figures["predict_s"],
            "total_s": ours_figures["total_s"] / peer_figures["total_s"],
        },
        "febrl3_dedupe_ours": dedupe_figures,
        "config_blocking": [list(rule) for rule in config.blocking],
    }


def exact_match_dedupe(table: pa.Table) -> tuple[pa.Table, float]:
    """Baseline: records sharing a normalised email or phone are one entity."""
    started = time.perf_counter()
    con = duckdb.connect()
    con.register("records", table)
    edges = con.sql(
        """
        WITH keys AS (
            SELECT record_id, 'e' || lower(trim(email)) AS k FROM records
            WHERE email IS NOT NULL AND trim(email) <> ''
            UNION ALL
            SELECT record_id, 'p' || right(regexp_replace(phone, '[^0-9]', '', 'g'), 9)
            FROM records WHERE length(regexp_replace(phone, '[^0-9]', '', 'g')) >= 6
        ), firsts AS (SELECT k, min(record_id) AS root FROM keys GROUP BY k)
        SELECT keys.record_id AS a, firsts.root AS b
        FROM keys JOIN firsts USING (k) WHERE keys.record_id <> firsts.root
        """
    ).to_arrow_table()
    con.close()
    clusters = cluster_table(
        table["record_id"].combine_chunks(),
        edges["a"].combine_chunks(),
        edges["b"].combine_chunks(),
    )
    return clusters, time.perf_counter() - started


def run_dedupe_bench(*, records: int, seed: int = 7, threshold: float = 0.9) -> dict[str, Any]:
    started = time.perf_counter()
    table = identity_records(records, seed=seed)
    generated = time.perf_counter() - started
    truth = pa.table({"record_id": table["record_id"], "entity": table["person_id"]})
    data = table.drop_columns(["person_id"])

    started = time.perf_counter()
    config = infer_config(data, "record_id")
    inferred = time.perf_counter() - started
    ours = dedupe(data, "record_id", config=config, threshold=threshold)
    assert ours.clusters is not None
    phases = {"infer": inferred, **ours.timings}
    phases["total"] = inferred + ours.timings["total"]
    ours_figures = _figures(cluster_scores(ours.clusters, truth), phases)

    peer_clusters, peer_seconds = exact_match_dedupe(data)
    peer_figures = _figures(cluster_scores(peer_clusters, truth), {"total": peer_seconds})
    return {
        "records": records,
        "persons": len(np.unique(table["person_id"].to_numpy(zero_copy_only=False))),
        "threshold": threshold,
        "generate_s": generated,
        "units": {"precision": "share", "recall": "share", "f1": "share", "*_s": "seconds"},
        "ours": ours_figures,
        "peer_exact_email_phone": peer_figures,
        "ratios_ours_to_peer": {
            "total_s": ours_figures["total_s"] / peer_figures["total_s"],
            "recall": ours_figures["recall"] / peer_figures["recall"],
            "f1": ours_figures["f1"] / peer_figures["f1"],
        },
        "config_blocking": [list(rule) for rule in config.blocking],
        "goal_total_s": 120.0,
    }
