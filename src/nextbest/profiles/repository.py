"""Loading and saving profile states."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime

import orjson
from sqlalchemy import Connection, delete

from nextbest.profiles.state import ProfileState
from nextbest.store import tables as t
from nextbest.store.bulk import chunks, select_in, upsert_rows, utc_text

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


def _ts(value: float | None) -> str | None:
    return None if value is None else utc_text(datetime.fromtimestamp(value, UTC))


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


class ProfileCache:
    """Profile states this process saved last, trusted only while the stored version matches.

    Loading a state means parsing its JSON; during a long ingestion most members recur in
    every chunk, so a version check (a narrow index read) replaces most of those parses.
    Another writer bumping a version simply makes that entry a miss.
    """

    def __init__(self, max_members: int = 250_000) -> None:
        self.max_members = max_members
        self._states: dict[str, tuple[int, ProfileState]] = {}

    def load(
        self, conn: Connection, member_ids: Collection[str]
    ) -> dict[str, tuple[int, ProfileState]]:
        if not self._states:
            return load_states(conn, member_ids)
        rows = select_in(
            conn, "SELECT member_id, version FROM profiles WHERE member_id IN {in}", member_ids
        )
        found: dict[str, tuple[int, ProfileState]] = {}
        misses = []
        for member, version in rows:
            cached = self._states.get(member)
            if cached is not None and cached[0] == version:
                found[member] = cached
            else:
                misses.append(member)
        found.update(load_states(conn, misses))
        return found

    def remember(self, states: Mapping[str, tuple[int, ProfileState]]) -> None:
        if len(self._states) + len(states) > self.max_members:
            self._states.clear()  # crude but bounded; the next chunk reloads what it needs
        self._states.update(states)

    def forget(self, member_ids: Collection[str]) -> None:
        for member in member_ids:
            self._states.pop(member, None)

    def clear(self) -> None:
        self._states.clear()
