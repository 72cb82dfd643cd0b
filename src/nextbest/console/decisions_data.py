"""The decision log as the console reads it: a filtered, keyset-paged list and one
decision with its explanation (no HTTP here).

The list reads only indexed columns (member, action, time) and never parses the JSON
records, so it stays quick on a long log; one decision's record is parsed when opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import Engine

from nextbest.errors import NotFound
from nextbest.identity.hashing import KeyHasher
from nextbest.profiles.read import resolve_member
from nextbest.store import tables as t

PAGE = 50


@dataclass(frozen=True, slots=True)
class DecisionRow:
    decision_id: str
    member_id: str
    decided_at: datetime
    action_id: str
    channel: str | None
    propensity: float
    holdout: bool
    contacted: bool
    reward: float | None
    catalogue_version: str


@dataclass(frozen=True, slots=True)
class DecisionPage:
    rows: list[DecisionRow]
    member_id: str | None  # the member the search resolved to
    older: str | None  # ``decided_at|decision_id`` of the last row, when more follow
    actions: list[str]  # every action id in the log, for the filter


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def search(
    engine: Engine,
    *,
    member: str | None = None,
    action: str | None = None,
    contacted_only: bool = False,
    before: str | None = None,
    region: str = "US",
    hasher: KeyHasher | None = None,
    limit: int = PAGE,
) -> DecisionPage:
    """Newest first. ``member`` is any identifier (NotFound if it names nobody); ``before``
    the ``older`` cursor of the previous page."""
    d = t.decisions
    query = sa.select(
        d.c.decision_id,
        d.c.member_id,
        d.c.decided_at,
        d.c.action_id,
        d.c.channel,
        d.c.propensity,
        d.c.holdout,
        d.c.contacted,
        d.c.reward,
        d.c.catalogue_version,
    ).order_by(d.c.decided_at.desc(), d.c.decision_id.desc())
    with engine.connect() as conn:
        member_id = resolve_member(conn, member, region=region, hasher=hasher) if member else None
        if member_id is not None:
            query = query.where(d.c.member_id == member_id)
        if action:
            query = query.where(d.c.action_id == action)
        if contacted_only:
            query = query.where(d.c.contacted == 1)
        if before:
            at_text, _, last_id = before.partition("|")
            try:
                at = datetime.fromisoformat(at_text)
            except ValueError:
                raise NotFound(f"bad page cursor {before!r}") from None
            query = query.where(
                sa.or_(
                    d.c.decided_at < at,
                    sa.and_(d.c.decided_at == at, d.c.decision_id < last_id),
                )
            )
        rows = conn.execute(query.limit(limit + 1)).all()
        actions = list(
            conn.execute(sa.select(d.c.action_id).distinct().order_by(d.c.action_id)).scalars()
        )
    out = [
        DecisionRow(
            decision_id=r.decision_id,
            member_id=r.member_id,
            decided_at=_utc(r.decided_at),
            action_id=r.action_id,
            channel=r.channel,
            propensity=r.propensity,
            holdout=bool(r.holdout),
            contacted=bool(r.contacted),
            reward=r.reward,
            catalogue_version=r.catalogue_version,
        )
        for r in rows[:limit]
    ]
    older = None
    if len(rows) > limit:
        last = out[-1]
        older = f"{last.decided_at.isoformat()}|{last.decision_id}"
    return DecisionPage(rows=out, member_id=member_id, older=older, actions=actions)


def decision(engine: Engine, decision_id: str) -> dict[str, Any]:
    """One logged decision with its parsed record and credited outcomes; NotFound."""
    with engine.connect() as conn:
        row = (
            conn.execute(sa.select(t.decisions).where(t.decisions.c.decision_id == decision_id))
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"no decision {decision_id!r}")
        outcomes = (
            conn.execute(
                sa.select(t.decision_outcomes)
                .where(t.decision_outcomes.c.decision_id == decision_id)
                .order_by(t.decision_outcomes.c.occurred_at)
            )
            .mappings()
            .all()
        )
    out = dict(row)
    out["record"] = orjson.loads(out["record"])
    out["decided_at"] = _utc(out["decided_at"])
    out["outcomes"] = [dict(o) for o in outcomes]
    response = out["record"].get("response") or {}
    out["explanation"] = response.get("explanation") or {}
    out["action"] = response.get("action") or {"id": out["action_id"]}
    out["model_versions"] = response.get("model_versions") or {}
    out["experiments"] = response.get("experiments") or {}
    candidates = out["record"].get("candidates") or []
    # Scored candidates first, best first; the ineligible (never scored) after them.
    out["candidates"] = sorted(
        candidates,
        key=lambda c: (c.get("score") is None, -float(c.get("score") or 0.0)),
    )
    return out
