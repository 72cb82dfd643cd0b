"""Next products per member from implicit feedback: item-item CF, implicit ALS, two baselines.

Pure code: arrays in, arrays out (numpy and ``scipy.sparse``); the adapter that reads the
event history is ``nextbest.analytics.interactions``.

Every model scores a member from their history, a row of summed weights (quantities) over
the model's items, and can say where each score came from: ``contributions`` splits it into
one share per item the member bought plus a base that depends on no purchase, and the
shares add up to the score. So every recommendation is explainable ("because you bought
X"), for the neighbourhood model, the factor model and the baselines alike.

- ``fit_item_knn``: cosine similarity between items over members, on BM25- or
  tf-idf-weighted purchase counts, shrunk towards zero for rarely co-bought pairs, top-N
  neighbours kept per item. Score of item j: sum over bought items i of h(i) * s(i, j).
- ``fit_als`` (in ``recommend_als``): implicit alternating least squares (Hu, Koren and
  Volinsky 2008),
  confidence 1 + alpha * log(1 + r / epsilon), exact batched solves. A member's factors
  are recomputed from their history at scoring time (one half step), so members unseen
  in training are scored too; the paper's section 5 gives the per-item split.
- ``fit_popularity``: share of members who bought the item. Same list for everyone.
- ``fit_frequency``: what you bought most before (popularity breaks ties). The honest
  baseline when repeats count, since most coffee-shop purchases are repeats.

>>> train = Interactions.from_rows([("ann", "latte", 0, 2), ("ann", "croissant", 0, 1),
...                                 ("bob", "latte", 0, 1), ("bob", "croissant", 0, 1),
...                                 ("cat", "latte", 0, 1), ("cat", "tea", 0, 3)])
>>> model = fit_item_knn(train, shrink=0.0)
>>> history = Interactions.from_rows([("dan", "croissant", 0, 1)])
>>> [(item, round(score, 3)) for item, score in recommend(model, history, "dan", k=3)]
[('croissant', 1.386), ('latte', 0.592), ('tea', 0.0)]
>>> best = explain(model, history, "dan", k=1, exclude_seen=True)[0]
>>> best.item, [(item, round(share, 3)) for item, share in best.drivers]
('latte', [('croissant', 0.592)])
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import scipy.sparse as sp

Weighting = Literal["bm25", "tfidf", "none"]
Transform = Literal["binary", "log", "count"]
_TIE = 1e-6  # weight of popularity when it only breaks ties


@dataclass(frozen=True, slots=True, eq=False)
class Interactions:
    """Who bought what, when and how much, as parallel arrays (one row per purchase line).

    ``at`` is Unix seconds (UTC); ``weight`` is a positive amount, usually the quantity.

    >>> rows = Interactions.from_rows([("m1", "latte", 100, 2), ("m2", "tea", 200, 1)])
    >>> len(rows), rows.window(end=150).item.tolist()
    (2, ['latte'])
    """

    member: np.ndarray
    item: np.ndarray
    at: np.ndarray
    weight: np.ndarray

    def __post_init__(self) -> None:
        # Copies, so that freezing them never freezes the caller's arrays.
        weight = np.array(self.weight, dtype=np.float64)
        columns: dict[str, np.ndarray] = {
            "member": np.array(self.member, dtype=np.str_),
            "item": np.array(self.item, dtype=np.str_),
            "at": np.array(self.at, dtype=np.int64),
            "weight": weight,
        }
        sizes = {name: len(col) for name, col in columns.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"interaction columns differ in length: {sizes}")
        bad = np.flatnonzero(~(weight > 0))
        if len(bad):
            raise ValueError(f"weight must be positive; row {bad[0]} has {weight[bad[0]]}")
        for name, col in columns.items():
            col.setflags(write=False)
            object.__setattr__(self, name, col)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, int, float]]) -> Interactions:
        """From (member, item, at, weight) tuples."""
        columns = list(zip(*rows, strict=True)) or [(), (), (), ()]
        return cls(*(np.array(c) for c in columns))

    def __len__(self) -> int:
        return len(self.member)

    def take(self, rows: np.ndarray) -> Interactions:
        """The rows selected by a boolean mask or index array."""
        return Interactions(self.member[rows], self.item[rows], self.at[rows], self.weight[rows])

    def window(self, *, start: int | None = None, end: int | None = None) -> Interactions:
        """Rows with ``start <= at < end`` (either bound may be open)."""
        keep = np.ones(len(self), dtype=bool)
        if start is not None:
            keep &= self.at >= start
        if end is not None:
            keep &= self.at < end
        return self.take(keep)

    def members(self) -> tuple[str, ...]:
        """Distinct members, sorted."""
        return factorize(self.member)[0]


def factorize(values: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """Sorted distinct values and each value's index among them (one sort, no hashing).

    >>> factorize(np.array(["b", "a", "b"]))
    (('a', 'b'), array([1, 0, 1]))
    """
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    codes = np.empty(len(values), dtype=np.int64)
    codes[order] = np.cumsum(first) - 1
    return tuple(ordered[first].tolist()), codes


def positions(names: Sequence[str], wanted: np.ndarray) -> np.ndarray:
    """Index of each of ``wanted`` in the sorted ``names``; -1 where absent.

    >>> positions(("a", "c"), np.array(["c", "b", "a"])).tolist()
    [1, -1, 0]
    """
    ref = np.asarray(names, dtype=np.str_)
    if len(ref) == 0:
        return np.full(len(wanted), -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(ref, wanted), len(ref) - 1)
    return np.where(ref[at] == wanted, at, -1).astype(np.int64)


def member_matrix(
    interactions: Interactions, *, items: Sequence[str], members: Sequence[str] | None = None
) -> tuple[tuple[str, ...], sp.csr_array]:
    """Members x items matrix of summed weights over the sorted ``items``.

    Rows follow ``members`` (default: every member, sorted); a member without history gets
    an empty row, and items outside ``items`` are dropped.

    >>> rows = Interactions.from_rows([("b", "x", 0, 1), ("a", "y", 0, 2), ("a", "y", 5, 1)])
    >>> names, m = member_matrix(rows, items=("x", "y"))
    >>> names, m.toarray().tolist()
    (('a', 'b'), [[0.0, 3.0], [1.0, 0.0]])
    """
    if members is None:
        names, row = factorize(interactions.member)
    else:
        names = tuple(members)
        if len(set(names)) != len(names):
            repeated = sorted(m for m, n in Counter(names).items() if n > 1)
            raise ValueError(f"members must be distinct; repeated: {repeated[:5]}")
        order = np.argsort(np.asarray(names, dtype=np.str_), kind="stable")
        found = positions(tuple(names[i] for i in order), interactions.member)
        row = np.full(len(found), -1, dtype=np.int64)
        row[found >= 0] = order[found[found >= 0]]
    col = positions(items, interactions.item)
    keep = (row >= 0) & (col >= 0)
    row = row[keep]
    matrix = sp.csr_array(
        (interactions.weight[keep], (row, col[keep])), shape=(len(names), len(items))
    )
    matrix.sum_duplicates()
    return names, matrix


def _counts(interactions: Interactions) -> tuple[tuple[str, ...], sp.csr_array]:
    """Every item (sorted) and the members x items matrix a model is fitted on."""
    items = factorize(interactions.item)[0]
    return items, member_matrix(interactions, items=items)[1]


def transform(history: sp.csr_array, how: Transform) -> sp.csr_array:
    """Summed weights as binary (bought or not), log(1 + weight) or raw counts."""
    out = sp.csr_array(history, dtype=np.float64, copy=True)
    if how == "binary":
        out.data[:] = 1.0
    elif how == "log":
        out.data = np.log1p(out.data)
    return out


def _version(kind: str, params: dict[str, Any], *arrays: np.ndarray) -> str:
    digest = hashlib.sha256(f"{kind}|{sorted(params.items())!r}".encode())
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:12]


def _frozen(array: np.ndarray) -> np.ndarray:
    out = np.array(array, dtype=np.float64)
    out.setflags(write=False)
    return out


class Recommender(Protocol):
    """What ``recommend_many`` and ``explain`` need from a model."""

    @property
    def kind(self) -> str: ...
    @property
    def items(self) -> tuple[str, ...]: ...
    @property
    def version(self) -> str: ...
    @property
    def params(self) -> dict[str, Any]: ...

    def scores(self, history: sp.csr_array) -> np.ndarray:
        """(members, items) scores for a members x items matrix of summed weights."""
        ...

    def contributions(self, history: sp.csr_array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For one member's 1 x items row: (bought item indices, their shares of each score
        as a (bought, items) array, the base per item). Shares summed plus base = score."""
        ...


def _bought(history: sp.csr_array) -> tuple[np.ndarray, np.ndarray]:
    row = sp.csr_array(history)
    if row.shape[0] != 1:
        raise ValueError(f"contributions take one member's row, got {row.shape[0]} rows")
    row.sum_duplicates()
    return np.asarray(row.indices, dtype=np.int64), np.asarray(row.data, dtype=np.float64)


@dataclass(frozen=True, slots=True, eq=False)
class ItemKNN:
    """Item-item model: ``scores = transform(history) @ similarity + bias``.

    ``similarity[i, j]`` is what having bought item i adds to item j (column j holds the
    kept neighbours of j); ``bias`` is popularity scaled down to a tie-break, so that items
    no neighbour reaches still come in popularity order.
    """

    items: tuple[str, ...]
    similarity: sp.csr_array
    bias: np.ndarray
    params: dict[str, Any]
    version: str
    kind: str = "item_knn"

    def scores(self, history: sp.csr_array) -> np.ndarray:
        h = transform(history, self.params["history"])
        out: np.ndarray = np.asarray((h @ self.similarity).toarray()) + self.bias[None, :]
        return out

    def contributions(self, history: sp.csr_array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        idx, _ = _bought(history)
        h = transform(history, self.params["history"])
        sims = self.similarity[idx].toarray() if len(idx) else np.zeros((0, len(self.items)))
        weights = np.asarray(h[:, idx].toarray()).reshape(-1)
        return idx, weights[:, None] * sims, np.array(self.bias)


def _weighted(counts: sp.csr_array, *, weighting: Weighting, k1: float, b: float) -> sp.csr_array:
    """Items x members weights from members x items counts, items taken as the documents.

    As in text retrieval with members as the terms: a member who bought many different
    items says little about which items go together (low idf), and BM25 saturates a
    member's repeat count and normalises by the item's total. Idf is shifted by one so it
    stays positive when nearly every member buys nearly every item (categories).
    """
    x = sp.csr_array(counts.T, dtype=np.float64, copy=True)
    if weighting == "none" or x.nnz == 0:
        return x
    n_items = x.shape[0]
    df = np.bincount(x.indices, minlength=x.shape[1]).astype(np.float64)
    idf = np.log(n_items / (1.0 + df)) + 1.0
    if weighting == "tfidf":
        x.data = np.log1p(x.data) * idf[x.indices]
        return x
    row_of = np.repeat(np.arange(n_items), np.diff(x.indptr))
    length = np.asarray(x.sum(axis=1)).reshape(-1)
    norm = (1.0 - b) + b * length / max(float(length.mean()), 1e-12)
    x.data = x.data * (k1 + 1.0) / (k1 * norm[row_of] + x.data) * idf[x.indices]
    return x


def _top_per_column(sim: np.ndarray, n: int) -> sp.csr_array:
    """Keep the ``n`` largest positive entries of each column (ties: lower row first)."""
    keep = np.zeros_like(sim, dtype=bool)
    order = np.argsort(-sim, axis=0, kind="stable")[: min(n, sim.shape[0])]
    np.put_along_axis(keep, order, True, axis=0)
    return sp.csr_array(np.where(keep & (sim > 0), sim, 0.0))


def fit_item_knn(
    interactions: Interactions,
    *,
    weighting: Weighting = "bm25",
    shrink: float = 10.0,
    neighbours: int = 50,
    history: Transform = "log",
    repeat_weight: float = 2.0,
    k1: float = 1.2,
    b: float = 0.75,
) -> ItemKNN:
    """Item-item cosine on weighted purchase counts, shrunk, top ``neighbours`` per item.

    ``sim(i, j) = <w_i, w_j> / (|w_i| |w_j| + shrink)`` over the members' weighted counts
    ``w``. The diagonal (an item's similarity with itself) is replaced by ``repeat_weight``:
    0 is classic item-kNN (only other items vote); 1 lets "you bought it before" count as
    much as a perfectly similar item; the default 2 ranks a member's own staples first,
    which is what a coffee shop's repeat purchases need (it changes nothing when bought
    items are excluded). Defaults were chosen on an earlier split of the simulator than the
    one ``nextbest bench recommend`` reports. The item x item similarity is computed
    densely: fine for catalogues up to a few thousand items.
    """
    if shrink < 0 or neighbours < 1 or repeat_weight < 0:
        raise ValueError(
            f"need shrink >= 0, neighbours >= 1 and repeat_weight >= 0; got shrink={shrink}, "
            f"neighbours={neighbours}, repeat_weight={repeat_weight}"
        )
    items, counts = _counts(interactions)
    w = _weighted(counts, weighting=weighting, k1=k1, b=b)
    gram = np.asarray((w @ w.T).toarray(), dtype=np.float64)
    norms = np.sqrt(np.diag(gram))
    sim = gram / (np.outer(norms, norms) + shrink + 1e-12)
    np.fill_diagonal(sim, 0.0)
    pruned = _top_per_column(sim, neighbours)
    if repeat_weight > 0:
        pruned = sp.csr_array(pruned + repeat_weight * sp.eye_array(len(items), format="csr"))
    pruned.sort_indices()
    popularity = _popularity(counts)
    params: dict[str, Any] = {
        "weighting": weighting,
        "shrink": shrink,
        "neighbours": neighbours,
        "history": history,
        "repeat_weight": repeat_weight,
        "k1": k1,
        "b": b,
    }
    bias = _frozen(_TIE * popularity)
    parts = (pruned.data, pruned.indices.astype(np.int64), pruned.indptr.astype(np.int64))
    version = _version("item_knn", params, np.asarray(items), *parts, bias)
    return ItemKNN(items, pruned, bias, params, version)


def _popularity(counts: sp.csr_array) -> np.ndarray:
    """Share of members who bought each item."""
    members = max(counts.shape[0], 1)
    share: np.ndarray = np.bincount(counts.indices, minlength=counts.shape[1]) / members
    return share


@dataclass(frozen=True, slots=True, eq=False)
class Popularity:
    """The same list for everyone: share of members who bought each item."""

    items: tuple[str, ...]
    popularity: np.ndarray
    params: dict[str, Any]
    version: str
    kind: str = "popularity"

    def scores(self, history: sp.csr_array) -> np.ndarray:
        return np.broadcast_to(self.popularity, (history.shape[0], len(self.items))).copy()

    def contributions(self, history: sp.csr_array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        _bought(history)
        return np.zeros(0, np.int64), np.zeros((0, len(self.items))), np.array(self.popularity)


def fit_popularity(interactions: Interactions) -> Popularity:
    items, counts = _counts(interactions)
    share = _frozen(_popularity(counts))
    return Popularity(items, share, {}, _version("popularity", {}, np.asarray(items), share))


@dataclass(frozen=True, slots=True, eq=False)
class PersonalFrequency:
    """What you bought most before: your own summed weights, popularity breaking ties."""

    items: tuple[str, ...]
    bias: np.ndarray
    params: dict[str, Any]
    version: str
    kind: str = "frequency"

    def scores(self, history: sp.csr_array) -> np.ndarray:
        out: np.ndarray = np.asarray(sp.csr_array(history).toarray()) + self.bias[None, :]
        return out

    def contributions(self, history: sp.csr_array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        idx, weight = _bought(history)
        shares = np.zeros((len(idx), len(self.items)))
        shares[np.arange(len(idx)), idx] = weight
        return idx, shares, np.array(self.bias)


def fit_frequency(interactions: Interactions) -> PersonalFrequency:
    items, counts = _counts(interactions)
    bias = _frozen(_TIE * _popularity(counts))
    return PersonalFrequency(items, bias, {}, _version("frequency", {}, np.asarray(items), bias))


# --- implicit ALS -------------------------------------------------------------------------


def top_k(
    scores: np.ndarray, *, k: int, exclude: sp.csr_array | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores of each row's ``k`` best items, best first; ties: lower index.

    ``exclude`` (same shape, nonzero = excluded) removes items; rows with fewer than ``k``
    candidates are padded with index -1 and score nan.

    >>> idx, best = top_k(np.array([[0.1, 0.5, 0.5, 0.2]]), k=3)
    >>> idx.tolist(), best.tolist()
    ([[1, 2, 3]], [[0.5, 0.5, 0.2]])
    >>> top_k(np.array([[0.1, 0.5]]), k=3, exclude=sp.csr_array([[0, 1]]))[0].tolist()
    [[0, -1, -1]]
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    s = np.array(scores, dtype=np.float64)
    if exclude is not None:
        rows, cols = sp.csr_array(exclude).nonzero()
        s[rows, cols] = -np.inf
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    best = np.take_along_axis(s, order, axis=1)
    missing = ~np.isfinite(best)
    pad = k - order.shape[1]
    idx = np.where(missing, -1, order)
    best = np.where(missing, np.nan, best)
    if pad > 0:
        idx = np.hstack([idx, np.full((len(s), pad), -1)])
        best = np.hstack([best, np.full((len(s), pad), np.nan)])
    return idx.astype(np.int64), best


@dataclass(frozen=True, slots=True, eq=False)
class Recommendations:
    """Top-k per member: ``index[m]`` into ``items`` (-1 = none left), ``scores[m]``."""

    members: tuple[str, ...]
    items: tuple[str, ...]
    index: np.ndarray
    scores: np.ndarray

    def of(self, member: str) -> list[tuple[str, float]]:
        row = self.members.index(member)
        return [
            (self.items[int(i)], float(s))
            for i, s in zip(self.index[row], self.scores[row], strict=True)
            if i >= 0
        ]


def recommend_matrix(
    model: Recommender, history: sp.csr_array, *, k: int, exclude_seen: bool, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """``top_k`` of the model's scores for a members x items history, in member chunks."""
    history = sp.csr_array(history)
    if history.shape[1] != len(model.items):
        raise ValueError(
            f"history has {history.shape[1]} item columns, the model {len(model.items)} items"
        )
    parts = []
    for first in range(0, history.shape[0], chunk):
        block = history[first : first + chunk]
        parts.append(top_k(model.scores(block), k=k, exclude=block if exclude_seen else None))
    if not parts:
        return np.zeros((0, k), np.int64), np.zeros((0, k))
    return np.vstack([p[0] for p in parts]), np.vstack([p[1] for p in parts])


def recommend_many(
    model: Recommender,
    history: Interactions,
    *,
    members: Sequence[str] | None = None,
    k: int = 10,
    exclude_seen: bool = False,
) -> Recommendations:
    """Top-k for many members at once (default: every member in ``history``).

    ``exclude_seen`` drops items the member bought in ``history``; items the model has
    never seen are ignored in the history and never recommended.
    """
    names, matrix = member_matrix(history, items=model.items, members=members)
    index, scores = recommend_matrix(model, matrix, k=k, exclude_seen=exclude_seen)
    return Recommendations(names, model.items, index, scores)


def recommend(
    model: Recommender,
    history: Interactions,
    member: str,
    *,
    k: int = 10,
    exclude_seen: bool = False,
) -> list[tuple[str, float]]:
    """Top-k (item, score) for one member: ``recommend_many`` for a single member."""
    return recommend_many(model, history, members=[member], k=k, exclude_seen=exclude_seen).of(
        member
    )


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why ``item`` scored ``score``: ``drivers`` (bought item, share), largest first, plus
    ``base`` (popularity; the part no purchase explains). ``sum(drivers) + base == score``."""

    item: str
    score: float
    base: float
    drivers: tuple[tuple[str, float], ...]


def explain(
    model: Recommender,
    history: Interactions,
    member: str,
    *,
    items: Sequence[str] | None = None,
    k: int = 10,
    exclude_seen: bool = False,
) -> list[Explanation]:
    """Explanations of ``items`` for ``member`` (default: their top-k recommendations)."""
    _, row = member_matrix(history, items=model.items, members=[member])
    if items is None:
        index, _ = recommend_matrix(model, row, k=k, exclude_seen=exclude_seen)
        targets = [int(i) for i in index[0] if i >= 0]
    else:
        found = positions(model.items, np.asarray(items, dtype=np.str_))
        if (found < 0).any():
            unknown = [it for it, f in zip(items, found, strict=True) if f < 0]
            raise ValueError(f"items unknown to model {model.version}: {unknown}")
        targets = found.tolist()
    bought, shares, base = model.contributions(row)
    out = []
    for j in targets:
        column = shares[:, j]
        order = np.argsort(-column, kind="stable")
        drivers = tuple(
            (model.items[int(bought[i])], float(column[i])) for i in order if column[i] != 0.0
        )
        out.append(
            Explanation(model.items[j], float(column.sum() + base[j]), float(base[j]), drivers)
        )
    return out
