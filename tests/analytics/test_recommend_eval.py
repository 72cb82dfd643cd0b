"""Recall@k, NDCG@k, the time split and who is evaluated in each mode, on hand examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from nextbest.analytics import recommend as rec
from nextbest.analytics.recommend_eval import (
    DAY,
    evaluate,
    ndcg_at_k,
    paired_difference,
    recall_at_k,
    targets,
    time_split,
)

L2, L3, L4 = 1.0, 1 / math.log2(3), 0.5  # discounts at ranks 1, 2, 3


@pytest.mark.parametrize(
    ("ranked", "relevant", "k", "recall", "ndcg"),
    [
        # both relevant items at ranks 2 and 3
        ([3, 1, 2], [0, 1, 1, 0], 3, 1.0, (L3 + L4) / (L2 + L3)),
        # one hit at rank 1 of two relevant, k = 1: recall 1/2, ideal DCG is one slot
        ([1, 0, 2], [0, 1, 1, 0], 1, 0.5, 1.0),
        # a miss everywhere
        ([0, 3, -1], [0, 1, 1, 0], 3, 0.0, 0.0),
        # more relevant items than k: recall stays below 1, NDCG of a perfect list is 1
        ([0, 1], [1, 1, 1, 1], 2, 0.5, 1.0),
        # padding (-1) is never a hit
        ([2, -1, -1], [0, 0, 1, 1], 3, 0.5, L2 / (L2 + L3)),
    ],
)
def test_metrics_on_hand_examples(
    ranked: list[int], relevant: list[int], k: int, recall: float, ndcg: float
) -> None:
    r, rel = np.array([ranked]), np.array([relevant])
    assert recall_at_k(r, rel, k=k)[0] == pytest.approx(recall)
    assert ndcg_at_k(r, rel, k=k)[0] == pytest.approx(ndcg)
    # Sparse relevance gives the same figures.
    assert ndcg_at_k(r, sp.csr_array(rel), k=k)[0] == pytest.approx(ndcg)


def test_members_without_relevant_items_are_nan() -> None:
    out = recall_at_k(np.array([[0], [1]]), np.array([[1, 0], [0, 0]]), k=1)
    assert out[0] == 1.0 and math.isnan(out[1])


def test_row_counts_must_agree() -> None:
    with pytest.raises(ValueError, match="ranked has 2 rows, relevant 1"):
        recall_at_k(np.zeros((2, 1), np.int64), np.ones((1, 3)), k=1)


def _story() -> rec.Interactions:
    return rec.Interactions.from_rows(
        [
            ("ann", "latte", 1 * DAY, 1),
            ("ann", "cake", 2 * DAY, 1),
            ("ann", "latte", 11 * DAY, 1),  # test: a repeat
            ("ann", "tea", 12 * DAY, 1),  # test: new to ann
            ("bob", "latte", 3 * DAY, 2),
            ("bob", "latte", 13 * DAY, 1),  # test: only a repeat
            ("cat", "tea", 14 * DAY, 1),  # no train history: not evaluated
            ("dan", "cake", 4 * DAY, 1),
            ("dan", "soup", 40 * DAY, 1),  # after the window
        ]
    )


def test_time_split_and_targets() -> None:
    split = time_split(_story(), split_at=10 * DAY, window_days=7)
    assert len(split.train) == 4 and len(split.test) == 4
    nxt = targets(split, mode="next")
    assert nxt.members == ("ann", "bob")
    assert nxt.columns == ("cake", "latte", "tea")
    assert nxt.relevant.toarray().tolist() == [[0, 1, 1], [0, 1, 0]]
    new = targets(split, mode="new")
    assert new.members == ("ann",)
    assert new.relevant.toarray().tolist() == [[0, 0, 1]]


def test_evaluate_in_both_modes() -> None:
    split = time_split(_story(), split_at=10 * DAY, window_days=7)
    freq = rec.fit_frequency(split.train)  # knows cake and latte only
    nxt = evaluate(freq, targets(split, mode="next"), k=1)
    # ann bought cake and latte once each, both bought by 2 of 3 members: the tie goes to
    # the lower index (cake), a miss; bob's latte hits 1 of 1.
    assert nxt.members == 2 and nxt.recall == pytest.approx((0.0 + 1.0) / 2)
    assert nxt.ndcg == pytest.approx(0.5)
    new = evaluate(freq, targets(split, mode="new"), k=2)
    # ann's only new item (tea) was never sold in train: unrecommendable, recall 0
    assert new.members == 1 and new.recall == 0.0 and new.ndcg == 0.0
    assert new.members_per_s > 0


def test_paired_difference_needs_the_same_members() -> None:
    diff, se = paired_difference(np.array([1.0, 0.0]), np.array([0.0, 0.0]))
    assert (diff, se) == (0.5, 0.5)
    with pytest.raises(ValueError, match="same members"):
        paired_difference(np.ones(2), np.ones(3))


def test_invalid_split_and_mode() -> None:
    with pytest.raises(ValueError, match="window_days must be >= 0"):
        time_split(_story(), split_at=0, window_days=-1)
    split = time_split(_story(), split_at=10 * DAY)
    with pytest.raises(ValueError, match="mode must be one of next, new"):
        targets(split, mode="later")  # type: ignore[arg-type]
