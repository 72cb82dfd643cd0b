"""Identity coverage, look-alike members and refusal groups from plain facts (no IO).

The store (SQL reads) and raw files (resolved in memory) both reduce to ``GraphFacts``;
the figures are computed here once for both.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from nextbest.audit.model import IdentityCoverage, Lookalikes, Refusals

EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class GraphFacts:
    """What the identity graph holds, reduced to counts."""

    members: int
    kind_members: dict[str, int]  # identifier kind -> current members holding one
    per_member: dict[int, int]  # identifiers held -> members holding that many
    reachable: int  # members holding an email or a phone
    merged_members: int | None = None
    merges: int | None = None


def percentile(histogram: Mapping[int, int], q: float) -> float:
    """The ``q`` quantile (lower value) of values given as {value: how many}.

    >>> percentile({1: 5, 2: 3, 7: 2}, 0.5), percentile({1: 5, 2: 3, 7: 2}, 0.9)
    (1.0, 7.0)
    """
    total = sum(histogram.values())
    if not total:
        return 0.0
    rank = q * (total - 1)
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen > rank:
            return float(value)
    return float(max(histogram))


def coverage(
    facts: GraphFacts, *, multi_source_members: int, stated: dict[str, int]
) -> IdentityCoverage:
    held = sum(n * count for n, count in facts.per_member.items())
    members = sum(facts.per_member.values())
    return IdentityCoverage(
        members=facts.members,
        with_kind=dict(sorted(facts.kind_members.items())),
        identifiers=held,
        identifiers_per_member={
            "mean": held / members if members else 0.0,
            "p50": percentile(facts.per_member, 0.5),
            "p90": percentile(facts.per_member, 0.9),
            "max": float(max(facts.per_member, default=0)),
        },
        multi_source_members=multi_source_members,
        reachable=facts.reachable,
        stated=stated,
        merged_members=facts.merged_members,
        merges=facts.merges,
    )


def lookalikes(
    groups: Sequence[tuple[str, ...]], keys_of: Mapping[str, Iterable[str]]
) -> Lookalikes:
    """Summarise look-alike groups; a kind *disagrees* when two members hold different ones.

    >>> keys = {"m1": ["email:a@x.io", "pos_card:1"], "m2": ["email:b@x.io"]}
    >>> found = lookalikes([("m1", "m2")], keys)
    >>> found.groups, found.members, found.disagreeing
    (1, 2, {'email': 1})
    """
    disagreeing: Counter[str] = Counter()
    for group in groups:
        by_kind: dict[str, set[frozenset[str]]] = {}
        for member in group:
            per_kind: dict[str, set[str]] = {}
            for key in keys_of.get(member, ()):
                per_kind.setdefault(key.split(":", 1)[0], set()).add(key)
            for kind, values in per_kind.items():
                by_kind.setdefault(kind, set()).add(frozenset(values))
        disagreeing.update(kind for kind, sets in by_kind.items() if len(sets) > 1)
    return Lookalikes(
        groups=len(groups),
        members=sum(len(g) for g in groups),
        disagreeing=dict(sorted(disagreeing.items(), key=lambda kv: (-kv[1], kv[0]))),
        examples=tuple(groups[:EXAMPLES]),
    )


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_STAMP = re.compile(r"\d{4}-\d\d-\d\d[T ][\d:.]+(?:[+-]\d\d:\d\d|Z)?")
_NUMBER = re.compile(r"\d+\.\d+|\d{4,}")  # amounts and long numbers, not "at most 200"


def reason_pattern(reason: str) -> str:
    """A refusal reason with its values blanked, so that like reasons group together.

    >>> reason_pattern("identifiers.email: Value error, not an email address: 'bob@'")
    'identifiers.email: Value error, not an email address: …'
    >>> reason_pattern("in the future (2027-01-01T00:00:00+00:00 > now 2026-11-23T10:00:00Z)")
    'in the future (… > now …)'
    """
    text = _QUOTED.sub("…", reason)
    text = _STAMP.sub("…", text)
    return _NUMBER.sub("…", text)


def refusals(rows: Iterable[tuple[str, str, int]], *, top: int = 10) -> Refusals:
    """Group (field, reason, count) rows by field and reason pattern."""
    by_reason: Counter[tuple[str, str]] = Counter()
    by_field: Counter[str] = Counter()
    for field, reason, count in rows:
        by_reason[(field, reason_pattern(reason))] += count
        by_field[field] += count
    return Refusals(
        total=sum(by_field.values()),
        by_field=dict(by_field.most_common()),
        top=tuple((f, r, n) for (f, r), n in by_reason.most_common(top)),
    )
