"""Reads of the operational store the audit needs (SQLAlchemy; SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Engine, func, select

from nextbest.audit.coverage import GraphFacts
from nextbest.store import tables as t
from nextbest.store.bulk import select_in


def merged_members(engine: Engine) -> dict[str, str]:
    """merged member -> the member it now belongs to (one hop: merges re-point chains)."""
    query = select(t.members.c.member_id, t.members.c.merged_into).where(
        t.members.c.merged_into.is_not(None)
    )
    with engine.connect() as conn:
        return {str(m): str(s) for m, s in conn.execute(query)}


def graph_facts(engine: Engine) -> GraphFacts:
    m, i = t.members, t.identifiers
    held = select(i.c.member_id, func.count().label("n")).group_by(i.c.member_id).subquery()
    with engine.connect() as conn:
        members = conn.scalar(select(func.count()).where(m.c.merged_into.is_(None))) or 0
        merged = conn.scalar(select(func.count()).where(m.c.merged_into.is_not(None))) or 0
        merges = conn.scalar(select(func.count()).select_from(t.member_merges)) or 0
        kinds = conn.execute(
            select(i.c.kind, func.count(func.distinct(i.c.member_id))).group_by(i.c.kind)
        ).all()
        reachable = conn.scalar(
            select(func.count(func.distinct(i.c.member_id))).where(i.c.kind.in_(("email", "phone")))
        )
        per_member = conn.execute(
            select(held.c.n, func.count()).group_by(held.c.n).order_by(held.c.n)
        ).all()
    return GraphFacts(
        members=int(members),
        kind_members={str(k): int(n) for k, n in kinds},
        per_member={int(n): int(c) for n, c in per_member},
        reachable=int(reachable or 0),
        merged_members=int(merged),
        merges=int(merges),
    )


def member_keys(engine: Engine, member_ids: Collection[str]) -> dict[str, list[str]]:
    """The identifier keys each of these (current) members holds."""
    out: dict[str, list[str]] = {}
    with engine.connect() as conn:
        rows = select_in(
            conn, "SELECT member_id, key FROM identifiers WHERE member_id IN {in}", member_ids
        )
    for member, key in rows:
        out.setdefault(str(member), []).append(str(key))
    return out


def dead_letter_counts(engine: Engine) -> list[tuple[str, str, int]]:
    d = t.dead_letters
    query = select(d.c.field, d.c.reason, func.count()).group_by(d.c.field, d.c.reason)
    with engine.connect() as conn:
        return [(str(f), str(r), int(n)) for f, r, n in conn.execute(query)]
