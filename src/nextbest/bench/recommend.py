"""``nextbest bench recommend``: recall@k and NDCG@k of our recommenders beside baselines.

On a simulated history (cached per arguments, or ``--sim DIR``), split in time: train on
purchases before the split, test on the items each member buys in the following window.
At both item levels (SKU and category) and in both modes (``next`` purchases, repeats
allowed; ``new`` items only), it fits and evaluates, in the same run and on the same
members:

- ours: item-item CF (``item_knn``) and implicit ALS (``als``);
- the peer: popularity (same list for everyone), printed beside ours as a ratio;
- the honest baseline for repeats: personal frequency ("what you bought most before").
  In ``new`` mode it has nothing of its own to say (everything it knows is excluded, its
  ranking falls back to popularity), so it is reported for ``next`` only.

Fit time is wall time of ``fit_*`` on the train rows; scoring speed is members ranked per
second by ``recommend_matrix`` (all members of a mode in one call, fastest of five).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from nextbest.analytics import recommend as rec
from nextbest.analytics.interactions import LEVELS, Level, read_simulation
from nextbest.analytics.recommend_als import fit_als
from nextbest.analytics.recommend_eval import (
    DAY,
    MODES,
    evaluate,
    paired_difference,
    targets,
    time_split,
)
from nextbest.sim import SimConfig, simulate_to_dir

OURS = ("item_knn", "als")
FITS: dict[str, Callable[[rec.Interactions], rec.Recommender]] = {
    "item_knn": rec.fit_item_knn,
    "als": fit_als,
    "popularity": rec.fit_popularity,
    "frequency": rec.fit_frequency,
}
UNITS = {
    "recall": "mean over evaluated members of |top k & relevant| / |relevant|",
    "ndcg": "mean over evaluated members of DCG@k / ideal DCG@k (binary relevance)",
    "fit_seconds": "s",
    "members_per_s": "members ranked per second",
    "ratio": "ours / baseline, same members",
    "difference": "mean over members of ours - baseline; _se: its paired standard error",
}


def simulation(
    cache: Path, *, members: int, months: int, seed: int, progress: Callable[[str], None]
) -> tuple[Path, bool]:
    """The cached simulation for these arguments (written once); (dir, reused?)."""
    name = f"sim-{members}-{seed}" if months == 12 else f"sim-{members}-{seed}-{months}m"
    target = cache / name
    if (target / "truth" / "persons.parquet").exists():
        return target, True
    cache.mkdir(parents=True, exist_ok=True)
    progress(f"simulating {members:,} members over {months} months (seed {seed}) into {target}")
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=f".{name}-"))
    try:
        simulate_to_dir(SimConfig(members=members, months=months, seed=seed), tmp, "parquet")
        if target.exists():
            shutil.rmtree(target)  # left without its truth by a run killed half-way
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target, False


def default_split(interactions: rec.Interactions, *, window_days: int) -> int:
    """``window_days`` before the UTC midnight nearest the last purchase.

    The history ends at a midnight in the stores' local time, which is some hours after
    midnight UTC in the Americas; rounding to the nearest midnight finds the end either way.

    >>> day = 86_400
    >>> rows = rec.Interactions.from_rows([("a", "x", 40 * day + 3 * 3600, 1)])  # 03:00 UTC
    >>> default_split(rows, window_days=30) // day
    10
    """
    if len(interactions) == 0:
        raise ValueError("no purchases to split")
    end_day = round(int(interactions.at.max()) / DAY)
    return (end_day - window_days) * DAY


def _ratio(ours: float, peer: float) -> float | None:
    return round(ours / peer, 3) if peer > 0 else None


def _level(
    interactions: rec.Interactions,
    *,
    split_at: int,
    window_days: int,
    k: int,
    progress: Callable[[str], None],
    level: Level,
) -> dict[str, Any]:
    split = time_split(interactions, split_at=split_at, window_days=window_days)
    if len(split.train) == 0 or len(split.test) == 0:
        raise ValueError(
            f"split at {datetime.fromtimestamp(split_at, UTC).date()} leaves "
            f"{len(split.train):,} train and {len(split.test):,} test rows; move --split"
        )
    out: dict[str, Any] = {
        "k": k,
        "items": len(np.unique(split.train.item)),
        "train_interactions": len(split.train),
        "train_members": len(split.train.members()),
        "test_interactions": len(split.test),
        "test_members": len(split.test.members()),
    }
    next_target = targets(split, mode="next")
    bought_before = next_target.relevant.multiply(next_target.history > 0)
    out["repeat_share"] = round(bought_before.nnz / max(next_target.relevant.nnz, 1), 4)
    models: dict[str, rec.Recommender] = {}
    out["fit_seconds"], out["versions"] = {}, {}
    for name, fit in FITS.items():
        progress(f"{level}: fitting {name} on {len(split.train):,} purchase lines")
        started = time.perf_counter()
        models[name] = fit(split.train)
        out["fit_seconds"][name] = round(time.perf_counter() - started, 4)
        out["versions"][name] = models[name].version
    out["params"] = {name: models[name].params for name in OURS}
    out["modes"] = {}
    for mode in MODES:
        target = next_target if mode == "next" else targets(split, mode=mode)
        progress(f"{level}: scoring {len(target.members):,} members, mode {mode}")
        results: dict[str, Any] = {}
        per_member: dict[str, np.ndarray] = {}
        for name, model in models.items():
            if mode == "new" and name == "frequency":
                continue
            e = evaluate(model, target, k=k, repeats=5)
            per_member[name] = e.per_member
            results[name] = {
                "recall": round(e.recall, 4),
                "ndcg": round(e.ndcg, 4),
                "members_per_s": round(e.members_per_s, 1),
            }
        ratios: dict[str, Any] = {}
        for ours in OURS:
            for peer in ("popularity", "frequency"):
                if peer not in results:
                    continue
                entry: dict[str, Any] = {}
                for col, metric in enumerate(("recall", "ndcg")):
                    entry[metric] = _ratio(results[ours][metric], results[peer][metric])
                    diff, se = paired_difference(per_member[ours][:, col], per_member[peer][:, col])
                    entry[f"{metric}_difference"] = round(diff, 4)
                    entry[f"{metric}_difference_se"] = round(se, 4)
                ratios[f"{ours}_to_{peer}"] = entry
        out["modes"][mode] = {"members": len(target.members), "models": results, "ratios": ratios}
    return out


def run_recommend_bench(
    *,
    members: int = 5_000,
    months: int = 12,
    seed: int = 7,
    sim: Path | None = None,
    split: date | None = None,
    window_days: int = 30,
    k: int = 10,
    k_category: int = 3,
    cache: Path = Path(".nextbest/bench"),
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Every figure of the bench as one JSON-ready dict."""
    if sim is None:
        sim_dir, reused = simulation(
            cache, members=members, months=months, seed=seed, progress=progress
        )
        source: dict[str, Any] = {"members": members, "months": months, "seed": seed}
    else:
        sim_dir, reused, source = sim, True, {}
    result: dict[str, Any] = {
        "units": UNITS,
        "simulation": {"dir": str(sim_dir), "reused": reused, **source},
        "window_days": window_days,
        "levels": {},
    }
    split_at: int | None = None
    if split is not None:
        split_at = int(datetime(split.year, split.month, split.day, tzinfo=UTC).timestamp())
    for level in LEVELS:
        progress(f"{level}: reading purchase lines from {sim_dir}")
        interactions = read_simulation(sim_dir, level=level)
        if split_at is None:
            split_at = default_split(interactions, window_days=window_days)
        result["levels"][level] = _level(
            interactions,
            split_at=split_at,
            window_days=window_days,
            k=k if level == "sku" else k_category,
            progress=progress,
            level=level,
        )
    assert split_at is not None
    result["split"] = datetime.fromtimestamp(split_at, UTC).date().isoformat()
    return result
