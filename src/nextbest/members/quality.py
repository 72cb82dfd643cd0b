"""How right the probabilistic merges are, against a simulator's ground truth.

Each member (as events recorded it) stands for the person most of its events belong to. A
merge is correct when both sides stand for the same person. What linking could still do is
counted on the records it compares: current members with something to compare, several of
which stand for one person.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import Connection, Engine, text

from nextbest.members.records import linking_records


def majority_person(conn: Connection, truth_records: Path) -> dict[str, Any]:
    truth = pq.read_table(truth_records, columns=["event_id", "person_id"])
    person_of = dict(
        zip(
            truth.column("event_id").to_pylist(), truth.column("person_id").to_pylist(), strict=True
        )
    )
    counts: dict[str, Counter[Any]] = {}
    for event_id, member in conn.execute(
        text("SELECT event_id, member_id FROM events WHERE member_id IS NOT NULL")
    ):
        person = person_of.get(event_id)
        if person is not None:
            counts.setdefault(member, Counter())[person] += 1
    return {m: c.most_common(1)[0][0] for m, c in counts.items()}


def merge_quality(engine: Engine, truth_records: Path) -> dict[str, Any]:
    with engine.connect() as conn:
        person = majority_person(conn, truth_records)
        merges = conn.execute(
            text(
                "SELECT survivor_id, merged_id, kind FROM member_merges"
                " WHERE undone_at IS NULL AND kind <> 'deterministic'"
            )
        ).all()
        records = linking_records(conn)
        pending = conn.execute(
            text("SELECT left_member, right_member FROM link_candidates WHERE status = 'pending'")
        ).all()
    # The original members behind each current one, for merges made earlier.
    correct = sum(
        1 for s, m, _ in merges if person.get(s) is not None and person.get(s) == person.get(m)
    )
    # Pairs of one person's members that share at least one field to compare: the ones a
    # linker could have found (a phone-only fragment and a member without a phone cannot).
    groups: dict[Any, list[frozenset[str]]] = {}
    for row in records.to_pylist():
        if row["member_id"] in person:
            filled = frozenset(k for k, v in row.items() if v is not None and k != "member_id")
            groups.setdefault(person[row["member_id"]], []).append(filled)
    missed = sum(
        1
        for fields in groups.values()
        for i, a in enumerate(fields)
        for b in fields[i + 1 :]
        if a & b
    )
    queue_correct = sum(
        1 for a, b in pending if person.get(a) is not None and person.get(a) == person.get(b)
    )
    merged = len(merges)
    return {
        "merges": merged,
        "merges_correct": correct,
        "merge_precision": correct / merged if merged else None,
        "comparable_same_person_pairs_left": missed,
        "merge_recall": correct / (correct + missed) if correct + missed else None,
        "review_queue": len(pending),
        "review_queue_same_person": queue_correct,
    }
