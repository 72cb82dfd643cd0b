"""``nextbest bench microsegments``: micro-segments of a synthetic member table, beside a peer.

The table is built with numpy from a fixed seed: skewed frequencies (negative binomial),
log-normal order values, recency shrinking with frequency, a coffee-heavy category mix with
Zipf-distributed favourite products, morning-heavy dayparts, 8% members yet to buy.

Ours is :func:`nextbest.analytics.microsegments.microsegment` end to end: validation, labels,
the hierarchical min-size fallback, ids, descriptions and per-segment statistics. The peer is
the floor of that work: one plain polars ``group_by(...).len()`` over the same discretised
keys (integer bands and raw strings), without fallback, ids, descriptions or statistics. Its
cell count must equal our count of full-key cells (``same_cells``). The RFM scoring of the
same members is timed too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from nextbest.analytics.microsegments import MicroConfig, MicroSegmentation, microsegment
from nextbest.analytics.rfm import score_table

CATEGORIES = {
    "coffee": (0.55, ("latte", "oat-latte", "flat-white", "cappuccino", "americano", "mocha")),
    "bakery": (0.15, ("croissant", "pain-au-chocolat", "muffin", "cinnamon-bun")),
    "tea": (0.08, ("chai-latte", "green-tea", "earl-grey")),
    "beans": (0.07, ("house-blend", "single-origin", "decaf-beans")),
    "sandwiches": (0.07, ("ham-cheese", "veggie-wrap", "tuna-melt")),
    "cold drinks": (0.05, ("iced-latte", "cold-brew", "lemonade")),
    "merch": (0.03, ("tumbler", "mug")),
}
DAYPARTS = (
    ("morning", 0.45),
    ("midday", 0.25),
    ("afternoon", 0.18),
    ("evening", 0.09),
    ("night", 0.03),
)
CHANNELS = (("pos", 0.6), ("app", 0.3), ("web", 0.05), ("kiosk", 0.05))


def _pick(rng: np.random.Generator, labels: list[str], weights: list[float], n: int) -> pl.Series:
    p = np.asarray(weights) / np.sum(weights)
    return pl.Series(labels, dtype=pl.String).gather(rng.choice(len(labels), size=n, p=p))


def synthetic_features(members: int, *, seed: int = 7) -> pl.DataFrame:
    """A member feature table with the columns ``nextbest segments`` reads, vectorised.

    >>> frame = synthetic_features(1_000)
    >>> frame.height, frame["recency_days"].null_count() > 0
    (1000, True)
    """
    rng = np.random.default_rng(seed)
    n = members
    bought = rng.random(n) >= 0.08
    tenure = np.clip(rng.exponential(500.0, n) + 1.0, 1.0, 3650.0).round()
    frequency = np.where(bought, rng.negative_binomial(1.1, 0.12, n) + 1, 0)
    recency = np.minimum(tenure, rng.gamma(1.2, 400.0 / (2.0 + frequency))).round()
    monetary = rng.lognormal(np.log(7.0), 0.5, n).round(2)
    rate = frequency / np.maximum(tenure, 90.0) * 90.0
    active = np.exp(-recency / 90.0)
    trend = rng.lognormal(0.0, 0.45, n)
    spend_90d = monetary * rng.poisson(rate * active * np.sqrt(trend))
    spend_prev = monetary * rng.poisson(rate * np.exp(-(recency + 90) / 180.0) / np.sqrt(trend))
    churn = 1.0 / (1.0 + np.exp(-(recency / 60.0 - 1.0 - 0.08 * frequency + rng.normal(0, 1, n))))
    cats = list(CATEGORIES)
    category = _pick(rng, cats, [w for w, _ in CATEGORIES.values()], n)
    skus: list[str] = []
    offsets = {}
    for name, (_, names) in CATEGORIES.items():
        offsets[name] = len(skus)
        skus += list(names)
    cat_index = category.replace_strict(cats, list(range(len(cats)))).to_numpy()
    sku_index = np.zeros(n, dtype=np.int64)
    for c, (name, (_, names)) in enumerate(CATEGORIES.items()):
        mask = cat_index == c
        zipf = 1.0 / np.arange(1, len(names) + 1) ** 1.2
        sku_index[mask] = offsets[name] + rng.choice(len(names), mask.sum(), p=zipf / zipf.sum())
    tier = np.where(frequency >= 30, 2, np.where(frequency >= 10, 1, 0))
    frame = pl.DataFrame(
        {
            "member_id": pl.select(
                pl.format("m{}", pl.int_range(n, dtype=pl.Int64).cast(pl.String).str.zfill(7))
            ).to_series(),
            "recency_days": recency,
            "frequency": frequency,
            "monetary": monetary,
            "spend_90d": spend_90d.round(2),
            "spend_prev_90d": spend_prev.round(2),
            "tenure_days": tenure,
            "top_category": category,
            "top_sku": pl.Series(skus, dtype=pl.String).gather(sku_index),
            "top_daypart": _pick(rng, [d for d, _ in DAYPARTS], [w for _, w in DAYPARTS], n),
            "weekday_share": rng.beta(5.0, 2.0, n).round(3),
            "top_channel": _pick(rng, [c for c, _ in CHANNELS], [w for _, w in CHANNELS], n),
            "tier": pl.Series(["green", "gold", "reserve"], dtype=pl.String).gather(tier),
            "churn_risk": churn.round(3),
        }
    )
    never = pl.lit(pl.Series(~bought))
    nulled = ("recency_days", "monetary", "top_category", "top_sku", "top_daypart")
    return frame.with_columns(
        pl.when(never).then(None).otherwise(pl.col(c)).alias(c)
        for c in (*nulled, "weekday_share", "top_channel")
    )


def _band(column: str, edges: tuple[float, ...], *, right: bool = True) -> pl.Expr:
    value = pl.col(column)
    above = [(value > e) if right else (value >= e) for e in edges]
    return pl.sum_horizontal(above).cast(pl.Int8).alias(column)


def _peer_cells(frame: pl.DataFrame, cfg: MicroConfig, value_edges: tuple[float, ...]) -> int:
    """One plain group-by over the same discretised keys: the cell count, nothing else."""
    now, before = pl.col("spend_90d"), pl.col("spend_prev_90d")
    lo, hi = cfg.weekday_share
    keys = [
        _band("frequency", (0, *cfg.habit_edges)),
        pl.col("top_category"),
        pl.col("top_daypart"),
        pl.when(pl.col("weekday_share") >= hi)
        .then(2)
        .when(pl.col("weekday_share") <= lo)
        .then(0)
        .when(pl.col("weekday_share").is_not_null())
        .then(1)
        .alias("rhythm"),
        pl.when((now <= 0) & (before <= 0))
        .then(0)
        .when((now >= before * cfg.trend[1]) & (now > before))
        .then(1)
        .when(now <= before * cfg.trend[0])
        .then(2)
        .otherwise(3)
        .alias("trend"),
        _band("churn_risk", cfg.churn, right=False),
        _band("recency_days", cfg.activity_days),
        pl.when(pl.col("frequency") > 0).then(_band("monetary", value_edges)),
        _band("tenure_days", cfg.tenure_days, right=False),
        pl.col("top_channel"),
        pl.col("tier"),
        pl.col("top_sku"),
    ]
    return frame.lazy().group_by(keys).len().collect().height


def _timed(run: Callable[[], Any], repeat: int) -> tuple[Any, float]:
    best, out = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - started)
    return out, best


def run_microsegments_bench(
    *,
    members: int = 1_000_000,
    min_size: int = 50,
    seed: int = 7,
    repeat: int = 1,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    progress(f"building {members:,} synthetic members (seed {seed})")
    frame, build_s = _timed(lambda: synthetic_features(members, seed=seed), 1)
    cfg = MicroConfig(min_size=min_size)
    progress(f"micro-segments, min size {min_size}")
    result, ours_s = _timed(lambda: microsegment(frame, cfg), repeat)
    assert isinstance(result, MicroSegmentation)
    progress("peer: one polars group_by over the same keys")
    cells, peer_s = _timed(lambda: _peer_cells(frame, cfg, result.value_edges), repeat)
    progress("RFM scores of the same members")
    rfm, rfm_s = _timed(lambda: score_table(frame), repeat)
    sizes = np.array([s.size for s in result.segments])
    return {
        "units": {"seconds": "s", "members_per_s": "members/s", "size": "members"},
        "members": members,
        "seed": seed,
        "build_seconds": round(build_s, 3),
        "microsegments": {
            "segments": len(result.segments),
            "raw_cells": result.raw_cells,
            "min_size": int(sizes.min()),
            "median_size": float(np.median(sizes)),
            "max_size": int(sizes.max()),
            "required_min_size": min_size,
            "dimensions": list(result.dimensions),
            "seconds": round(ours_s, 3),
            "members_per_s": round(members / ours_s, 1),
        },
        "peer_group_by": {
            "cells": cells,
            "seconds": round(peer_s, 3),
            "members_per_s": round(members / peer_s, 1),
        },
        "same_cells": cells == result.raw_cells,
        "ratio_to_peer": round(peer_s / ours_s, 3),
        "rfm": {
            "seconds": round(rfm_s, 3),
            "members_per_s": round(members / rfm_s, 1),
            "segments": {s.segment: s.members for s in rfm.summary()},
        },
    }
