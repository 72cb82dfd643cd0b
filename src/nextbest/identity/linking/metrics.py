"""Pairwise precision, recall and F1 against a known truth (which records are one entity)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True, slots=True)
class PairScores:
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall, "f1": self.f1}


def _pairs_within(counts: pa.Array) -> int:
    c = pc.cast(counts, pa.int64())
    return int(pc.sum(pc.divide(pc.multiply(c, pc.subtract(c, 1)), 2)).as_py() or 0)


def cluster_scores(clusters: pa.Table, truth: pa.Table) -> PairScores:
    """Score ``record_id, cluster_id`` against ``record_id, entity``.

    >>> clusters = pa.table({"record_id": ["a", "b", "c"], "cluster_id": ["a", "a", "a"]})
    >>> truth = pa.table({"record_id": ["a", "b", "c"], "entity": ["1", "1", "2"]})
    >>> s = cluster_scores(clusters, truth); (s.precision, s.recall)
    (0.3333333333333333, 1.0)
    """
    joined = clusters.join(truth, "record_id")
    if joined.num_rows != truth.num_rows:
        raise ValueError(f"{truth.num_rows - joined.num_rows} record(s) of the truth unclustered")
    both = joined.group_by(["cluster_id", "entity"]).aggregate([("record_id", "count")])
    predicted = clusters.group_by("cluster_id").aggregate([("record_id", "count")])
    true = truth.group_by("entity").aggregate([("record_id", "count")])
    return PairScores(
        true_pairs=_pairs_within(true["record_id_count"]),
        predicted_pairs=_pairs_within(predicted["record_id_count"]),
        correct_pairs=_pairs_within(both["record_id_count"]),
    )


def link_scores(
    pairs: pa.Table, left_truth: pa.Table, right_truth: pa.Table, *, dedupe: bool = False
) -> PairScores:
    """Score pairs ``left_id, right_id`` against ``record_id, entity`` tables of each side.

    With ``dedupe`` both tables are the same and a pair counts once whatever its order.

    >>> truth = pa.table({"record_id": ["a", "b"], "entity": ["1", "1"]})
    >>> other = pa.table({"record_id": ["x", "y"], "entity": ["1", "2"]})
    >>> pairs = pa.table({"left_id": ["a", "a"], "right_id": ["x", "y"]})
    >>> s = link_scores(pairs, truth, other); (s.true_pairs, s.predicted_pairs, s.correct_pairs)
    (2, 2, 1)
    """
    left = left_truth.rename_columns(["left_id", "left_entity"])
    right = right_truth.rename_columns(["right_id", "right_entity"])
    joined = pairs.select(["left_id", "right_id"]).join(left, "left_id").join(right, "right_id")
    correct = int(pc.sum(pc.equal(joined["left_entity"], joined["right_entity"])).as_py() or 0)
    if dedupe:
        true = _pairs_within(
            left_truth.group_by("entity").aggregate([("record_id", "count")])["record_id_count"]
        )
    else:
        lc = left_truth.group_by("entity").aggregate([("record_id", "count")])
        rc = right_truth.group_by("entity").aggregate([("record_id", "count")])
        both = lc.join(rc, "entity", left_suffix="_l", right_suffix="_r")
        true = int(
            pc.sum(pc.multiply(both["record_id_count_l"], both["record_id_count_r"])).as_py() or 0
        )
    return PairScores(true_pairs=true, predicted_pairs=pairs.num_rows, correct_pairs=correct)
