"""Identity quality of a database against a simulator's ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import Engine

from nextbest.identity.evaluate import pair_scores


def identity_quality(engine: Engine, truth_records: Path) -> dict[str, Any]:
    """Pairwise precision/recall of members vs true persons, plus anonymous share."""
    truth = pq.read_table(truth_records, columns=["event_id", "person_id"])
    person_of = dict(
        zip(
            truth.column("event_id").to_pylist(), truth.column("person_id").to_pylist(), strict=True
        )
    )
    sql = (
        "SELECT e.event_id, COALESCE(m.merged_into, e.member_id) FROM events e "
        "LEFT JOIN members m ON m.member_id = e.member_id"
    )
    pairs: list[tuple[str, Any]] = []
    anonymous = unknown = 0
    with engine.connect() as conn:
        for event_id, member in conn.exec_driver_sql(sql):
            person = person_of.get(event_id)
            if person is None:
                unknown += 1
            elif member is None:
                anonymous += 1
            else:
                pairs.append((member, person))
    scores = pair_scores(pairs).to_dict()
    total = len(pairs) + anonymous
    scores.update(
        anonymous_events=anonymous,
        anonymous_share=anonymous / total if total else 0.0,
        events_without_truth=unknown,
    )
    return scores
