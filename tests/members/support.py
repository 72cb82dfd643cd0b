"""Snapshots of everything a merge and an unmerge touch, for before/after comparisons."""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import Engine

from nextbest.identity.repository import as_utc
from nextbest.store import tables as t


def snapshot(engine: Engine, prefix: str) -> dict[str, Any]:
    """Members, identifiers, event owners, profile states and points of one test's data."""
    with engine.connect() as conn:
        keys = conn.execute(
            sa.select(
                t.identifiers.c.key, t.identifiers.c.member_id, t.identifiers.c.shared_at
            ).where(sa.func.lower(t.identifiers.c.key).like(f"%{prefix.lower()}%"))
        ).all()
        members = {m for _, m, _ in keys}
        member_rows = conn.execute(
            sa.select(t.members).where(
                sa.or_(t.members.c.member_id.in_(members), t.members.c.merged_into.in_(members))
            )
        ).all()
        all_members = {r.member_id for r in member_rows}
        events = conn.execute(
            sa.select(t.events.c.event_id, t.events.c.member_id).where(
                t.events.c.event_id.like(f"{prefix}%")
            )
        ).all()
        points = conn.execute(
            sa.select(
                t.ledger_accounts.c.member_id,
                t.ledger_accounts.c.currency,
                t.ledger_accounts.c.balance,
            ).where(t.ledger_accounts.c.member_id.in_(all_members))
        ).all()
        lots = conn.execute(
            sa.select(
                t.ledger_lots.c.lot_id, t.ledger_lots.c.member_id, t.ledger_lots.c.remaining
            ).where(t.ledger_lots.c.member_id.in_(all_members))
        ).all()
        profiles = conn.execute(
            sa.select(t.profiles.c.member_id, t.profiles.c.state).where(
                t.profiles.c.member_id.in_(all_members)
            )
        ).all()
    return {
        "identifiers": sorted((k, m, s is not None) for k, m, s in keys),
        "members": sorted(
            (r.member_id, r.merged_into, as_utc(r.first_seen_at)) for r in member_rows
        ),
        "events": sorted((e, m) for e, m in events),
        "profiles": {m: orjson.loads(s) for m, s in profiles},
        # Points: non-zero balances and who holds each lot with what left in it.
        "points": sorted((m, c, b) for m, c, b in points if b),
        "lots": sorted((lot, m, left) for lot, m, left in lots if left),
    }
