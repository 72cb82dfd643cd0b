"""How much earlier the churn model flags members who drop out than the RFM recency rule.

On the simulator, each person's drop-out date is known (``truth/persons.parquet``) and each
event's person (``truth/records.parquet``), so each resolved member maps to the person
behind most of its events. The churn model is trained only on data before the evaluation
window; then, at weekly snapshots through the window, each method flags a member the first
time its score crosses a threshold. A flag is right when the member drops out within the
churn horizon of it (or already has). Each method's threshold is the loosest one that
reaches a target precision, so both are compared at equal precision; the figure is how
many days after (or before) the true drop-out each method raises its first right flag.
Precision is low for both: "no purchase in N days" (what can be labelled from data) is not
drop-out, and many infrequent members who are still alive look the same as lost ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from nextbest.analytics.features.duckdb_run import DuckDBFeatures
from nextbest.analytics.features.spec import Snapshot
from nextbest.analytics.predict import btyd_scores
from nextbest.analytics.predict.matrix import column
from nextbest.analytics.predict.models import Model
from nextbest.analytics.predict.training import Horizons, Trained, Trainer
from nextbest.errors import NextbestError

Floats = npt.NDArray[np.float64]
DAY = 86400.0


class NotEnoughData(NextbestError):
    """The history is too short for the evaluation window asked for."""


@dataclass(frozen=True, slots=True)
class Flags:
    """What one threshold does: how many members it flags, how rightly, and how early."""

    threshold: float
    precision: float
    flagged: int
    right: int
    recall: float
    median_delay_days: float  # first right flag minus true drop-out (negative: before)
    mean_delay_days: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, NaN (no right flag) as null."""
        return {
            k: None if isinstance(v, float) and np.isnan(v) else v for k, v in asdict(self).items()
        }


def first_flags(times: Floats, scores: Floats, threshold: float) -> Floats:
    """First snapshot time (axis 1) where score >= threshold, per member (axis 0).

    >>> first_flags(np.array([1.0, 2.0, 3.0]), np.array([[0.1, 0.6, 0.9], [0.2, 0.1, 0.3]]), 0.5)
    array([ 2., nan])
    """
    hit = np.nan_to_num(scores, nan=-np.inf) >= threshold
    any_hit = hit.any(axis=1)
    first = np.argmax(hit, axis=1)
    return np.where(any_hit, times[first], np.nan)


def evaluate_threshold(
    *, times: Floats, scores: Floats, dropout: Floats, threshold: float, horizon_days: float
) -> Flags:
    flag = first_flags(times, scores, threshold)
    flagged = ~np.isnan(flag)
    right = flagged & ~np.isnan(dropout) & (dropout <= flag + horizon_days * DAY)
    dropped = ~np.isnan(dropout) & (dropout <= times[-1] + horizon_days * DAY)
    delay = (flag[right] - dropout[right]) / DAY
    n_flagged = int(flagged.sum())
    return Flags(
        threshold=round(float(threshold), 6),
        precision=round(float(right.sum() / n_flagged), 6) if n_flagged else float("nan"),
        flagged=n_flagged,
        right=int(right.sum()),
        recall=round(float(right.sum() / max(int(dropped.sum()), 1)), 6),
        median_delay_days=round(float(np.median(delay)), 2) if len(delay) else float("nan"),
        mean_delay_days=round(float(np.mean(delay)), 2) if len(delay) else float("nan"),
    )


def at_precision(
    *,
    times: Floats,
    scores: Floats,
    dropout: Floats,
    precision: float,
    horizon_days: float,
    grid: int = 200,
) -> Flags | None:
    """The loosest threshold whose first flags reach ``precision`` (None if none does)."""
    values = scores[~np.isnan(scores)]
    if not len(values):
        return None
    candidates = np.unique(np.quantile(values, np.linspace(0.0, 1.0, grid + 1)))
    best: Flags | None = None
    for threshold in candidates:  # ascending: the first that reaches it flags the most
        result = evaluate_threshold(
            times=times,
            scores=scores,
            dropout=dropout,
            threshold=float(threshold),
            horizon_days=horizon_days,
        )
        if result.flagged and result.precision >= precision:
            best = result
            break
    return best


def member_persons(features: DuckDBFeatures, records: Path) -> dict[str, str]:
    """Each resolved member's person: the one behind most of its events."""
    path = str(records).replace("'", "''")
    rows = features.con.sql(
        f"""
        SELECT member_id, arg_max(person_id, n) AS person_id FROM (
          SELECT COALESCE(m.survivor_id, e.member_id) AS member_id, r.person_id, COUNT(*) AS n
          FROM events e JOIN read_parquet('{path}') r ON e.event_id = r.event_id
          LEFT JOIN member_map m ON e.member_id = m.member_id
          WHERE e.member_id IS NOT NULL GROUP BY 1, 2)
        GROUP BY member_id"""
    ).to_arrow_table()
    return dict(zip(rows["member_id"].to_pylist(), rows["person_id"].to_pylist(), strict=True))


def person_dropouts(persons: Path) -> dict[str, float]:
    table = pq.read_table(persons, columns=["person_id", "dropout_at"])
    out: dict[str, float] = {}
    for person, day in zip(
        table["person_id"].to_pylist(), table["dropout_at"].to_pylist(), strict=True
    ):
        if day is not None:
            out[person] = datetime(day.year, day.month, day.day).timestamp()
    return out


def run_early_warning(
    features: DuckDBFeatures,
    *,
    truth_dir: Path,
    start: datetime,
    end: datetime,
    categories: tuple[str, ...],
    spend_currency: str | None,
    horizons: Horizons = Horizons(),
    window_days: int = 90,
    step_days: int = 7,
    precisions: tuple[float, ...] = (0.15, 0.2, 0.25, 0.3),
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    h = horizons
    eval_end = (end - timedelta(days=h.churn_days)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    eval_start = eval_end - timedelta(days=window_days)
    progress(f"training the churn model on data before {eval_start:%Y-%m-%d}")
    trainer = Trainer(
        features,
        start=start,
        end=eval_start,
        categories=categories,
        spend_currency=spend_currency,
        horizons=h,
        progress=progress,
    )
    model: Model = _train_churn(trainer)
    persons = member_persons(features, truth_dir / "records.parquet")
    dropouts = person_dropouts(truth_dir / "persons.parquet")
    dates = []
    d = eval_start
    while d <= eval_end:
        dates.append(d)
        d += timedelta(days=step_days)
    tables: list[pa.Table] = []
    for d in dates:
        progress(f"scoring snapshot {d:%Y-%m-%d}")
        tables.append(
            features.snapshot(
                Snapshot(as_of=d, categories=categories, spend_currency=spend_currency)
            )
        )
    members = sorted({m for t in tables for m in t["member_id"].to_pylist()})
    index = {m: i for i, m in enumerate(members)}
    model_scores = np.full((len(members), len(dates)), np.nan)
    rfm_scores = np.full((len(members), len(dates)), np.nan)
    alive_scores = np.full((len(members), len(dates)), np.nan)
    for j, table in enumerate(tables):
        rows = np.array([index[m] for m in table["member_id"].to_pylist()], dtype=np.int64)
        buyers = ~np.isnan(column(table, "first_purchase_days"))
        p = model.predict(table)
        model_scores[rows[buyers], j] = p[buyers]
        rfm_scores[rows[buyers], j] = column(table, "recency_days")[buyers]
        # BG/NBD refitted at each snapshot on what was known then: 1 - P(alive)
        alive_scores[rows[buyers], j] = 1.0 - btyd_scores.p_alive(table)[buyers]
    dropout = np.array([dropouts.get(persons.get(m, ""), np.nan) for m in members])
    # members already gone before the window cannot be warned about
    keep = np.isnan(dropout) | (dropout >= eval_start.timestamp())
    times = np.array([d.timestamp() for d in dates])
    result: dict[str, Any] = {
        "window": [f"{eval_start:%Y-%m-%d}", f"{eval_end:%Y-%m-%d}"],
        "snapshots": len(dates),
        "members": int(keep.sum()),
        "dropouts_in_window": int(
            (
                ~np.isnan(dropout[keep])
                & (dropout[keep] <= eval_end.timestamp() + h.churn_days * DAY)
            ).sum()
        ),
        "horizon_days": h.churn_days,
        "model_version": model.version,
    }
    levels: list[dict[str, Any]] = []
    for target in precisions:
        row: dict[str, Any] = {"precision_target": target}
        methods = (
            ("model", model_scores),
            ("rfm_recency", rfm_scores),
            ("bgnbd_p_alive", alive_scores),
        )
        for name, scores in methods:
            flags = at_precision(
                times=times,
                scores=scores[keep],
                dropout=dropout[keep],
                precision=target,
                horizon_days=h.churn_days,
            )
            row[name] = flags.to_dict() if flags else None
        m, r = row["model"], row["rfm_recency"]
        both = m and r and m["median_delay_days"] is not None and r["median_delay_days"] is not None
        row["days_earlier_median"] = (
            round(r["median_delay_days"] - m["median_delay_days"], 2) if both else None
        )
        row["days_earlier_mean"] = (
            round(r["mean_delay_days"] - m["mean_delay_days"], 2) if both else None
        )
        levels.append(row)
    result["levels"] = levels
    reached = [row for row in levels if row["days_earlier_median"] is not None]
    result["headline"] = reached[-1] if reached else None
    return result


def _train_churn(trainer: Trainer) -> Model:
    out = Trained(models={}, reports={}, windows={}, horizons=trainer.horizons)
    days = trainer.horizons.churn_days
    trainer.train_task(out, "churn", horizon=days, value_days=days)
    if "churn" not in out.models:
        raise NotEnoughData(
            f"too little history before {trainer.end:%Y-%m-%d} to train the churn model: "
            + "; ".join(out.notes)
        )
    return out.models["churn"]
