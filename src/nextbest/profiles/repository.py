"""Loading and saving profile states."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime

import orjson
from sqlalchemy import Connection, delete

from nextbest.profiles.state import ProfileState
from nextbest.store import tables as t
from nextbest.store.bulk import chunks, select_in, upsert_rows

COLUMNS = (
    "member_id",
    "version",
    "event_count",
    "purchase_count",
    "spend",
    "first_purchase_at",
    "last_purchase_at",
    "last_event_at",
    "state",
    "updated_at",
)


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def load_states(
    conn: Connection, member_ids: Collection[str]
) -> dict[str, tuple[int, ProfileState]]:
    """member -> (version, state) for members that have a profile."""
    rows = select_in(
        conn, "SELECT member_id, version, state FROM profiles WHERE member_id IN {in}", member_ids
    )
    return {
        member: (version, ProfileState.from_dict(orjson.loads(state)))
        for member, version, state in rows
    }


def save_states(
    conn: Connection, states: Mapping[str, tuple[int, ProfileState]], *, now: datetime
) -> None:
    rows = [
        (
            member,
            version,
            s.event_count,
            s.purchase_count,
            s.spend,
            _ts(s.first_purchase_at),
            _ts(s.last_purchase_at),
            _ts(s.last_event_at),
            orjson.dumps(s.to_dict()).decode(),
            now,
        )
        for member, (version, s) in states.items()
    ]
    upsert_rows(conn, t.profiles, COLUMNS, rows, key=("member_id",))


def delete_states(conn: Connection, member_ids: Collection[str]) -> None:
    for part in chunks(sorted(member_ids)):
        conn.execute(delete(t.profiles).where(t.profiles.c.member_id.in_(part)))
