"""Proposals: a change to the program waits, validated and summarised, for a second person.

Rules (each one a test in ``tests/agents``):

- an invalid change is refused with its issues and never stored;
- only a pending proposal can be decided, once;
- whoever proposed a change never approves it (four eyes);
- approving validates again and checks that the target still has the text it was proposed
  against (else ``Conflict``: propose again on top of the current text), then applies the
  change and marks the proposal approved with its audit entry in one transaction: when the
  change cannot be applied the proposal stays pending, and when the transaction fails the
  file is put back.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, RowMapping, insert, select, update
from sqlalchemy import text as sql

from nextbest.agents.changes import (
    CATALOGUE,
    InvalidChange,
    Issue,
    Undo,
    diff,
    kind_of,
    text_hash,
    validate,
)
from nextbest.config import Settings
from nextbest.decide.actions import Catalogue
from nextbest.errors import Conflict, Forbidden, NotFound
from nextbest.store import audit
from nextbest.store import tables as t
from nextbest.store.engine import is_postgres, write_transaction

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
STATUSES = (PENDING, APPROVED, REJECTED)
MAX_NOTE = 2000
# Two approvals of one target go one after the other, so the second sees the first's text
# and is refused as stale rather than overwriting it: in this process by this lock, across
# processes by SQLite's single writer or a PostgreSQL advisory lock on the target.
_APPLYING = threading.Lock()


@dataclass(frozen=True, slots=True)
class Proposal:
    proposal_id: str
    kind: str
    target: str
    summary: str  # the unified diff against the text it was proposed on
    text: str  # the proposed new text
    base_hash: str | None
    proposed_by: str
    proposed_at: datetime
    status: str
    decided_by: str | None
    decided_at: datetime | None
    note: str

    @property
    def pending(self) -> bool:
        return self.status == PENDING


@dataclass(frozen=True, slots=True)
class Approved:
    proposal: Proposal
    catalogue: Catalogue | None  # the new catalogue, when the change was to it


def _utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _proposal(row: RowMapping) -> Proposal:
    payload: dict[str, Any] = orjson.loads(row["payload"])
    proposed_at = _utc(row["proposed_at"])
    assert proposed_at is not None
    return Proposal(
        proposal_id=row["proposal_id"],
        kind=row["kind"],
        target=row["target"],
        summary=row["summary"],
        text=str(payload.get("text", "")),
        base_hash=row["base_hash"],
        proposed_by=row["proposed_by"],
        proposed_at=proposed_at,
        status=row["status"],
        decided_by=row["decided_by"],
        decided_at=_utc(row["decided_at"]),
        note=row["note"] or "",
    )


def _subject(proposal_id: str) -> str:
    return f"proposal:{proposal_id}"


def propose(
    db: Engine,
    settings: Settings,
    *,
    kind: str,
    target: str,
    text: str,
    actor: str,
    now: datetime | None = None,
) -> Proposal:
    """Store a valid change as pending; raises ``InvalidChange`` (nothing stored) otherwise."""
    now = now or datetime.now(UTC)
    issues = validate(settings, kind=kind, target=target, text=text)
    if issues:
        raise InvalidChange(issues)
    change = kind_of(kind)
    target = change.normal_target(target)
    current = change.current(settings, target)
    if current == text:
        raise InvalidChange([Issue(None, "text", "nothing changed: this is the current text")])
    proposal = Proposal(
        proposal_id=uuid.uuid4().hex,
        kind=kind,
        target=target,
        summary=diff(current, text, target=target),
        text=text,
        base_hash=text_hash(current),
        proposed_by=actor,
        proposed_at=now,
        status=PENDING,
        decided_by=None,
        decided_at=None,
        note="",
    )
    with write_transaction(db) as conn:
        conn.execute(
            insert(t.proposals).values(
                proposal_id=proposal.proposal_id,
                kind=kind,
                target=target,
                summary=proposal.summary,
                payload=orjson.dumps({"text": text}).decode(),
                base_hash=proposal.base_hash,
                proposed_by=actor,
                proposed_at=now,
                status=PENDING,
                note="",
            )
        )
        audit.record(
            conn,
            actor=actor,
            action="proposal_create",
            subject=_subject(proposal.proposal_id),
            detail={"kind": kind, "target": target, "base_hash": proposal.base_hash},
            at=now,
        )
    return proposal


def list_proposals(
    db: Engine, *, statuses: Sequence[str] | None = None, limit: int = 50
) -> list[Proposal]:
    """Newest first; only those in ``statuses`` when given."""
    p = t.proposals
    query = select(p).order_by(p.c.proposed_at.desc(), p.c.proposal_id).limit(limit)
    if statuses is not None:
        query = query.where(p.c.status.in_(list(statuses)))
    with db.connect() as conn:
        return [_proposal(r) for r in conn.execute(query).mappings()]


def get(db: Engine, proposal_id: str) -> Proposal:
    with db.connect() as conn:
        row = (
            conn.execute(select(t.proposals).where(t.proposals.c.proposal_id == proposal_id))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"no proposal {proposal_id!r}")
    return _proposal(row)


def _decidable(db: Engine, proposal_id: str) -> Proposal:
    proposal = get(db, proposal_id)
    if not proposal.pending:
        raise Conflict(
            f"proposal {proposal_id} is already {proposal.status}"
            + (f" by {proposal.decided_by}" if proposal.decided_by else "")
        )
    return proposal


def _lock_target(conn: Connection, kind: str, target: str) -> None:
    if is_postgres(conn.engine):
        digest = hashlib.sha256(f"proposal:{kind}:{target}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        conn.execute(sql("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _claim(
    conn: Connection, proposal_id: str, *, status: str, actor: str, note: str, at: datetime
) -> None:
    """Mark the proposal decided if it still is pending (a concurrent decision loses here)."""
    done = conn.execute(
        update(t.proposals)
        .where(t.proposals.c.proposal_id == proposal_id, t.proposals.c.status == PENDING)
        .values(status=status, decided_by=actor, decided_at=at, note=note)
    )
    if done.rowcount != 1:
        raise Conflict(f"proposal {proposal_id} was decided meanwhile")


def approve(
    db: Engine,
    settings: Settings,
    proposal_id: str,
    *,
    actor: str,
    note: str = "",
    now: datetime | None = None,
) -> Approved:
    """Apply a pending proposal someone else made; see the module's rules."""
    now = now or datetime.now(UTC)
    note = note.strip()[:MAX_NOTE]
    proposal = _decidable(db, proposal_id)
    if proposal.proposed_by == actor:
        raise Forbidden(f"{actor} proposed this change; another person must approve it (four eyes)")
    change = kind_of(proposal.kind)
    undo: Undo | None = None
    with _APPLYING:
        try:
            with write_transaction(db) as conn:
                _lock_target(conn, proposal.kind, proposal.target)
                _claim(conn, proposal_id, status=APPROVED, actor=actor, note=note, at=now)
                issues = validate(
                    settings, kind=proposal.kind, target=proposal.target, text=proposal.text
                )
                if issues:
                    raise InvalidChange(issues)
                if text_hash(change.current(settings, proposal.target)) != proposal.base_hash:
                    raise Conflict(
                        f"{proposal.kind} {proposal.target!r} changed since proposed; propose again"
                    )
                audit.record(
                    conn,
                    actor=actor,
                    action="proposal_approve",
                    subject=_subject(proposal_id),
                    detail={
                        "kind": proposal.kind,
                        "target": proposal.target,
                        "proposed_by": proposal.proposed_by,
                        "new_hash": text_hash(proposal.text),
                        "note": note,
                    },
                    at=now,
                )
                undo = change.apply(settings, proposal.target, proposal.text)
        except BaseException:
            if undo is not None:  # applied, but the transaction did not commit
                undo()
            raise
    catalogue = CATALOGUE.parse(proposal.text) if proposal.kind == CATALOGUE.name else None
    return Approved(proposal=get(db, proposal_id), catalogue=catalogue)


def reject(
    db: Engine,
    proposal_id: str,
    *,
    actor: str,
    note: str = "",
    now: datetime | None = None,
) -> Proposal:
    """Decline a pending proposal; nothing changes but its status (and the audit log)."""
    now = now or datetime.now(UTC)
    note = note.strip()[:MAX_NOTE]
    proposal = _decidable(db, proposal_id)
    with write_transaction(db) as conn:
        _claim(conn, proposal_id, status=REJECTED, actor=actor, note=note, at=now)
        audit.record(
            conn,
            actor=actor,
            action="proposal_reject",
            subject=_subject(proposal_id),
            detail={
                "kind": proposal.kind,
                "target": proposal.target,
                "proposed_by": proposal.proposed_by,
                "note": note,
            },
            at=now,
        )
    return get(db, proposal_id)
