"""Reads and writes of the identity graph (members, identifiers, merges)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, select, update

from nextbest.identity.graph import Resolution
from nextbest.store import tables as t
from nextbest.store.bulk import chunks, insert_rows


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive UTC timestamps; PostgreSQL aware ones."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def known_identifiers(conn: Connection, keys: Collection[str]) -> dict[str, str]:
    """identifier key -> current member, for the keys already in the graph."""
    found: dict[str, str] = {}
    ordered = sorted(keys)
    for part in chunks(ordered):
        rows = conn.execute(
            select(t.identifiers.c.key, t.identifiers.c.member_id).where(
                t.identifiers.c.key.in_(part)
            )
        )
        found.update({key: member for key, member in rows})
    return found


def first_seen(conn: Connection, member_ids: Collection[str]) -> dict[str, datetime]:
    out: dict[str, datetime] = {}
    for part in chunks(sorted(member_ids)):
        rows = conn.execute(
            select(t.members.c.member_id, t.members.c.first_seen_at).where(
                t.members.c.member_id.in_(part)
            )
        )
        out.update({m: as_utc(at) for m, at in rows})
    return out


def apply_resolution(conn: Connection, res: Resolution, *, now: datetime) -> None:
    """Record new members and identifiers, and fold merged members into survivors."""
    insert_rows(
        conn,
        t.members,
        ("member_id", "first_seen_at", "merged_into", "recorded_at"),
        [(m, at, None, now) for m, at in sorted(res.new_members.items())],
    )
    for member, at in res.first_seen_updates.items():
        conn.execute(
            update(t.members).where(t.members.c.member_id == member).values(first_seen_at=at)
        )
    if res.merges:
        pairs = [{"survivor": m.survivor_id, "merged": m.merged_id} for m in res.merges]
        # Re-point the merged member, anything merged into it earlier, and its identifiers,
        # so every lookup stays one hop.
        conn.execute(
            update(t.members)
            .where(t.members.c.merged_into == bindparam("merged"))
            .values(merged_into=bindparam("survivor")),
            pairs,
        )
        conn.execute(
            update(t.members)
            .where(t.members.c.member_id == bindparam("merged"))
            .values(merged_into=bindparam("survivor")),
            pairs,
        )
        conn.execute(
            update(t.identifiers)
            .where(t.identifiers.c.member_id == bindparam("merged"))
            .values(member_id=bindparam("survivor")),
            pairs,
        )
    insert_rows(
        conn,
        t.member_merges,
        ("survivor_id", "merged_id", "event_id", "identifier", "occurred_at", "recorded_at"),
        [
            (m.survivor_id, m.merged_id, m.event_id, m.identifier[:320], m.occurred_at, now)
            for m in res.merges
        ],
    )
    insert_rows(
        conn,
        t.identifiers,
        ("key", "kind", "member_id", "first_event_id", "first_seen_at"),
        [
            (i.key, i.key.split(":", 1)[0], i.member_id, i.event_id, i.occurred_at)
            for i in res.new_identifiers
        ],
    )


def current_member(conn: Connection, member_id: str) -> str | None:
    """Follow ``merged_into`` to the surviving member (one hop: merges re-point chains)."""
    row = conn.execute(
        select(t.members.c.member_id, t.members.c.merged_into).where(
            t.members.c.member_id == member_id
        )
    ).first()
    if row is None:
        return None
    return str(row.merged_into or row.member_id)
