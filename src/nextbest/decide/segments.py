"""Members of a segment, as the scoring job labelled or valued them, for batch decisions."""

from __future__ import annotations

from sqlalchemy import Connection, select

from nextbest.store import tables as t


def segment_members(
    conn: Connection,
    *,
    score: str,
    label: str | None = None,
    low: float | None = None,
    high: float | None = None,
    limit: int = 1000,
) -> list[str]:
    """Member ids whose ``score`` has ``label`` and/or lies in [low, high], in id order."""
    s = t.member_scores
    query = select(s.c.member_id).where(s.c.name == score)
    if label is not None:
        query = query.where(s.c.label == label)
    if low is not None:
        query = query.where(s.c.value >= low)
    if high is not None:
        query = query.where(s.c.value <= high)
    return list(conn.execute(query.order_by(s.c.member_id).limit(limit)).scalars())
