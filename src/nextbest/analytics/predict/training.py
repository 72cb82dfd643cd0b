"""Time-based training: snapshots, targets, models and their validation against baselines.

For a task with horizon ``h`` days and data up to ``end``, the validation snapshot is
``end - h`` (its labels are complete), the calibration snapshot one step earlier, and the
training snapshots the steps before that, stacked. Metrics are out of time: the model never
saw the validation snapshot's members at that date, nor anything after its training dates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from nextbest.analytics import metrics
from nextbest.analytics.features.spec import Snapshot, safe_name
from nextbest.analytics.predict.matrix import column, fit_encoding
from nextbest.analytics.predict.models import Model, train
from nextbest.analytics.rfm import RfmConfig, score_rfm

Floats = npt.NDArray[np.float64]


class FeatureSource(Protocol):
    def snapshot(self, snapshot: Snapshot) -> pa.Table: ...


@dataclass(frozen=True, slots=True)
class Horizons:
    churn_days: int = 60
    next_purchase_days: int = 60
    value_days: int = 365
    propensity_days: int = 30
    step_days: int = 30
    train_snapshots: int = 3
    min_history_days: int = 90  # no training snapshot sooner after the first purchase


@dataclass
class Trained:
    models: dict[str, Model]
    reports: dict[str, dict[str, Any]]
    windows: dict[str, dict[str, Any]]
    horizons: Horizons
    notes: list[str] = field(default_factory=list)


def _day(at: datetime) -> datetime:
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


class Trainer:
    """Trains every task from one feature source; snapshots are computed once each."""

    def __init__(
        self,
        source: FeatureSource,
        *,
        start: datetime,
        end: datetime,
        categories: tuple[str, ...],
        spend_currency: str | None,
        horizons: Horizons = Horizons(),
        progress: Callable[[str], None] = lambda _: None,
        p_alive: Callable[[pa.Table], Floats] | None = None,
    ) -> None:
        self.source = source
        self.start, self.end = start, end
        self.categories = categories
        self.currency = spend_currency
        self.horizons = horizons
        self.progress = progress
        self.p_alive = p_alive
        self._cache: dict[tuple[datetime, int], pa.Table] = {}

    def labelled(self, as_of: datetime, value_days: int) -> pa.Table:
        key = (as_of, value_days)
        if key not in self._cache:
            h = self.horizons
            self.progress(f"features and labels as of {as_of:%Y-%m-%d}")
            snap = Snapshot(
                as_of=as_of,
                categories=self.categories,
                churn_days=h.churn_days,
                next_purchase_days=h.next_purchase_days,
                value_days=value_days,
                propensity_days=h.propensity_days,
                spend_currency=self.currency,
                labels=True,
            )
            self._cache[key] = self.source.snapshot(snap)
        return self._cache[key]

    def dates(self, horizon: int) -> tuple[list[datetime], datetime, datetime]:
        h = self.horizons
        validation = _day(self.end - timedelta(days=horizon))
        calibration = validation - timedelta(days=h.step_days)
        earliest = self.start + timedelta(days=h.min_history_days)
        train = [
            calibration - timedelta(days=h.step_days * k) for k in range(1, h.train_snapshots + 1)
        ]
        train = [d for d in train if d >= earliest]
        return train, calibration, validation

    def value_horizon(self) -> int:
        h = self.horizons
        span = (self.end - self.start).days - h.min_history_days - h.step_days * 2
        return max(h.step_days, min(h.value_days, span))

    def train_all(self) -> Trained:
        h = self.horizons
        out = Trained(models={}, reports={}, windows={}, horizons=h)
        value_days = self.value_horizon()
        if value_days < h.value_days:
            out.notes.append(
                f"value: {h.value_days} days asked, data allow {value_days}; the value model"
                f" predicts spend over the next {value_days} days"
            )
        plans = {
            "churn": h.churn_days,
            "next_purchase": h.next_purchase_days,
            "value": value_days,
            "propensity": h.propensity_days,
        }
        for task, horizon in plans.items():
            self.train_task(out, task, horizon=horizon, value_days=value_days)
        return out

    def train_task(self, out: Trained, task: str, *, horizon: int, value_days: int) -> None:
        """Train one task into ``out`` (models, reports, windows), or note why not."""
        train_dates, cal_date, val_date = self.dates(horizon)
        if not train_dates:
            out.notes.append(f"{task}: not enough history for a {horizon}-day horizon")
            return
        # snapshots share one label configuration per value horizon (cached)
        tables = [self.labelled(d, value_days) for d in train_dates]
        cal = self.labelled(cal_date, value_days)
        val = self.labelled(val_date, value_days)
        out.windows[task] = {
            "horizon_days": horizon,
            "train_snapshots": [f"{d:%Y-%m-%d}" for d in train_dates],
            "calibration_snapshot": f"{cal_date:%Y-%m-%d}",
            "validation_snapshot": f"{val_date:%Y-%m-%d}",
            "data": [f"{self.start:%Y-%m-%d}", f"{self.end:%Y-%m-%d}"],
        }
        self.progress(f"training {task} ({horizon}-day horizon)")
        getattr(self, f"_{task}")(out, pa.concat_tables(tables), cal, val)

    # --- tasks ---------------------------------------------------------------------------
    def _churn(self, out: Trained, tr: pa.Table, cal: pa.Table, val: pa.Table) -> None:
        tr, cal, val = (_purchasers(t) for t in (tr, cal, val))
        enc = fit_encoding(tr)
        model = train(
            task="churn",
            objective="binary",
            encoding=enc,
            train_x=tr,
            train_y=column(tr, "churned"),
            valid_x=cal,
            valid_y=column(cal, "churned"),
        )
        y = column(val, "churned")
        p = model.predict(val)
        report: dict[str, Any] = {"model": metrics.binary_report(y, p, probability=True)}
        rfm_rates = _rfm_churn_rates(tr)
        report["rfm_recency"] = metrics.binary_report(
            y, rfm_rates[_r_score(val, tr)], probability=True
        )
        if self.p_alive is not None:
            report["bgnbd_p_alive"] = metrics.binary_report(
                y, 1.0 - self.p_alive(val), probability=True
            )
        # fairness on the validation snapshot: score, observed rate and AUC per group
        report["by_group"] = {
            group: metrics.group_report(val[group].to_pylist(), p, y)
            for group in ("age_band", "region")
            if group in val.column_names
        }
        report["scores_validation"] = p.tolist()
        out.models["churn"], out.reports["churn"] = model, report

    def _next_purchase(self, out: Trained, tr: pa.Table, cal: pa.Table, val: pa.Table) -> None:
        tr, cal, val = (_purchasers(t) for t in (tr, cal, val))
        cap = float(self.horizons.next_purchase_days)

        def target(t: pa.Table) -> Floats:
            return np.nan_to_num(column(t, "days_to_next"), nan=cap)

        enc = fit_encoding(tr)
        model = train(
            task="next_purchase",
            objective="regression",
            encoding=enc,
            train_x=tr,
            train_y=target(tr),
            valid_x=cal,
            valid_y=target(cal),
            transform="log1p",
        )
        y = target(val)
        pred = np.clip(model.predict(val), 0.0, cap)
        gap = column(val, "mean_gap_days") - column(val, "recency_days")
        naive = np.clip(np.where(np.isnan(gap), np.nanmedian(target(tr)), gap), 0.0, cap)
        out.models["next_purchase"] = model
        out.reports["next_purchase"] = {
            "capped_at_days": cap,
            "model": _regression(y, pred),
            "mean_gap_rule": _regression(y, naive),
            "scores_validation": pred.tolist(),
        }

    def _value(self, out: Trained, tr: pa.Table, cal: pa.Table, val: pa.Table) -> None:
        enc = fit_encoding(tr)
        model = train(
            task="value",
            objective="regression",
            encoding=enc,
            train_x=tr,
            train_y=column(tr, "value_next"),
            valid_x=cal,
            valid_y=column(cal, "value_next"),
            transform="log1p",
        )
        y = column(val, "value_next")
        pred = np.maximum(model.predict(val), 0.0)
        horizon = out.windows["value"]["horizon_days"]
        rate = column(val, "spend_90d") / 90.0 * horizon
        out.models["value"] = replace(model, meta={**model.meta, "horizon_days": horizon})
        out.reports["value"] = {
            "horizon_days": horizon,
            "model": _regression(y, pred),
            "last_90d_run_rate": _regression(y, rate),
            "scores_validation": pred.tolist(),
        }

    def _propensity(self, out: Trained, tr: pa.Table, cal: pa.Table, val: pa.Table) -> None:
        tr, cal, val = (_purchasers(t) for t in (tr, cal, val))
        enc = fit_encoding(tr)
        per: dict[str, Any] = {}
        for cat in self.categories:
            name = f"next_{safe_name(cat)}"
            if column(tr, name).sum() < 20:
                continue
            model = train(
                task=f"propensity_{safe_name(cat)}",
                objective="binary",
                encoding=enc,
                train_x=tr,
                train_y=column(tr, name),
                valid_x=cal,
                valid_y=column(cal, name),
            )
            y = column(val, name)
            past = np.nan_to_num(column(val, f"share_{safe_name(cat)}"))
            per[cat] = {
                "model": metrics.binary_report(y, model.predict(val), probability=True),
                "past_share": metrics.binary_report(y, past, probability=False),
            }
            for key in ("calibration",):
                per[cat]["model"].pop(key)
            out.models[f"propensity_{safe_name(cat)}"] = model
        aucs = [v["model"]["auc"] for v in per.values()]
        base = [v["past_share"]["auc"] for v in per.values()]
        out.reports["propensity"] = {
            "categories": per,
            "mean_auc": round(float(np.nanmean(aucs)), 6) if aucs else None,
            "mean_auc_past_share": round(float(np.nanmean(base)), 6) if base else None,
        }


def _purchasers(table: pa.Table) -> pa.Table:
    return table.filter(pc.greater(table["frequency"], 0))


def _r_score(table: pa.Table, reference: pa.Table, k: int = 5) -> npt.NDArray[np.int64]:
    """RFM R score (1..k) of ``table`` with the quantile edges of ``reference``."""
    ref = score_rfm(
        recency_days=column(reference, "recency_days"),
        frequency=column(reference, "frequency"),
        monetary=column(reference, "monetary"),
        config=RfmConfig(k=k),
    )
    scored = score_rfm(
        recency_days=column(table, "recency_days"),
        frequency=column(table, "frequency"),
        monetary=column(table, "monetary"),
        config=replace(
            RfmConfig(k=k), r_edges=ref.edges.r, f_edges=ref.edges.f, m_edges=ref.edges.m
        ),
    )
    return np.asarray(scored.r, dtype=np.int64)


def _rfm_churn_rates(train_table: pa.Table, k: int = 5) -> Floats:
    """Churn rate per R score on the training snapshots: the RFM rule as a probability."""
    r = _r_score(train_table, train_table, k)
    y = column(train_table, "churned")
    rates = np.full(k + 1, float(y.mean()))
    for score in range(1, k + 1):
        if (r == score).any():
            rates[score] = float(y[r == score].mean())
    return rates


def _regression(y: Floats, pred: Floats) -> dict[str, float]:
    err = pred - y
    rank_y = np.argsort(np.argsort(y))
    rank_p = np.argsort(np.argsort(pred))
    spearman = float(np.corrcoef(rank_y, rank_p)[0, 1]) if len(y) > 2 else float("nan")
    return {
        "n": len(y),
        "mae": round(float(np.mean(np.abs(err))), 4),
        "rmse": round(float(np.sqrt(np.mean(err * err))), 4),
        "bias": round(float(np.mean(err)), 4),
        "spearman": round(spearman, 4),
    }
