"""Recommenders: planted co-purchases are recovered, and every model passes one battery.

The battery (run on item-kNN, ALS, popularity and personal frequency): same data, same
model and version; ``recommend_many`` equals looping ``recommend``; ``exclude_seen`` never
returns a bought item; explanations add up to the score; models are frozen.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp

from nextbest.analytics import recommend as rec
from nextbest.analytics.recommend_als import fit_als
from nextbest.analytics.recommend_eval import evaluate, targets, time_split

DAY = 86_400
FITS: dict[str, Callable[[rec.Interactions], rec.Recommender]] = {
    "item_knn": rec.fit_item_knn,
    "als": fit_als,
    "popularity": rec.fit_popularity,
    "frequency": rec.fit_frequency,
}


def planted(*, members: int = 400, seed: int = 0) -> rec.Interactions:
    """Four groups, each with its pair of items (gA-x, gA-y); everyone also buys the very
    popular ``coffee``. In train (days 0-59) a member buys one item of their pair, in test
    (days 60-89) the other one, so only co-purchase structure can find the test item."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, str, int, float]] = []
    for m in range(members):
        member, group = f"m{m:04d}", m % 4
        first, second = ("x", "y") if rng.random() < 0.5 else ("y", "x")
        # Half the members bought both items of their pair in train: that is the signal.
        train_items = [f"g{group}-{first}"] + ([f"g{group}-{second}"] if m % 8 < 4 else [])
        for day in rng.integers(0, 60, 6):
            rows.append((member, "coffee", int(day) * DAY, 1.0))
        for item in train_items:
            rows.append((member, item, int(rng.integers(0, 60)) * DAY, 1.0))
        rows.append((member, f"g{group}-{second}", int(rng.integers(60, 90)) * DAY, 1.0))
        rows.append((member, "coffee", int(rng.integers(60, 90)) * DAY, 1.0))
    return rec.Interactions.from_rows(rows)


@pytest.fixture(scope="module")
def data() -> rec.Interactions:
    return planted()


@pytest.fixture(scope="module")
def train(data: rec.Interactions) -> rec.Interactions:
    return data.window(end=60 * DAY)


def test_item_knn_recovers_the_planted_pair(train: rec.Interactions) -> None:
    model = rec.fit_item_knn(train)
    history = rec.Interactions.from_rows([("new", "g2-x", 0, 1.0)])
    top = rec.recommend(model, history, "new", k=3, exclude_seen=True)
    assert top[0][0] == "g2-y"
    # The partner's similarity is far above any other group's item.
    assert top[0][1] > 5 * max(score for item, score in top[1:] if item != "coffee")
    reason = rec.explain(model, history, "new", items=["g2-y"])[0]
    assert reason.drivers[0][0] == "g2-x"


def test_similarity_is_symmetric_before_pruning_and_ignores_self(
    train: rec.Interactions,
) -> None:
    model = rec.fit_item_knn(train, repeat_weight=0.0)
    s = model.similarity.toarray()
    assert np.allclose(s, s.T)
    assert np.all(np.diag(s) == 0)
    # Few neighbours: each item keeps at most that many sources.
    pruned = rec.fit_item_knn(train, neighbours=2, repeat_weight=0.0).similarity.toarray()
    assert ((pruned > 0).sum(axis=0) <= 2).all()


def test_repeat_weight_ranks_own_staples_first(train: rec.Interactions) -> None:
    history = rec.Interactions.from_rows([("a", "g1-x", 0, 3.0)])
    classic = rec.fit_item_knn(train, repeat_weight=0.0)
    repeat = rec.fit_item_knn(train, repeat_weight=2.0)
    assert rec.recommend(classic, history, "a", k=1)[0][0] == "g1-y"
    assert rec.recommend(repeat, history, "a", k=1)[0][0] == "g1-x"


@pytest.mark.parametrize("name", ["item_knn", "als"])
def test_ours_beats_popularity_on_planted_new_items(data: rec.Interactions, name: str) -> None:
    split = time_split(data, split_at=60 * DAY, window_days=30)
    target = targets(split, mode="new")
    assert len(target.members) > 150
    ours = evaluate(FITS[name](split.train), target, k=1)
    peer = evaluate(rec.fit_popularity(split.train), target, k=1)
    assert ours.recall > 0.9
    assert peer.recall < 0.5
    assert ours.ndcg > peer.ndcg


def test_frequency_ranks_what_you_bought_most() -> None:
    train = rec.Interactions.from_rows(
        [("a", "tea", 0, 1), ("a", "tea", 1, 1), ("a", "cake", 2, 1), ("b", "latte", 0, 9)]
    )
    model = rec.fit_frequency(train)
    assert [item for item, _ in rec.recommend(model, train, "a", k=3)] == ["tea", "cake", "latte"]
    pop = rec.fit_popularity(train)
    assert rec.recommend(pop, train, "a", k=3) == rec.recommend(pop, train, "b", k=3)


# --- the battery --------------------------------------------------------------------------


@pytest.mark.parametrize("name", FITS)
def test_same_data_same_model(train: rec.Interactions, name: str) -> None:
    a, b = FITS[name](train), FITS[name](train)
    assert a.version == b.version
    history = train.window(end=30 * DAY)
    _, m = rec.member_matrix(history, items=a.items)
    assert np.array_equal(a.scores(m), b.scores(m))
    other = FITS[name](train.window(end=59 * DAY))
    assert other.version != a.version


@pytest.mark.parametrize("name", FITS)
@pytest.mark.parametrize("exclude_seen", [False, True])
def test_many_equals_looping_one(train: rec.Interactions, name: str, exclude_seen: bool) -> None:
    model = FITS[name](train)
    members = [*train.members()[:40], "nobody"]
    many = rec.recommend_many(model, train, members=members, k=5, exclude_seen=exclude_seen)
    for member in members:
        one = rec.recommend(model, train, member, k=5, exclude_seen=exclude_seen)
        got = many.of(member)
        assert [i for i, _ in got] == [i for i, _ in one]
        assert np.allclose([s for _, s in got], [s for _, s in one], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", FITS)
def test_exclude_seen_never_returns_a_bought_item(train: rec.Interactions, name: str) -> None:
    model = FITS[name](train)
    recs = rec.recommend_many(model, train, k=len(model.items), exclude_seen=True)
    bought: dict[str, set[str]] = {}
    for member, item in zip(train.member.tolist(), train.item.tolist(), strict=True):
        bought.setdefault(member, set()).add(item)
    for member in recs.members:
        listed = [item for item, _ in recs.of(member)]
        assert not set(listed) & bought[member]
        assert len(listed) == len(model.items) - len(bought[member])  # the rest, padded


@pytest.mark.parametrize("name", FITS)
def test_explanations_add_up_to_the_score(train: rec.Interactions, name: str) -> None:
    model = FITS[name](train)
    for member in train.members()[:25]:
        top = rec.recommend(model, train, member, k=4)
        reasons = rec.explain(model, train, member, k=4)
        assert [e.item for e in reasons] == [item for item, _ in top]
        for e, (_, score) in zip(reasons, top, strict=True):
            total = sum(share for _, share in e.drivers) + e.base
            assert total == pytest.approx(score, rel=1e-9, abs=1e-12)
            assert e.score == pytest.approx(score, rel=1e-9, abs=1e-12)
            bought = set(train.item[train.member == member].tolist())
            assert {item for item, _ in e.drivers} <= bought


@pytest.mark.parametrize("name", FITS)
def test_models_are_frozen_and_pickle(train: rec.Interactions, name: str) -> None:
    model = FITS[name](train)
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.version = "x"  # type: ignore[misc]
    clone = pickle.loads(pickle.dumps(model))
    _, m = rec.member_matrix(train, items=model.items)
    assert clone.version == model.version
    assert np.array_equal(clone.scores(m), model.scores(m))


def test_unknown_items_in_history_are_ignored(train: rec.Interactions) -> None:
    model = rec.fit_item_knn(train)
    plain = rec.Interactions.from_rows([("a", "g0-x", 0, 1)])
    noisy = rec.Interactions.from_rows([("a", "g0-x", 0, 1), ("a", "never-sold", 0, 4)])
    assert rec.recommend(model, plain, "a") == rec.recommend(model, noisy, "a")


def test_caller_arrays_stay_writable() -> None:
    weight = np.array([1.0, 2.0])
    rec.Interactions(np.array(["a", "b"]), np.array(["x", "y"]), np.array([0, 1]), weight)
    weight[0] = 5.0


# --- invalid inputs -----------------------------------------------------------------------


def _rows() -> rec.Interactions:
    return rec.Interactions.from_rows([("a", "x", 0, 1), ("b", "y", 0, 1)])


INVALID: list[tuple[Callable[[], object], str]] = [
    (
        lambda: rec.Interactions(np.array(["a"]), np.array(["x", "y"]), np.array([0]), np.ones(1)),
        "differ in length",
    ),
    (lambda: rec.Interactions.from_rows([("a", "x", 0, 0.0)]), "weight must be positive"),
    (lambda: rec.fit_item_knn(_rows(), neighbours=0), "neighbours >= 1"),
    (lambda: rec.fit_item_knn(_rows(), shrink=-1), "shrink >= 0"),
    (lambda: fit_als(_rows(), factors=0), "factors >= 1"),
    (lambda: fit_als(_rows(), regularization=0), "positive regularization"),
    (lambda: rec.top_k(np.zeros((1, 2)), k=0), "k must be at least 1"),
    (lambda: rec.member_matrix(_rows(), items=("x",), members=["a", "a"]), "distinct"),
    (
        lambda: rec.explain(rec.fit_popularity(_rows()), _rows(), "a", items=["nope"]),
        "unknown to model",
    ),
    (
        lambda: rec.fit_popularity(_rows()).contributions(sp.csr_array(np.ones((2, 2)))),
        "one member's row",
    ),
    (
        lambda: rec.recommend_matrix(
            rec.fit_popularity(_rows()), sp.csr_array((1, 3)), k=1, exclude_seen=False
        ),
        "3 item columns",
    ),
]


@pytest.mark.parametrize(("call", "message"), INVALID)
def test_invalid_inputs_say_why(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
