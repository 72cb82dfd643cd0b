"""The scoring job: train (or load) every model, score every member, write scores back.

One run: feature snapshots from the store -> models trained with time-based validation ->
a card per new model version (window, features, metrics, drift, fairness) -> the current
snapshot scored (churn, next purchase, value, propensities, BG/NBD P(alive) and expected
purchases, RFM segment, micro-segment) -> ``member_scores``, one row per member and score,
each with the model version and, for model scores, the top drivers.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
from sqlalchemy import Engine

from nextbest.analytics import metrics, registry
from nextbest.analytics.features.duckdb_run import DuckDBFeatures
from nextbest.analytics.features.load import open_features, spend_currency
from nextbest.analytics.features.spec import Snapshot
from nextbest.analytics.microsegments import microsegment
from nextbest.analytics.predict import btyd_scores
from nextbest.analytics.predict.matrix import column
from nextbest.analytics.predict.models import Model
from nextbest.analytics.predict.training import Horizons, Trained, Trainer
from nextbest.analytics.rfm import RfmResult, score_table
from nextbest.analytics.rfm_chart import write_rfm_heatmap
from nextbest.config import Settings
from nextbest.errors import NextbestError
from nextbest.store.engine import make_engine, write_transaction

Floats = npt.NDArray[np.float64]
GROUPS = ("age_band", "region")
EXPLAIN_TOP = 10_000  # churn scores stored with their drivers (the riskiest members)


class NotEnoughData(NextbestError):
    """The event history holds too little to train or score."""


@dataclass
class ScoringReport:
    as_of: datetime
    members: int
    scored: dict[str, int]
    versions: dict[str, str]
    reports: dict[str, dict[str, Any]]
    cards: dict[str, dict[str, Any]]
    notes: list[str]
    seconds: dict[str, float] = field(default_factory=dict)
    segments: dict[str, int] = field(default_factory=dict)  # RFM segment -> members
    microsegments: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "members": self.members,
            "scored": self.scored,
            "versions": self.versions,
            "metrics": {k: _without_scores(v) for k, v in self.reports.items()},
            "notes": self.notes,
            "seconds": self.seconds,
            "rfm_segments": self.segments,
            "microsegments": self.microsegments,
        }


def _without_scores(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "scores_validation"}


def run_scoring(
    settings: Settings,
    *,
    engine: Engine | None = None,
    horizons: Horizons = Horizons(),
    retrain: bool = True,
    as_of: datetime | None = None,
    progress: Callable[[str], None] = lambda _: None,
    advance: Callable[[int, int], None] = lambda done, total: None,
    chunk: int = 20_000,
    rfm_chart: Path | None = None,
) -> ScoringReport:
    """Train (unless ``retrain`` is off), score every member, write scores and cards.

    ``rfm_chart``: also write the RFM heat map of the scored members there.
    """
    engine = engine or make_engine(settings)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    features = open_features(settings, engine)
    try:
        return _run(
            features,
            engine,
            horizons=horizons,
            retrain=retrain,
            as_of=as_of,
            progress=progress,
            advance=advance,
            chunk=chunk,
            seconds=seconds,
            started=started,
            rfm_chart=rfm_chart,
        )
    finally:
        features.close()


def _run(
    features: DuckDBFeatures,
    engine: Engine,
    *,
    horizons: Horizons,
    retrain: bool,
    as_of: datetime | None,
    progress: Callable[[str], None],
    advance: Callable[[int, int], None],
    chunk: int,
    seconds: dict[str, float],
    started: float,
    rfm_chart: Path | None,
) -> ScoringReport:
    first, last = features.span()
    if first is None or last is None:
        raise NotEnoughData("no purchases in the event history: ingest events first")
    at = as_of or (last + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    currency = spend_currency(engine)
    categories = features.categories(Snapshot(as_of=at))
    seconds["inputs"] = round(time.perf_counter() - started, 3)
    notes: list[str] = []
    tick = time.perf_counter()
    trained: Trained | None = None
    models: dict[str, Model] = {}
    if retrain:
        trainer = Trainer(
            features,
            start=first,
            end=last,
            categories=categories,
            spend_currency=currency,
            horizons=horizons,
            progress=progress,
            p_alive=btyd_scores.p_alive,
        )
        trained = trainer.train_all()
        models, notes = trained.models, list(trained.notes)
    else:
        with engine.connect() as conn:
            for task in registry.tasks(conn):
                found = registry.latest(conn, task)
                if found:
                    models[task] = found[0]
        if not models:
            raise NotEnoughData("no trained models in the registry: run without --reuse")
    seconds["train"] = round(time.perf_counter() - tick, 3)

    tick = time.perf_counter()
    progress(f"scoring members as of {at:%Y-%m-%d}")
    current = features.snapshot(Snapshot(as_of=at, categories=categories, spend_currency=currency))
    rfm = score_table(current)
    scores = _score(current, models, rfm=rfm, at=at, notes=notes)
    if rfm_chart is not None:
        write_rfm_heatmap(rfm, rfm_chart)
    segments: dict[str, int] = {}
    for label in scores["rfm"]["labels"]:
        if label is not None:
            segments[label] = segments.get(label, 0) + 1
    seconds["score"] = round(time.perf_counter() - tick, 3)

    tick = time.perf_counter()
    cards: dict[str, dict[str, Any]] = {}
    now = datetime.now(UTC)
    with write_transaction(engine) as conn:
        for task, model in models.items():
            if trained is None:
                continue
            previous = registry.latest(conn, task, before=model.version)
            card = _card(model, trained, current, previous, at=at)
            registry.save_model(conn, model, card=card, at=now)
            cards[task] = card
    rows = _rows(current, scores, at=at, now=now)
    # The segments of the run before, for the console's segment migration.
    with write_transaction(engine) as conn:
        registry.keep_previous(conn, "rfm", "rfm_previous")
    for start in range(0, len(rows), chunk):
        with write_transaction(engine) as conn:
            registry.write_scores(conn, rows[start : start + chunk])
        advance(min(start + chunk, len(rows)), len(rows))
    seconds["write"] = round(time.perf_counter() - tick, 3)
    seconds["total"] = round(time.perf_counter() - started, 3)
    scored = {name: _count(s) for name, s in scores.items()}
    return ScoringReport(
        as_of=at,
        members=current.num_rows,
        scored=scored,
        versions={name: s["version"] for name, s in scores.items()},
        reports=trained.reports if trained else {},
        cards=cards,
        notes=notes,
        seconds=seconds,
        segments=dict(sorted(segments.items(), key=lambda kv: -kv[1])),
        microsegments=len(set(scores["microsegment"]["ids"])),
    )


def _count(entry: dict[str, Any]) -> int:
    if entry.get("labels") is not None:
        return sum(label is not None for label in entry["labels"])
    return int(np.sum(~np.isnan(np.asarray(entry["values"], dtype=np.float64))))


def _score(
    table: pa.Table,
    models: dict[str, Model],
    *,
    rfm: RfmResult,
    at: datetime,
    notes: list[str],
    explain: int = EXPLAIN_TOP,
) -> dict[str, dict[str, Any]]:
    """name -> {values, labels?, version, drivers?} for every member row of ``table``."""
    out: dict[str, dict[str, Any]] = {}
    buyers = ~np.isnan(column(table, "first_purchase_days"))
    for task, model in models.items():
        name = {"churn": "churn_risk", "next_purchase": "days_to_next_purchase"}.get(task, task)
        if task == "value":
            name = f"value_next_{model.meta.get('horizon_days', 'h')}d"
        values = model.predict(table)
        if task != "value":
            values = np.where(buyers, values, np.nan)
        entry: dict[str, Any] = {"values": values, "version": model.version}
        if task == "churn":
            # SHAP costs milliseconds a member: explain the riskiest, where action goes
            order = np.argsort(-np.nan_to_num(values, nan=-1.0), kind="stable")
            chosen = np.sort(order[: min(explain, int(buyers.sum()))])
            drivers: list[Any] = [None] * table.num_rows
            for i, row in zip(chosen, model.drivers(table.take(chosen)), strict=True):
                drivers[int(i)] = row
            entry["drivers"] = drivers
        out[name] = entry
    if buyers.sum() >= 50:
        bg = btyd_scores.fit(table)
        version = "bgnbd-" + "-".join(f"{v:.4g}" for v in bg.params().values())
        out["p_alive"] = {"values": btyd_scores.p_alive(table, bg), "version": version}
        out["expected_purchases_52w"] = {
            "values": btyd_scores.expected_purchases(table, bg, weeks=52.0),
            "version": version,
        }
        gg = btyd_scores.fit_spend(table)
        both = version + "+gg-" + "-".join(f"{v:.4g}" for v in gg.params().values())
        out["expected_order_value"] = {
            "values": btyd_scores.expected_spend(table, gg),
            "version": "gg-" + "-".join(f"{v:.4g}" for v in gg.params().values()),
        }
        out["clv_12m"] = {"values": btyd_scores.lifetime_value(table, bg, gg), "version": both}
    else:
        notes.append("BG/NBD: fewer than 50 purchasers, not fitted")
    rfm_codes = (rfm.r * 100 + rfm.f * 10 + rfm.m).astype(np.float64)
    out["rfm"] = {
        "values": np.where(buyers, rfm_codes, np.nan),
        "labels": [
            seg if b else None for seg, b in zip(rfm.segments.tolist(), buyers, strict=True)
        ],
        "version": "rfm-" + _digest(rfm.edges),
        # the edges behind each score: "R=5 because 3 days since last purchase <= edge 7"
        "reasons": [list(rfm.explain(i).reasons) if b else None for i, b in enumerate(buyers)],
    }
    churn = out.get("churn_risk")
    micro_input = table
    if churn is not None:
        micro_input = table.append_column("churn_risk", pa.array(churn["values"]))
    frame = microsegment(micro_input).to_frame()
    out["microsegment"] = {
        "values": np.full(table.num_rows, np.nan),
        "labels": frame["description"].to_list(),
        "ids": frame["segment_id"].to_list(),
        "version": "micro-" + _digest(sorted(set(frame["segment_id"].to_list()))),
    }
    return out


def _digest(value: Any) -> str:
    """A short content hash: the version of a rule-based score (RFM edges, segment ids)."""
    return hashlib.sha256(repr(value).encode()).hexdigest()[:10]


def _rows(
    table: pa.Table, scores: dict[str, dict[str, Any]], *, at: datetime, now: datetime
) -> list[tuple[Any, ...]]:
    ids = table["member_id"].to_pylist()
    rows: list[tuple[Any, ...]] = []
    for name, entry in scores.items():
        values = entry["values"]
        labels = entry.get("labels")
        drivers = entry.get("drivers")
        for i, member in enumerate(ids):
            value = values[i]
            value = None if value is None or np.isnan(value) else round(float(value), 6)
            label = labels[i] if labels is not None else None
            if value is None and label is None:
                continue
            why = None
            if drivers is not None and drivers[i] is not None:
                why = orjson.dumps(
                    [{"feature": f, "value": v, "contribution": c} for f, v, c in drivers[i]]
                ).decode()
            elif entry.get("reasons") is not None and entry["reasons"][i] is not None:
                why = orjson.dumps(entry["reasons"][i]).decode()
            rows.append((member, name, value, label, entry["version"], at, now, why))
    return rows


def _card(
    model: Model,
    trained: Trained,
    current: pa.Table,
    previous: tuple[Model, dict[str, Any]] | None,
    *,
    at: datetime,
) -> dict[str, Any]:
    task = "propensity" if model.task.startswith("propensity_") else model.task
    report = trained.reports.get(task, {})
    if task == "propensity":
        cat = model.task.removeprefix("propensity_")
        report = report.get("categories", {}).get(cat, {})
    full = model.predict(current)
    keep = ~np.isnan(full)
    score = full[keep]
    edges = np.unique(np.quantile(score, np.linspace(0, 1, 11))) if len(score) else np.array([])
    distribution = {
        "edges": [float(e) for e in edges],
        "shares": metrics.histogram(score, edges).tolist() if len(edges) > 1 else [],
    }
    drift: dict[str, Any] = {"previous_version": None, "psi": None}
    if previous is not None:
        prev = previous[1].get("score_distribution", {})
        if len(prev.get("edges", [])) > 1:
            now_shares = metrics.histogram(score, prev["edges"])
            drift = {
                "previous_version": previous[0].version,
                "psi": metrics.psi(prev["shares"], now_shares),
            }
    fairness = {}
    for group in GROUPS:
        if group in current.column_names:
            fairness[group] = metrics.group_report(
                np.asarray(current[group].to_pylist(), dtype=object)[keep], full[keep]
            )
    return {
        "task": model.task,
        "version": model.version,
        "objective": model.objective,
        "window": trained.windows.get(task, {}),
        "scored_as_of": at.isoformat(),
        "features": list(model.encoding.names),
        "params": {"rounds": model.meta.get("rounds")},
        "calibrated": bool(model.calibration_x),
        "metrics": _without_scores(report),
        "score_distribution": distribution,
        "drift": drift,
        "fairness": fairness,
        "notes": trained.notes,
    }
