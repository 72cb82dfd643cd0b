"""``nextbest bench btyd``: BG/NBD on a synthetic population of millions, and what grouping buys.

A population is drawn from BG/NBD with the CDNOW estimates as the truth, vectorised
(``nextbest.analytics.btyd.simulate``): first purchases spread uniformly over a year of
cohorts (``T`` of 0-364 days), purchase times rounded to whole days, so that histories
repeat as they do in real data. Then the histories are grouped and BG/NBD is fitted; the
recovered parameters are printed beside the true ones.

The peer, measured in the same run, is our own fit without grouping (one likelihood row per
customer) on a subset: the ratio is what grouping by history buys at that size.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from nextbest.analytics.btyd import (
    BGNBD,
    fit_bgnbd,
    group_day_histories,
    simulate_bgnbd,
    ungrouped_histories,
)
from nextbest.analytics.btyd.simulate import to_days

TRUE = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
GOAL_FIT_SECONDS = 30.0


def _fit_figures(model: BGNBD) -> dict[str, Any]:
    assert model.fit is not None
    return {
        "params": model.params(),
        "log_likelihood": model.fit.log_likelihood,
        "iterations": model.fit.iterations,
        "evaluations": model.fit.evaluations,
        "converged": model.fit.converged,
        "seconds": model.fit.seconds,
    }


def run_btyd_scale_bench(
    *,
    customers: int = 10_000_000,
    subset: int = 1_000_000,
    seed: int = 7,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    if customers < 1_000:
        raise ValueError(f"need at least 1,000 customers, got {customers:,}")
    subset = min(subset, customers)
    progress(f"simulating {customers:,} BG/NBD customers")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    T_days = rng.integers(0, 365, customers)
    population = simulate_bgnbd(n=customers, T=T_days / 7.0, seed=rng, **TRUE)
    x = population.x
    t_days = to_days(population.t_x, cap_days=T_days)
    generate_s = time.perf_counter() - started
    del population

    progress("grouping histories")
    started = time.perf_counter()
    histories = group_day_histories(x, t_days, T_days)
    group_s = time.perf_counter() - started
    progress(f"fitting BG/NBD on {histories.n_histories:,} distinct histories")
    started = time.perf_counter()
    model = fit_bgnbd(histories)
    fit_s = time.perf_counter() - started
    recovered = model.params()

    progress(f"subset of {subset:,}: grouped vs ungrouped fit")
    sx, st, sT = x[:subset], t_days[:subset], T_days[:subset]
    started = time.perf_counter()
    grouped = fit_bgnbd(group_day_histories(sx, st, sT))
    grouped_s = time.perf_counter() - started
    started = time.perf_counter()
    flat = fit_bgnbd(ungrouped_histories(sx, st / 7.0, sT / 7.0))
    flat_s = time.perf_counter() - started
    assert grouped.fit is not None and flat.fit is not None
    return {
        "units": {"seconds": "s", "time": "weeks (days / 7)", "log_likelihood": "nats"},
        "customers": customers,
        "distinct_histories": histories.n_histories,
        "seed": seed,
        "generate_s": generate_s,
        "group_s": group_s,
        "fit_s": fit_s,
        "total_s": group_s + fit_s,
        "goal_fit_s": GOAL_FIT_SECONDS,
        "goal_met": fit_s < GOAL_FIT_SECONDS,
        "fit": _fit_figures(model),
        "true_params": TRUE,
        "recovered_params": recovered,
        "relative_error": {k: (recovered[k] - v) / v for k, v in TRUE.items()},
        "subset": {
            "customers": subset,
            "distinct_histories": grouped.fit.n_histories,
            "grouped": {"seconds": grouped_s, **_fit_figures(grouped)},
            "ungrouped": {"seconds": flat_s, **_fit_figures(flat)},
            "ratio_ungrouped_to_grouped": flat_s / grouped_s,
            "same_log_likelihood": bool(
                abs(grouped.fit.log_likelihood - flat.fit.log_likelihood)
                <= 1e-6 * abs(flat.fit.log_likelihood)
            ),
        },
    }
