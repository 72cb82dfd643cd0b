"""The review queue: probable links a person accepts (merge) or rejects (never proposed again)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, select, update

from nextbest.errors import Conflict, NotFound
from nextbest.identity.repository import current_member
from nextbest.members.merge import Evidence, merge_members
from nextbest.store import audit
from nextbest.store import tables as t
from nextbest.store.engine import graph_transaction

STATUSES = ("pending", "accepted", "rejected", "merged", "blocked")


@dataclass(frozen=True, slots=True)
class Candidate:
    candidate_id: int
    left_member: str
    right_member: str
    match_probability: float
    match_weight: float
    weights: dict[str, float]
    model_version: str
    status: str
    created_at: datetime
    decided_by: str | None
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidate_id": self.candidate_id,
            "left_member": self.left_member,
            "right_member": self.right_member,
            "match_probability": self.match_probability,
            "match_weight": self.match_weight,
            "weights": self.weights,
            "model_version": self.model_version,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "decided_by": self.decided_by,
            "note": self.note,
        }


def _candidate(row: Any) -> Candidate:
    created = row.created_at
    return Candidate(
        candidate_id=row.candidate_id,
        left_member=row.left_member,
        right_member=row.right_member,
        match_probability=row.match_probability,
        match_weight=row.match_weight,
        weights=orjson.loads(row.explanation),
        model_version=row.model_version,
        status=row.status,
        created_at=created.replace(tzinfo=UTC) if created.tzinfo is None else created,
        decided_by=row.decided_by,
        note=row.note,
    )


def candidates(conn: Connection, *, status: str = "pending", limit: int = 50) -> list[Candidate]:
    """Most probable first."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; known: {', '.join(STATUSES)}")
    c = t.link_candidates
    rows = conn.execute(
        select(c)
        .where(c.c.status == status)
        .order_by(c.c.match_probability.desc(), c.c.candidate_id)
        .limit(limit)
    )
    return [_candidate(r) for r in rows]


def get(conn: Connection, candidate_id: int) -> Candidate:
    row = conn.execute(
        select(t.link_candidates).where(t.link_candidates.c.candidate_id == candidate_id)
    ).first()
    if row is None:
        raise NotFound(f"link candidate {candidate_id} does not exist")
    return _candidate(row)


def decide(
    engine: Engine,
    candidate_id: int,
    *,
    accept: bool,
    actor: str,
    note: str = "",
    now: datetime | None = None,
) -> Candidate:
    """Accept (the members merge, explained by the link) or reject (never proposed again)."""
    now = now or datetime.now(UTC)
    with graph_transaction(engine) as conn:
        cand = get(conn, candidate_id)
        if cand.status != "pending":
            raise Conflict(f"link candidate {candidate_id} is {cand.status}, not pending")
        status = "accepted" if accept else "rejected"
        if accept:
            left = current_member(conn, cand.left_member)
            right = current_member(conn, cand.right_member)
            if left is None or right is None:
                raise NotFound(f"a member of link candidate {candidate_id} no longer exists")
            if left != right:
                merge_members(
                    conn,
                    left,
                    right,
                    kind="reviewed",
                    evidence=Evidence(
                        cand.match_probability,
                        cand.weights,
                        cand.model_version,
                        reason=f"accepted by {actor}" + (f": {note}" if note else ""),
                    ),
                    actor=actor,
                    now=now,
                )
        conn.execute(
            update(t.link_candidates)
            .where(t.link_candidates.c.candidate_id == candidate_id)
            .values(status=status, decided_at=now, decided_by=actor, note=note or None)
        )
        audit.record(
            conn,
            actor=actor,
            action=f"link_{status}",
            subject=cand.left_member,
            detail={
                "candidate_id": candidate_id,
                "right_member": cand.right_member,
                "probability": cand.match_probability,
                "note": note,
            },
            at=now,
        )
        return get(conn, candidate_id)
