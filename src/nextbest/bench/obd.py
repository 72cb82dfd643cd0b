"""`nextbest bench obd`: off-policy estimates of Thompson sampling from a random policy's log.

The protocol of the Open Bandit Pipeline paper (Saito et al. 2021) on the Open Bandit Dataset
sample: the evaluation policy is Bernoulli Thompson Sampling (BTS), whose true value is the
observed click-through rate of the BTS log; its value is estimated from the *random* policy's
log with IPS, SNIPS, DM and DR, and each estimator is scored by its relative error
``|estimate - truth| / truth``, averaged over bootstrap resamples of the random log.

BTS's probability of showing item ``a`` in position ``k`` (it ignores the user) comes from
either

- ``prior``: simulating BTS with the Beta prior shipped beside the dataset: each simulated
  impression draws one click rate per item and shows the best ``n_positions`` in order; or
- ``empirical``: how often the BTS log showed each item in each position.

The reward model of DM and DR is an L2-regularised logistic regression of the click on the
user's four categorical features, the item, the position and the user's affinity to that
item, fitted on the random log with ``folds``-fold cross-fitting (each row's predictions come
from a model that did not see it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from nextbest.datasets.obd import BtsPrior, Campaign, ObdLog, load_bts_prior, load_obd
from nextbest.experiments.ope import ESTIMATORS, Estimate, EstimatorName, estimate_all

ActionDist = Literal["prior", "empirical"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_CHUNK = 10_000

# obp 0.4.x README and quickstart (random log, BTS with the ZOZOTOWN prior, n_sim=100000):
# estimated_policy_value["ipw"] / random CTR. Only "all" is published.
PUBLISHED_IPS_RELATIVE = {"all": 1.198126}


def bts_ranking_dist(
    prior: BtsPrior, *, n_positions: int, n_sim: int, rng: np.random.Generator
) -> FloatArray:
    """``(items, positions)``: how often simulated Thompson sampling puts each item in each slot.

    >>> p = BtsPrior(alpha=np.array([90.0, 10.0, 1.0]), beta=np.array([10.0, 90.0, 99.0]))
    >>> d = bts_ranking_dist(p, n_positions=2, n_sim=1000, rng=np.random.default_rng(0))
    >>> d.sum(axis=0).tolist(), d[:, 0].round(2).tolist()
    ([1.0, 1.0], [1.0, 0.0, 0.0])
    """
    n_items = prior.alpha.size
    if not 1 <= n_positions <= n_items:
        raise ValueError(f"n_positions must be in 1..{n_items}, got {n_positions}")
    if n_sim < 1:
        raise ValueError(f"n_sim must be positive, got {n_sim}")
    counts = np.zeros((n_items, n_positions), dtype=np.int64)
    done = 0
    while done < n_sim:
        size = min(_CHUNK, n_sim - done)
        theta = rng.beta(prior.alpha, prior.beta, size=(size, n_items))
        top = np.argsort(-theta, axis=1, kind="stable")[:, :n_positions]
        for k in range(n_positions):
            counts[:, k] += np.bincount(top[:, k], minlength=n_items)
        done += size
    return counts / float(n_sim)


def empirical_dist(log: ObdLog) -> FloatArray:
    """``(items, positions)``: the share of each position's impressions given to each item."""
    counts = np.zeros((log.n_items, log.n_positions), dtype=np.float64)
    np.add.at(counts, (log.item, log.position), 1.0)
    totals: FloatArray = counts.sum(axis=0, keepdims=True)
    return counts / totals


@dataclass(frozen=True, eq=False)
class _Design:
    """The random log as model inputs: one-hot user categories, plus per-item affinities."""

    users: sparse.csr_matrix
    item: IntArray
    position: IntArray
    click: IntArray
    pscore: FloatArray
    affinity: FloatArray
    n_items: int
    n_positions: int


def _design(log: ObdLog) -> _Design:
    blocks = []
    for j in range(log.user_features.shape[1]):
        _, codes = np.unique(log.user_features[:, j], return_inverse=True)
        width = int(codes.max()) + 1
        rows = np.arange(codes.size)
        blocks.append(sparse.csr_matrix((np.ones(codes.size), (rows, codes)), (codes.size, width)))
    return _Design(
        users=sparse.hstack(blocks, format="csr"),
        item=log.item,
        position=log.position,
        click=log.click,
        pscore=log.propensity,
        affinity=log.affinity,
        n_items=log.n_items,
        n_positions=log.n_positions,
    )


def _features(d: _Design, rows: IntArray, items: IntArray) -> sparse.csr_matrix:
    """The model's inputs for showing ``items[r]`` to the user of log row ``rows[r]``."""
    n = rows.size
    ones = np.ones(n)
    idx = np.arange(n)
    item = sparse.csr_matrix((ones, (idx, items)), (n, d.n_items))
    pos = sparse.csr_matrix((ones, (idx, d.position[rows])), (n, d.n_positions))
    aff = sparse.csr_matrix(d.affinity[rows, items].reshape(-1, 1))
    return sparse.hstack([d.users[rows], item, pos, aff], format="csr")


def _fit_predict(d: _Design, train: IntArray, test: IntArray, c: float) -> FloatArray:
    """Click probabilities of every item, at its logged position, for each ``test`` row."""
    y = d.click[train]
    if y.min() == y.max():  # one class only: the model is the constant
        return np.full((test.size, d.n_items), float(y[0]))
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(_features(d, train, d.item[train]), y)
    rows = np.repeat(test, d.n_items)
    items = np.tile(np.arange(d.n_items, dtype=np.int64), test.size)
    proba = model.predict_proba(_features(d, rows, items))[:, 1]
    return np.asarray(proba, dtype=np.float64).reshape(test.size, d.n_items)


def _cross_fit(
    d: _Design, sample: IntArray, *, folds: int, c: float, rng: np.random.Generator
) -> FloatArray:
    q = np.empty((sample.size, d.n_items), dtype=np.float64)
    fold = rng.permutation(sample.size) % folds
    for f in range(folds):
        held = np.flatnonzero(fold == f)
        q[held] = _fit_predict(d, sample[fold != f], sample[held], c)
    return q


def _estimates(
    d: _Design, sample: IntArray, dist: FloatArray, q: FloatArray
) -> dict[EstimatorName, Estimate]:
    return estimate_all(
        reward=d.click[sample].astype(np.float64),
        pscore=d.pscore[sample],
        action=d.item[sample],
        action_dist=dist[:, d.position[sample]].T,
        q=q,
    )


def run_obd_bench(
    *,
    campaign: Campaign = "all",
    runs: int = 20,
    seed: int = 12345,
    action_dist: ActionDist = "prior",
    n_sim: int = 100_000,
    folds: int = 3,
    c: float = 1.0,
) -> dict[str, Any]:
    """Relative errors of IPS, SNIPS, DM and DR estimating BTS's CTR from the random log."""
    if runs < 1:
        raise ValueError(f"runs must be positive, got {runs}")
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    started = time.perf_counter()
    random_log = load_obd("random", campaign)
    bts_log = load_obd("bts", campaign)
    truth = bts_log.ctr
    sim_rng, fit_rng, boot_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    if action_dist == "prior":
        dist = bts_ranking_dist(
            load_bts_prior(campaign),
            n_positions=random_log.n_positions,
            n_sim=n_sim,
            rng=sim_rng,
        )
    elif action_dist == "empirical":
        dist = empirical_dist(bts_log)
    else:
        raise ValueError(f"unknown action_dist {action_dist!r}; expected 'prior' or 'empirical'")
    d = _design(random_log)
    everything = np.arange(random_log.n_rows, dtype=np.int64)
    full = _estimates(d, everything, dist, _cross_fit(d, everything, folds=folds, c=c, rng=fit_rng))
    errors: dict[EstimatorName, list[float]] = {name: [] for name in ESTIMATORS}
    for _ in range(runs):
        sample = boot_rng.integers(0, random_log.n_rows, size=random_log.n_rows)
        q = _cross_fit(d, sample, folds=folds, c=c, rng=fit_rng)
        for name, e in _estimates(d, sample, dist, q).items():
            errors[name].append(abs(e.value - truth) / truth)
    summary = {
        name: {
            "mean": float(np.mean(v)),
            "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
            "median": float(np.median(v)),
        }
        for name, v in errors.items()
    }
    return {
        "campaign": campaign,
        "runs": runs,
        "seed": seed,
        "action_dist": action_dist,
        "n_sim": n_sim if action_dist == "prior" else None,
        "folds": folds,
        "reward_model": f"logistic regression (L2, C={c}), {folds}-fold cross-fitting",
        "interval": "normal, 95%, from per-row terms (SNIPS: delta method)",
        "n_random": random_log.n_rows,
        "n_bts": bts_log.n_rows,
        "random_ctr": random_log.ctr,
        "truth_ctr": truth,
        "full_sample": {
            name: {
                "value": e.value,
                "low": e.low,
                "high": e.high,
                "std_error": e.std_error,
                "covers_truth": e.covers(truth),
                "relative_error": abs(e.value - truth) / truth,
            }
            for name, e in full.items()
        },
        "relative_error": summary,
        # The OBP quickstart's figure: IPW's BTS value over the random log's CTR on "all",
        # with BTS's action distribution from 100,000 simulations of its prior.
        "ips_relative_to_random": full["ips"].value / random_log.ctr,
        "published_ips_relative_to_random": PUBLISHED_IPS_RELATIVE.get(campaign),
        "best": min(summary, key=lambda name: summary[name]["mean"]),
        "seconds": time.perf_counter() - started,
    }
