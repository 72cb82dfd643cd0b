"""Merging two members on evidence other than a shared identifier.

A probabilistic link, or a person accepting one in the review queue, folds one member into
the other exactly as the deterministic graph would (the earlier-seen member survives,
identifiers and merged members re-point to it, profiles combine), and records the merge with
its evidence: the match probability and each field's match weight.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import Connection, insert

from nextbest.errors import Conflict, NotFound
from nextbest.identity.repository import current_member, first_seen, fold_members
from nextbest.ledger.members import follow_merge
from nextbest.profiles.repository import delete_states, load_states, save_states
from nextbest.store import audit
from nextbest.store import tables as t

KINDS = ("probabilistic", "reviewed", "manual")


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why two members are one person: a probability and per-field match weights (log2)."""

    probability: float | None = None
    weights: Mapping[str, float] | None = None
    model_version: str | None = None
    reason: str = ""

    def summary(self) -> str:
        """One line for the merge history.

        >>> Evidence(0.998, {"last_name": 9.1, "email": -2.0}).summary()
        'p=0.9980; last_name +9.1, email -2.0'
        """
        parts = []
        if self.probability is not None:
            parts.append(f"p={self.probability:.4f}")
        if self.weights:
            # Fields that were missing on a side weigh nothing: leave them out.
            ranked = sorted(
                ((k, w) for k, w in self.weights.items() if abs(w) >= 0.05),
                key=lambda kv: -abs(kv[1]),
            )
            parts.append(", ".join(f"{name} {w:+.1f}" for name, w in ranked))
        if self.reason:
            parts.append(self.reason)
        return "; ".join(parts)


def merge_members(
    conn: Connection,
    a: str,
    b: str,
    *,
    kind: str,
    evidence: Evidence,
    actor: str,
    now: datetime,
) -> tuple[str, str]:
    """Fold the later-seen of two current members into the other; returns (survivor, merged).

    Runs in the caller's graph transaction.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown merge kind {kind!r}; known: {', '.join(KINDS)}")
    current = {m: current_member(conn, m) for m in (a, b)}
    for member, now_member in current.items():
        if now_member is None:
            raise NotFound(f"member {member!r} does not exist")
        if now_member != member:
            raise Conflict(f"member {member!r} was merged into {now_member!r}; link that one")
    if a == b:
        raise Conflict(f"member {a!r} cannot be merged with itself")
    seen = first_seen(conn, {a, b})
    survivor, merged = sorted((a, b), key=lambda m: (seen[m], m))
    fold_members(conn, [(survivor, merged)])
    explanation = {
        "model_version": evidence.model_version,
        "weights": dict(evidence.weights or {}),
        "reason": evidence.reason,
    }
    conn.execute(
        insert(t.member_merges).values(
            survivor_id=survivor,
            merged_id=merged,
            event_id=None,
            identifier=f"{kind}: {evidence.summary()}"[:320],
            occurred_at=now,
            recorded_at=now,
            kind=kind,
            match_probability=evidence.probability,
            explanation=orjson.dumps(explanation).decode(),
        )
    )
    states = load_states(conn, {survivor, merged})
    if merged in states:
        version, state = states.get(survivor) or (0, None)
        if state is None:
            state = states[merged][1]
        else:
            state.merge(states[merged][1])
        save_states(conn, {survivor: (version + 1, state)}, now=now)
        delete_states(conn, {merged})
    points = follow_merge(
        conn, merged=merged, survivor=survivor, at=now, reason=f"{kind} merge", actor=actor
    )
    audit.record(
        conn,
        actor=actor,
        action="merge",
        subject=merged,
        detail={
            "survivor": survivor,
            "merged": merged,
            "kind": kind,
            **explanation,
            "probability": evidence.probability,
            "points_moved": points,
        },
        at=now,
    )
    return survivor, merged
