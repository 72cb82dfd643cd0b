"""How well the identity graph matches the truth: pairwise precision, recall and F1.

Over events tied to a member, a pair of events is *predicted* linked when both resolve to
one member and *truly* linked when one person produced both. Counting pairs through the
contingency table (sum of C(n, 2)) keeps this linear in the number of events.

>>> s = pair_scores([("m1", "p1"), ("m1", "p1"), ("m1", "p2"), ("m2", "p2")])
>>> round(s.precision, 3), round(s.recall, 3)
(0.333, 0.5)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


@dataclass(frozen=True, slots=True)
class PairScores:
    events: int
    members: int
    persons: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    persons_split: int  # persons whose events landed on more than one member
    members_mixed: int  # members holding events of more than one person

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

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(precision=self.precision, recall=self.recall, f1=self.f1)
        return out


def pair_scores(assignments: Iterable[tuple[str, Any]]) -> PairScores:
    """Scores from (predicted member, true person) per event."""
    cells: Counter[tuple[str, Any]] = Counter(assignments)
    by_member: Counter[str] = Counter()
    by_person: Counter[Any] = Counter()
    members_of: dict[Any, int] = Counter()
    persons_of: dict[str, int] = Counter()
    for (member, person), n in cells.items():
        by_member[member] += n
        by_person[person] += n
        members_of[person] += 1
        persons_of[member] += 1
    return PairScores(
        events=sum(cells.values()),
        members=len(by_member),
        persons=len(by_person),
        true_pairs=sum(_pairs(n) for n in by_person.values()),
        predicted_pairs=sum(_pairs(n) for n in by_member.values()),
        correct_pairs=sum(_pairs(n) for n in cells.values()),
        persons_split=sum(1 for k in members_of.values() if k > 1),
        members_mixed=sum(1 for k in persons_of.values() if k > 1),
    )
