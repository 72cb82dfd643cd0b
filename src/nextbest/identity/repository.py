"""Reads and writes of the identity graph (members, identifiers, merges)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from nextbest.identity.graph import Resolution
from nextbest.store import tables as t
from nextbest.store.bulk import execute_many, insert_rows, select_in


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive UTC timestamps; PostgreSQL aware ones."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(slots=True)
class KnownKeys:
    """What the graph already knows about a batch's keys."""

    members: dict[str, str] = field(default_factory=dict)  # key -> current member
    anchors: dict[str, tuple[str, ...]] = field(default_factory=dict)  # shareable keys
    shared: set[str] = field(default_factory=set)


def known_keys(conn: Connection, keys: Collection[str]) -> KnownKeys:
    rows = select_in(
        conn,
        "SELECT key, member_id, anchors, shared_at FROM identifiers WHERE key IN {in}",
        keys,
    )
    known = KnownKeys()
    for key, member, anchors, shared_at in rows:
        known.members[key] = member
        if anchors:
            known.anchors[key] = tuple(anchors.split(" "))
        if shared_at is not None:
            known.shared.add(key)
    return known


def first_seen(conn: Connection, member_ids: Collection[str]) -> dict[str, datetime]:
    rows = select_in(
        conn, "SELECT member_id, first_seen_at FROM members WHERE member_id IN {in}", member_ids
    )
    return {m: _parse_time(at) for m, at in rows}


def _parse_time(value: datetime | str) -> datetime:
    # Raw SQLite rows hold timestamp text (``utc_text``); PostgreSQL rows hold datetimes.
    return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def apply_resolution(conn: Connection, res: Resolution, *, now: datetime) -> None:
    """Record new members and identifiers, and fold merged members into survivors."""
    insert_rows(
        conn,
        t.members,
        ("member_id", "first_seen_at", "merged_into", "recorded_at"),
        [(m, at, None, now) for m, at in sorted(res.new_members.items())],
    )
    execute_many(
        conn,
        "UPDATE members SET first_seen_at = ? WHERE member_id = ?",
        [(at, member) for member, at in res.first_seen_updates.items()],
    )
    fold_members(conn, [(m.survivor_id, m.merged_id) for m in res.merges])
    insert_rows(
        conn,
        t.member_merges,
        ("survivor_id", "merged_id", "event_id", "identifier", "occurred_at", "recorded_at"),
        [
            (m.survivor_id, m.merged_id, m.event_id, m.identifier[:320], m.occurred_at, now)
            for m in res.merges
        ],
    )
    new_keys = {i.key for i in res.new_identifiers}
    insert_rows(
        conn,
        t.identifiers,
        ("key", "kind", "member_id", "first_event_id", "first_seen_at", "anchors"),
        [
            (
                i.key,
                i.key.split(":", 1)[0],
                i.member_id,
                i.event_id,
                i.occurred_at,
                _anchor_text(res.anchor_updates.get(i.key)),
            )
            for i in res.new_identifiers
        ],
    )
    execute_many(
        conn,
        "UPDATE identifiers SET anchors = ? WHERE key = ?",
        [(_anchor_text(a), k) for k, a in res.anchor_updates.items() if k not in new_keys],
    )
    execute_many(
        conn,
        "UPDATE identifiers SET shared_at = ? WHERE key = ?",
        [(s.occurred_at, s.key) for s in res.newly_shared],
    )


def fold_members(conn: Connection, pairs: list[tuple[str, str]]) -> None:
    """Fold each ``(survivor, merged)``: re-point the merged member, anything merged into it
    earlier, and its identifiers, so every lookup stays one hop."""
    execute_many(conn, "UPDATE members SET merged_into = ? WHERE merged_into = ?", pairs)
    execute_many(conn, "UPDATE members SET merged_into = ? WHERE member_id = ?", pairs)
    execute_many(conn, "UPDATE identifiers SET member_id = ? WHERE member_id = ?", pairs)


def _anchor_text(anchors: tuple[str, ...] | None) -> str | None:
    # Anchor keys are normalised identifiers: they hold no spaces.
    return " ".join(anchors) if anchors else None


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
