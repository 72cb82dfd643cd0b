"""The public entry points: ``dedupe`` one table, ``link`` two, both explained per field."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from splink import DuckDBAPI, Linker

from nextbest.identity.linking.clusters import cluster_table
from nextbest.identity.linking.config import LinkConfig
from nextbest.identity.linking.infer import infer_config
from nextbest.identity.linking.model import parameters, settings, train
from nextbest.identity.linking.prepare import prepare
from nextbest.identity.linking.prior import fit_prior, logit2, posterior

# Pairs whose evidence is below this many bits are dropped before λ is fitted: even with
# λ = 0.5 their posterior is below 1/9, and their sum is negligible beside the matches.
EVIDENCE_FLOOR = -3.0


@dataclass(frozen=True)
class LinkResult:
    """Scored pairs (with per-field log2 Bayes factors), clusters, the model, timings.

    ``pairs``: ``left_id, right_id, match_probability, match_weight`` and one
    ``weight_<column>`` per compared field; the field weights plus the prior's log2 odds
    sum to ``match_weight``. ``clusters`` (dedupe only): ``record_id, cluster_id`` for every
    record, connected components of the pairs at ``threshold``; a cluster is named by its
    smallest record id. ``timings`` in seconds: ``prepare`` (with config inference when no
    config is given), ``train``, ``predict``, ``cluster``, ``total``.
    """

    pairs: pa.Table
    clusters: pa.Table | None
    config: LinkConfig
    model: dict[str, Any]
    timings: dict[str, float]


def dedupe(
    table: pa.Table,
    id_column: str,
    *,
    config: LinkConfig | None = None,
    threshold: float = 0.9,
    min_probability: float = 0.5,
    trained: Mapping[str, Any] | None = None,
) -> LinkResult:
    """Find the records of ``table`` that are the same entity, and cluster them.

    ``trained``: the ``model`` of an earlier result with the same ``config``; its m and u
    are used as they are (no training), and only λ is refitted to the new scores.
    """
    return _run([table], id_column, config, threshold, min_probability, trained)


def link(
    left: pa.Table,
    right: pa.Table,
    id_column: str,
    *,
    config: LinkConfig | None = None,
    threshold: float = 0.9,
    min_probability: float = 0.5,
    trained: Mapping[str, Any] | None = None,
) -> LinkResult:
    """Find the pairs (left record, right record) that are the same entity."""
    return _run([left, right], id_column, config, threshold, min_probability, trained)


def _check(tables: list[pa.Table], id_column: str, config: LinkConfig | None) -> None:
    names = ["left", "right"] if len(tables) == 2 else ["table"]
    for name, table in zip(names, tables, strict=True):
        if id_column not in table.column_names:
            raise ValueError(
                f"{name}: no id column {id_column!r}; columns are {', '.join(table.column_names)}"
            )
        ids = table[id_column]
        if ids.null_count:
            raise ValueError(f"{name}: {ids.null_count} row(s) have no {id_column!r}")
        distinct = len(ids.cast(pa.string()).unique())
        if distinct != table.num_rows:
            raise ValueError(
                f"{name}: {id_column!r} has {table.num_rows - distinct} duplicate value(s)"
            )
        if config is not None:
            for spec in config.fields:
                if spec.column not in table.column_names:
                    raise ValueError(f"{name}: the config compares {spec.column!r}, not a column")


def _run(
    tables: list[pa.Table],
    id_column: str,
    config: LinkConfig | None,
    threshold: float,
    min_probability: float,
    trained: Mapping[str, Any] | None = None,
) -> LinkResult:
    if trained is not None and config is None:
        raise ValueError("a trained model needs the config it was trained with")
    for label, value in (("threshold", threshold), ("min_probability", min_probability)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{label} must be in [0, 1], got {value}")
    _check(tables, id_column, config)
    if config is None and tables[0].num_rows == 0:
        raise ValueError("no records: give a config to run on an empty table")
    started = time.perf_counter()
    if config is None:
        other = tables[1] if len(tables) == 2 else None
        config = infer_config(tables[0], id_column, other=other)
    is_link = len(tables) == 2
    if (is_link and min(t.num_rows for t in tables) == 0) or tables[0].num_rows < 2:
        return _nothing_to_pair(tables, id_column, config, is_link, started)
    con = duckdb.connect()
    try:
        names = ["nb_left", "nb_right"] if is_link else ["nb_input"]
        for name, table in zip(names, tables, strict=True):
            prepare(con, table, id_column, config, name=name)
        db = DuckDBAPI(con)
        inputs = [db.register(name, dataset_display_name=name) for name in names]
        link_type = "link_only" if is_link else "dedupe_only"
        if trained is not None and trained["splink"]["link_type"] != link_type:
            raise ValueError(
                f"the trained model is for {trained['splink']['link_type']}, not {link_type}"
            )
        linker = Linker(
            inputs if is_link else inputs[0],
            dict(trained["splink"])
            if trained is not None
            else settings(config, link_type=link_type),
            log_level=None,
        )
        prepared = time.perf_counter()
        if trained is None:
            train(linker, config)
        trained_at = time.perf_counter()
        start_prior = float(
            linker.misc.save_model_to_json()["probability_two_random_records_match"]
        )
        predictions = linker.inference.predict(
            threshold_match_weight=logit2(start_prior) + EVIDENCE_FLOOR, warning_mode="never"
        )
        scored = _scored(con, predictions.physical_name, config, is_link, logit2(start_prior))
        prior = start_prior
        if not config.deterministic:
            evidence = scored["evidence"].to_numpy()
            prior = fit_prior(evidence, _total_pairs(tables), start=start_prior)
        pairs = _with_probabilities(scored, prior, min_probability)
        predicted = time.perf_counter()
        clusters = None
        if not is_link:
            strong = pairs.filter(pc.greater_equal(pairs["match_probability"], threshold))
            ids = tables[0][id_column].cast(pa.string()).combine_chunks()
            clusters = cluster_table(ids, strong["left_id"], strong["right_id"])
        done = time.perf_counter()
        model = parameters(linker, config, prior=prior)
    finally:
        con.close()
    timings = {
        "prepare": prepared - started,
        "train": trained_at - prepared,
        "predict": predicted - trained_at,
        "cluster": done - predicted,
        "total": done - started,
    }
    return LinkResult(pairs, clusters, config, model, timings)


def _nothing_to_pair(
    tables: list[pa.Table], id_column: str, config: LinkConfig, is_link: bool, started: float
) -> LinkResult:
    """Too few records for any pair: no pairs, each record its own cluster, nothing trained."""
    schema = [pa.field("left_id", pa.string()), pa.field("right_id", pa.string())]
    names = ["match_probability", "match_weight"] + [f"weight_{f.column}" for f in config.fields]
    schema += [pa.field(name, pa.float64()) for name in names]
    pairs = pa.schema(schema).empty_table()
    clusters = None
    if not is_link:
        ids = tables[0][id_column].cast(pa.string()).combine_chunks()
        clusters = cluster_table(ids, pa.array([], pa.string()), pa.array([], pa.string()))
    timings = dict.fromkeys(("prepare", "train", "predict", "cluster"), 0.0)
    timings["total"] = time.perf_counter() - started
    return LinkResult(pairs, clusters, config, {"version": "untrained"}, timings)


def _total_pairs(tables: list[pa.Table]) -> float:
    if len(tables) == 2:
        return float(tables[0].num_rows) * float(tables[1].num_rows)
    n = float(tables[0].num_rows)
    return max(n * (n - 1.0) / 2.0, 1.0)


def _scored(
    con: duckdb.DuckDBPyConnection,
    physical: str,
    config: LinkConfig,
    is_link: bool,
    prior_weight: float,
) -> pa.Table:
    """Scored pairs: ids, evidence (match weight without the prior), weight per field."""
    weights = [
        f"CAST(coalesce(mw_{f.key}, 0) + coalesce({_tf(f.key, f.term_frequency)}, 0) AS DOUBLE) "
        f'AS "weight_{f.column}"'
        for f in config.fields
    ]
    if is_link:
        swap = "source_dataset_l <> 'nb_left'"
        ids = (
            f"CASE WHEN {swap} THEN unique_id_r ELSE unique_id_l END AS left_id, "
            f"CASE WHEN {swap} THEN unique_id_l ELSE unique_id_r END AS right_id"
        )
    else:
        ids = "unique_id_l AS left_id, unique_id_r AS right_id"
    sql = (
        f"SELECT {ids}, CAST(match_weight - {prior_weight!r} AS DOUBLE) AS evidence, "
        f"{', '.join(weights)} FROM {physical}"
    )
    table: pa.Table = con.sql(sql).to_arrow_table()
    return table.cast(
        pa.schema(
            [pa.field("left_id", pa.string()), pa.field("right_id", pa.string())]
            + [pa.field(n, pa.float64()) for n in table.column_names[2:]]
        )
    )


def _with_probabilities(scored: pa.Table, prior: float, min_probability: float) -> pa.Table:
    """Final pairs under ``prior``, at least ``min_probability``, strongest first."""
    evidence = scored["evidence"].to_numpy()
    weight = evidence + logit2(prior)
    probability = posterior(evidence, prior)
    keep = probability >= min_probability
    order = np.argsort(-weight[keep], kind="stable")
    kept = scored.filter(pa.array(keep)).take(pa.array(order))
    columns = {
        "left_id": kept["left_id"],
        "right_id": kept["right_id"],
        "match_probability": pa.array(probability[keep][order], pa.float64()),
        "match_weight": pa.array(weight[keep][order], pa.float64()),
    }
    for name in kept.column_names[3:]:
        columns[name] = kept[name]
    return pa.table(columns)


def _tf(key: str, term_frequency: bool) -> str:
    return f"mw_tf_adj_{key}" if term_frequency else "NULL"
