"""Offline evaluation of recommenders on a time split: recall@k and NDCG@k, two modes.

Train on interactions before the split; the test set of a member is the set of items they
bought in the following window (30 days by default). A member is evaluated when they have
at least one train interaction and at least one relevant test item. Relevance is binary.

Modes:

- ``next``: the next purchases, repeats included (in a coffee shop most purchases are
  repeats), recommending from every item;
- ``new``: only items the member did not buy in train are relevant, and items bought in
  train are excluded from the recommendations.

Metrics, for one member with relevant set R and ranked list L (first k entries):

- recall@k = |L[:k] & R| / |R| (can stay below 1 when |R| > k);
- NDCG@k = DCG / IDCG with DCG = sum over ranks r = 1..k of [L[r] in R] / log2(r + 1) and
  IDCG the DCG of a perfect list, sum over r = 1..min(k, |R|) of 1 / log2(r + 1).

Both are averaged over the evaluated members.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from nextbest.analytics.recommend import (
    Interactions,
    Recommender,
    member_matrix,
    positions,
    recommend_matrix,
)

Mode = Literal["next", "new"]
MODES: tuple[Mode, ...] = ("next", "new")
DAY = 86_400


def _hits(ranked: np.ndarray, relevant: np.ndarray | sp.sparray, k: int) -> np.ndarray:
    """(members, k) booleans: is the item at each rank relevant (padding -1 never is)."""
    rel = sp.csr_array(relevant)
    top = np.asarray(ranked, dtype=np.int64)[:, :k]
    if top.shape[0] != rel.shape[0]:
        raise ValueError(f"ranked has {top.shape[0]} rows, relevant {rel.shape[0]}")
    rows, cols = rel.nonzero()
    keys = np.sort(rows.astype(np.int64) * rel.shape[1] + cols)
    wanted = np.arange(top.shape[0])[:, None] * rel.shape[1] + top
    found = np.isin(wanted, keys) & (top >= 0)
    return found


def _sizes(relevant: np.ndarray | sp.sparray) -> np.ndarray:
    rel = sp.csr_array(relevant)
    return np.asarray((rel != 0).sum(axis=1), dtype=np.float64).reshape(-1)


def recall_at_k(ranked: np.ndarray, relevant: np.ndarray | sp.sparray, *, k: int) -> np.ndarray:
    """Per member: share of their relevant items found in the first ``k`` ranks.

    ``ranked`` is (members, >= k) item indices (-1 = empty slot); ``relevant`` a
    (members, items) 0/1 matrix. Members with no relevant item get nan.

    >>> ranked = np.array([[2, 0, 1], [3, -1, -1]])
    >>> relevant = np.array([[1, 1, 0, 0], [0, 0, 1, 0]])
    >>> recall_at_k(ranked, relevant, k=2).tolist()
    [0.5, 0.0]
    >>> recall_at_k(ranked, relevant, k=3).tolist()
    [1.0, 0.0]
    """
    sizes = _sizes(relevant)
    hits = _hits(ranked, relevant, k).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: np.ndarray = np.where(sizes > 0, hits / sizes, np.nan)
    return out


def ndcg_at_k(ranked: np.ndarray, relevant: np.ndarray | sp.sparray, *, k: int) -> np.ndarray:
    """Per member: DCG of the first ``k`` ranks over the DCG of a perfect list.

    >>> ranked = np.array([[2, 0, 1]])
    >>> relevant = np.array([[1, 1, 0, 0]])
    >>> round(float(ndcg_at_k(ranked, relevant, k=2)[0]), 4)  # (1/log2 3) / (1 + 1/log2 3)
    0.3869
    >>> ndcg_at_k(np.array([[0, 1]]), relevant, k=2).tolist()
    [1.0]
    """
    sizes = _sizes(relevant)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (_hits(ranked, relevant, k) * discount[: min(k, np.shape(ranked)[1])]).sum(axis=1)
    ideal_cum = np.concatenate([[0.0], np.cumsum(discount)])
    idcg = ideal_cum[np.minimum(sizes, k).astype(np.int64)]
    with np.errstate(invalid="ignore", divide="ignore"):
        out: np.ndarray = np.where(sizes > 0, dcg / idcg, np.nan)
    return out


@dataclass(frozen=True, slots=True, eq=False)
class Split:
    """Train rows before ``split_at``; test rows in ``[split_at, split_at + window)``."""

    train: Interactions
    test: Interactions
    split_at: int
    window_days: int


def time_split(interactions: Interactions, *, split_at: int, window_days: int = 30) -> Split:
    """Split at Unix second ``split_at``; the test window lasts ``window_days`` days.

    >>> rows = Interactions.from_rows([("a", "x", 10, 1), ("a", "y", 20, 1), ("a", "z", 99, 1)])
    >>> s = time_split(rows, split_at=15, window_days=0)
    >>> len(s.train), len(s.test)
    (1, 0)
    """
    if window_days < 0:
        raise ValueError(f"window_days must be >= 0, got {window_days}")
    end = split_at + window_days * DAY
    return Split(
        interactions.window(end=split_at),
        interactions.window(start=split_at, end=end),
        split_at,
        window_days,
    )


@dataclass(frozen=True, slots=True, eq=False)
class Target:
    """Who is evaluated in one mode: train histories and relevant test items, both over
    ``columns`` (every item seen in train or test, sorted)."""

    mode: Mode
    members: tuple[str, ...]
    columns: tuple[str, ...]
    history: sp.csr_array
    relevant: sp.csr_array


def targets(split: Split, *, mode: Mode) -> Target:
    """Members with train history and at least one relevant test item.

    Test items never seen in train still count in |R|: no model fitted on train can
    recommend them, and the metrics say so.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    train_members = set(split.train.members())
    members = [m for m in split.test.members() if m in train_members]
    columns = tuple(np.unique(np.concatenate([split.train.item, split.test.item])).tolist())
    _, history = member_matrix(split.train, items=columns, members=members)
    _, bought = member_matrix(split.test, items=columns, members=members)
    relevant = sp.csr_array((bought > 0).astype(np.float64))
    if mode == "new":
        relevant = sp.csr_array(relevant - relevant.multiply(history > 0))
        relevant.eliminate_zeros()
    keep = np.flatnonzero(np.asarray((relevant != 0).sum(axis=1)).reshape(-1) > 0)
    return Target(mode, tuple(members[i] for i in keep), columns, history[keep], relevant[keep])


@dataclass(frozen=True, slots=True, eq=False)
class Evaluation:
    """Mean recall@k and NDCG@k over ``members`` evaluated members, and scoring speed.

    ``per_member`` holds (recall, NDCG) per member, in ``Target.members`` order, for
    paired comparisons between models evaluated on the same target.
    """

    mode: Mode
    k: int
    members: int
    recall: float
    ndcg: float
    seconds: float
    members_per_s: float
    per_member: np.ndarray


def paired_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean of ``a - b`` over paired members and its standard error.

    >>> diff, se = paired_difference(np.array([1.0, 0.5, 1.0]), np.array([0.5, 0.5, 0.5]))
    >>> round(diff, 4), round(se, 4)
    (0.3333, 0.1667)
    """
    if a.shape != b.shape:
        raise ValueError(f"paired figures need the same members: {a.shape} vs {b.shape}")
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if len(d) < 2:
        return (float(d.mean()) if len(d) else float("nan"), float("nan"))
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))


def evaluate(model: Recommender, target: Target, *, k: int, repeats: int = 1) -> Evaluation:
    """Rank for every target member (``new``: excluding train items) and score the lists.

    Scoring speed is the fastest of ``repeats`` identical rankings (a small target ranks in
    milliseconds, where one run is mostly noise).
    """
    pos = positions(target.columns, np.asarray(model.items, dtype=np.str_))
    if (pos < 0).any():
        raise ValueError(f"model {model.version} has items the split never saw")
    history = target.history[:, pos]
    seconds = float("inf")
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        ranked, _ = recommend_matrix(model, history, k=k, exclude_seen=target.mode == "new")
        seconds = min(seconds, time.perf_counter() - started)
    mapped = np.where(ranked >= 0, pos[np.maximum(ranked, 0)], -1)
    n = len(target.members)
    recall = recall_at_k(mapped, target.relevant, k=k)
    ndcg = ndcg_at_k(mapped, target.relevant, k=k)
    return Evaluation(
        mode=target.mode,
        k=k,
        members=n,
        recall=float(np.mean(recall)) if n else float("nan"),
        ndcg=float(np.mean(ndcg)) if n else float("nan"),
        seconds=seconds,
        members_per_s=n / seconds if seconds > 0 else float("inf"),
        per_member=np.column_stack([recall, ndcg]) if n else np.zeros((0, 2)),
    )
