"""``nextbest bench analytics``: the batch analytics scored end to end on a synthetic history.

A buy-till-you-die history (:mod:`nextbest.bench.synthetic_history`, 1M members and about
20M purchases by default) is generated once and cached; its generation is timed apart. The
scored pipeline then runs, stage by stage, on DuckDB (2 threads by default):

1. ``categories``: the product categories (read from the training sample's history);
2. ``features``: the feature pipeline at a snapshot the day after the last event, every member;
3. ``rfm``: RFM scores and named segments of every member;
4. ``bgnbd``: BG/NBD fitted on grouped histories, P(alive) and expected purchases in 52 weeks;
5. ``clv``: Gamma-Gamma spend fitted, then a 12-month CLV discounted at 1% a month;
6. ``churn_features``: the labelled training snapshots of the churn model (on a sample);
7. ``churn_train``: LightGBM trained, calibrated and validated out of time by the Trainer;
8. ``churn_score``: the churn model scoring every member.

The training sample is whole generator chunks (members are drawn independently, so the
first chunks are a random sample); the model is trained on it, every member is scored. The
peer is the floor of the feature step: one bare DuckDB ``GROUP BY member_id`` of recency,
frequency and monetary value over the same Parquet at the same snapshot, measured in the
same run; ``ratio_features_to_peer`` is the feature step's time over it.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from nextbest.analytics.btyd.bgnbd import fit_bgnbd
from nextbest.analytics.btyd.clv import customer_lifetime_value
from nextbest.analytics.btyd.gammagamma import fit_gamma_gamma
from nextbest.analytics.btyd.histories import Histories, group_histories
from nextbest.analytics.features import inputs
from nextbest.analytics.features.duckdb_run import DuckDBFeatures
from nextbest.analytics.features.spec import Snapshot
from nextbest.analytics.predict import btyd_scores
from nextbest.analytics.predict.matrix import column
from nextbest.analytics.predict.training import Horizons, Trained, Trainer
from nextbest.analytics.rfm import score_table
from nextbest.bench.synthetic_history import History, HistorySpec, describe, ensure_history

Floats = npt.NDArray[np.float64]
GOAL_SECONDS = 600.0
CHURN_DAYS = 60
HORIZONS = Horizons(churn_days=CHURN_DAYS, next_purchase_days=CHURN_DAYS, value_days=CHURN_DAYS)
CLV_MONTHS, CLV_RATE = 12, 0.01
STAGES: dict[str, str] = {
    "categories": "product categories (training sample)",
    "features": "feature pipeline, every member",
    "rfm": "RFM scores and segments",
    "bgnbd": "BG/NBD fit (grouped), P(alive), expected purchases",
    "clv": "Gamma-Gamma fit, discounted CLV",
    "churn_features": "churn training snapshots with labels (sample)",
    "churn_train": "churn LightGBM fit, calibration, validation",
    "churn_score": "churn scores, every member",
}


class _Clock:
    """Seconds per stage, with a progress line as each starts and ends."""

    def __init__(self, progress: Callable[[str], None]) -> None:
        self.progress = progress
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.progress(f"{name}: {STAGES.get(name, name)}")
        started = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - started
        self.progress(f"{name}: {self.seconds[name]:.1f} s")


def _source(
    *, events: Path, members: pa.Table, threads: int, memory_limit: str | None
) -> DuckDBFeatures:
    source = DuckDBFeatures(
        events=events,
        member_map=inputs.empty("member_map"),
        members=members,
        ledger=inputs.empty("ledger"),
        threads=threads,
    )
    source.con.execute("SET enable_progress_bar = false")  # our progress lines are on stderr
    if memory_limit:
        source.con.execute(f"SET memory_limit = '{memory_limit}'")
    return source


def _sample_dir(history: History, files: int) -> Path:
    """A folder holding (links to) the first ``files`` event files: the training sample."""
    folder = history.folder / f"sample-{files}"
    if not folder.exists():
        work = history.folder / f".sample-{files}-{os.getpid()}.tmp"
        work.mkdir(parents=True, exist_ok=True)
        for path in history.files[:files]:
            os.symlink(os.path.relpath(path, work), work / path.name)
        work.rename(folder)
    return folder


def _per_member(buyers: npt.NDArray[np.bool_], values: Floats) -> Floats:
    out = np.full(buyers.size, np.nan)
    out[buyers] = values
    return out


def _stats(values: Floats) -> dict[str, float]:
    v = values[~np.isnan(values)]
    if not v.size:
        return {"mean": float("nan"), "median": float("nan"), "p90": float("nan"), "sum": 0.0}
    return {
        "mean": round(float(v.mean()), 4),
        "median": round(float(np.median(v)), 4),
        "p90": round(float(np.quantile(v, 0.9)), 4),
        "sum": round(float(v.sum()), 2),
    }


def _peer(source: DuckDBFeatures, as_of: datetime) -> tuple[float, int]:
    """The floor of the feature step: recency, frequency, monetary in one GROUP BY."""
    at = Snapshot(as_of=as_of).as_of_literal
    sql = f"""
SELECT member_id, MAX(occurred_at) AS last_purchase, MIN(occurred_at) AS first_purchase,
       COUNT(*) AS frequency, AVG(total) AS monetary, SUM(total) AS spend
FROM events WHERE type = 'purchase' AND member_id IS NOT NULL AND occurred_at < {at}
GROUP BY member_id"""
    started = time.perf_counter()
    rows = source.con.sql(sql).to_arrow_table().num_rows
    return time.perf_counter() - started, rows


def _btyd(table: pa.Table) -> tuple[btyd_scores.Inputs, Histories]:
    i = btyd_scores.inputs(table)
    return i, group_histories(i.x, i.t_x, i.T)


def run_analytics_bench(
    *,
    cache: Path,
    members: int = 1_000_000,
    months: int = 24,
    seed: int = 7,
    train_members: int = 200_000,
    chunk_members: int = 100_000,
    threads: int = 2,
    memory_limit: str | None = "6GB",
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Generate (or reuse) the history, run every stage, return the figures."""
    spec = HistorySpec(members=members, months=months, seed=seed, chunk_members=chunk_members)
    history = ensure_history(spec, cache=cache, progress=progress)
    people = pq.read_table(history.members_path)
    full = _source(
        events=history.events_dir, members=people, threads=threads, memory_limit=memory_limit
    )
    sample_files = min(len(history.files), max(1, -(-train_members // chunk_members)))
    if sample_files >= len(history.files):
        train_source, sample_size = full, people.num_rows
    else:
        sample_size = min(people.num_rows, sample_files * chunk_members)
        train_source = _source(
            events=_sample_dir(history, sample_files),
            members=people.slice(0, sample_size),
            threads=threads,
            memory_limit=memory_limit,
        )
    first, last = full.span()
    if first is None or last is None:
        raise ValueError(f"{history.events_dir}: the generated history holds no purchase")
    as_of = last.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    clock = _Clock(progress)

    with clock.stage("categories"):
        categories = train_source.categories(Snapshot(as_of=as_of))
    with clock.stage("features"):
        table = full.snapshot(
            Snapshot(
                as_of=as_of,
                categories=categories,
                churn_days=HORIZONS.churn_days,
                next_purchase_days=HORIZONS.next_purchase_days,
                value_days=HORIZONS.value_days,
                propensity_days=HORIZONS.propensity_days,
            )
        )
    progress("peer: one bare DuckDB GROUP BY over the same Parquet")
    peer_seconds, peer_rows = _peer(full, as_of)

    with clock.stage("rfm"):
        rfm = score_table(table)
        segments = {s.segment: s.members for s in rfm.summary()}
    with clock.stage("bgnbd"):
        bt, hist = _btyd(table)
        bgnbd = fit_bgnbd(hist)
        p_alive = _per_member(
            bt.buyers, hist.expand(bgnbd.p_alive(x=hist.x, t_x=hist.t_x, T=hist.T))
        )
        expected = _per_member(
            bt.buyers,
            hist.expand(
                bgnbd.conditional_expected_purchases(52.0, x=hist.x, t_x=hist.t_x, T=hist.T)
            ),
        )
    with clock.stage("clv"):
        monetary = column(table, "monetary")[bt.buyers]
        gamma_gamma = fit_gamma_gamma(bt.x, monetary)
        spend = gamma_gamma.expected_spend(x=bt.x, mean_spend=monetary)
        discounted = customer_lifetime_value(
            bgnbd,
            x=hist.x,
            t_x=hist.t_x,
            T=hist.T,
            spend=np.ones(hist.n_histories),
            periods=CLV_MONTHS,
            rate=CLV_RATE,
        )
        clv = _per_member(bt.buyers, hist.expand(discounted) * spend)

    trainer = Trainer(
        train_source,
        start=first,
        end=last,
        categories=categories,
        spend_currency=None,
        horizons=HORIZONS,
        progress=progress,
        p_alive=btyd_scores.p_alive,
    )
    with clock.stage("churn_features"):
        train_dates, cal_date, val_date = trainer.dates(CHURN_DAYS)
        snapshots = {d: trainer.labelled(d, CHURN_DAYS) for d in [*train_dates, cal_date, val_date]}
    with clock.stage("churn_train"):
        trained = Trained(models={}, reports={}, windows={}, horizons=HORIZONS)
        trainer.train_task(trained, "churn", horizon=CHURN_DAYS, value_days=CHURN_DAYS)
        if "churn" not in trained.models:
            raise ValueError(f"churn model not trained: {'; '.join(trained.notes)}")
        model = trained.models["churn"]
    with clock.stage("churn_score"):
        churn = model.predict(table)

    total = sum(clock.seconds.values())
    counts = history.counts
    report = trained.reports["churn"]
    train_rows = sum(int(np.sum(column(snapshots[d], "frequency") > 0)) for d in train_dates)
    out = {
        "units": {
            "seconds": "s",
            "members_per_s": "members/s",
            "transactions_per_s": "purchases/s",
            "clv": "currency units over 12 months, discounted 1% a month",
            "peak_rss_mb": "MB",
        },
        "history": describe(history),
        "members": table.num_rows,
        "transactions": counts["purchases"],
        "events": counts["events"],
        "as_of": f"{as_of:%Y-%m-%d}",
        "duckdb_threads": threads,
        "stages": {name: round(clock.seconds[name], 3) for name in STAGES},
        "total_seconds": round(total, 3),
        "goal_seconds": GOAL_SECONDS,
        "within_goal": total < GOAL_SECONDS,
        "members_per_s": round(table.num_rows / total, 1),
        "transactions_per_s": round(counts["purchases"] / total, 1),
        "peer": {
            "what": "one DuckDB GROUP BY member_id (recency, frequency, monetary), same Parquet",
            "seconds": round(peer_seconds, 3),
            "rows": peer_rows,
        },
        "ratio_features_to_peer": round(clock.seconds["features"] / peer_seconds, 1),
        "rfm": {"segments": segments, "members_scored": int(sum(segments.values()))},
        "bgnbd": {
            "params": {k: round(v, 6) for k, v in bgnbd.params().items()},
            "customers": hist.n_customers,
            "histories": hist.n_histories,
            "converged": bool(bgnbd.fit.converged) if bgnbd.fit else None,
            "p_alive": _stats(p_alive),
            "expected_purchases_52w": _stats(expected),
        },
        "clv": {
            "method": (
                "BG/NBD expected purchases per month x Gamma-Gamma expected spend, "
                f"{CLV_MONTHS} months, discounted {CLV_RATE:.0%} a month; the spend model is "
                "fitted on each member's mean order value (first order included)"
            ),
            "gamma_gamma": {k: round(v, 6) for k, v in gamma_gamma.params().items()},
            "gamma_gamma_excluded": gamma_gamma.excluded,
            "expected_spend": _stats(spend),
            "clv": _stats(clv),
        },
        "churn": {
            "horizon_days": CHURN_DAYS,
            "train_sample_members": sample_size,
            "train_rows": train_rows,
            "windows": trained.windows["churn"],
            "rounds": model.meta.get("rounds"),
            "validation_n": report["model"]["n"],
            "validation_churn_rate": report["model"]["positive_rate"],
            "auc_model": report["model"]["auc"],
            "auc_rfm_recency": report["rfm_recency"]["auc"],
            "auc_bgnbd_p_alive": report.get("bgnbd_p_alive", {}).get("auc"),
            "brier_model": report["model"].get("brier"),
            "scored_members": int(churn.size),
            "scores": _stats(churn),
        },
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    full.close()
    if train_source is not full:
        train_source.close()
    return out
