"""Undoing a merge: split a member back into the members it would have been without it.

The group the merge belongs to is resolved again from its own events, with every other
merge in force and the undone one left out. Each original member returns to the component
holding the identifier it was founded on (member ids are derived from that key), so ids are
kept; identifiers, events and profile features follow their component; profiles are rebuilt
from events. What was found and moved is written to the audit log. A merge that events
themselves prove (an event carrying identifiers of both sides) cannot be undone unless the
bridging identifier is declared shared (``block``), after which it no longer links.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, Row, insert, select, update

from nextbest.config import Settings
from nextbest.errors import Conflict, NotFound
from nextbest.events import EVENT_ADAPTER
from nextbest.identity.graph import Sighting, member_id_for, resolve
from nextbest.identity.hashing import CONTACT_KINDS, keep_contacts, stored_keys
from nextbest.identity.repository import as_utc, current_member
from nextbest.ledger.members import follow_unmerge
from nextbest.profiles.repository import delete_states, save_states
from nextbest.profiles.state import Facts, ProfileState, facts_of
from nextbest.store import audit
from nextbest.store import tables as t
from nextbest.store.bulk import execute_many, select_in
from nextbest.store.engine import graph_transaction


@dataclass(slots=True)
class UnmergeReport:
    merge_id: int
    survivor: str
    merged: str
    # survivor -> members folded into it, for each member the split group now forms
    groups: dict[str, list[str]] = field(default_factory=dict)
    identifiers_moved: int = 0
    events_moved: int = 0
    profiles_rebuilt: int = 0
    blocked: list[str] = field(default_factory=list)
    points_moved: dict[str, int] = field(default_factory=dict)  # new owner -> points

    def to_dict(self) -> dict[str, Any]:
        return {
            "merge_id": self.merge_id,
            "survivor": self.survivor,
            "merged": self.merged,
            "members": self.groups,
            "identifiers_moved": self.identifiers_moved,
            "events_moved": self.events_moved,
            "profiles_rebuilt": self.profiles_rebuilt,
            "blocked": self.blocked,
            "points_moved": self.points_moved,
        }


class _Union:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        while (up := self.parent.get(x, x)) != x:
            self.parent[x] = self.parent.get(up, up)
            x = up
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def unmerge(
    engine: Engine,
    settings: Settings,
    *,
    member_id: str | None = None,
    merge_id: int | None = None,
    actor: str,
    reason: str = "",
    block: Collection[str] = (),
    now: datetime | None = None,
) -> UnmergeReport:
    """Undo merge ``merge_id``, or the latest merge that folded ``member_id`` away."""
    now = now or datetime.now(UTC)
    with graph_transaction(engine) as conn:
        merge = _find_merge(conn, member_id, merge_id)
        report = UnmergeReport(merge.merge_id, merge.survivor_id, merge.merged_id)
        top = current_member(conn, merge.survivor_id) or merge.survivor_id
        group = {top} | {
            m
            for (m,) in conn.execute(
                select(t.members.c.member_id).where(t.members.c.merged_into == top)
            )
        }
        keys = _identifiers(conn, group)
        for key in block:
            if key not in keys:
                raise NotFound(f"identifier {key!r} does not belong to member {top!r}")
        _mark_shared(conn, block, now)
        report.blocked = sorted(block)
        shared = {k for k, is_shared in keys.items() if is_shared} | set(block)
        events = _events(conn, group, settings.default_region)

        res = resolve(
            [Sighting(e.event_id, e.at, e.keys) for e in events.values()],
            known={},
            first_seen={},
            policy=settings.shared_policy,
            shared=shared,
        )
        component = {i.key: i.member_id for i in res.new_identifiers}
        home = {member_id_for(k): c for k, c in component.items() if member_id_for(k) in group}
        # A member whose founding identifier no event carries any more stays with the top.
        top_home = home.get(top) or next(iter(component.values()), top)
        for m in group:
            home.setdefault(m, top_home)

        uf = _Union()
        active = conn.execute(
            select(
                t.member_merges.c.merge_id,
                t.member_merges.c.survivor_id,
                t.member_merges.c.merged_id,
            )
            .where(t.member_merges.c.merged_id.in_(sorted(group)))
            .where(t.member_merges.c.undone_at.is_(None))
        ).all()
        for other_id, survivor, merged in active:
            if other_id != merge.merge_id and survivor in home and merged in home:
                uf.union(home[survivor], home[merged])
        if uf.find(home[merge.survivor_id]) == uf.find(home[merge.merged_id]):
            raise Conflict(
                f"members {merge.survivor_id!r} and {merge.merged_id!r} are still linked by "
                f"their events (merge {merge.merge_id} came from event {merge.event_id!r}: "
                f"{merge.identifier}); unmerge with the bridging identifier blocked"
            )

        seen = _first_seen(conn, group)
        members_of: dict[str, list[str]] = {}
        for m in sorted(group):
            members_of.setdefault(uf.find(home[m]), []).append(m)
        survivor_of_root = {
            root: min(ms, key=lambda m: (seen[m], m)) for root, ms in members_of.items()
        }
        owner = {m: survivor_of_root[uf.find(home[m])] for m in group}
        for root, ms in members_of.items():
            survivor = survivor_of_root[root]
            report.groups[survivor] = [m for m in ms if m != survivor]

        execute_many(
            conn,
            "UPDATE members SET merged_into = ? WHERE member_id = ?",
            [(None if owner[m] == m else owner[m], m) for m in sorted(group)],
        )
        key_owner = {k: survivor_of_root[uf.find(component.get(k, top_home))] for k in keys}
        moved_keys = [(o, k) for k, o in key_owner.items() if o != top]
        execute_many(conn, "UPDATE identifiers SET member_id = ? WHERE key = ?", moved_keys)
        report.identifiers_moved = len(moved_keys)

        states: dict[str, ProfileState] = {s: ProfileState() for s in report.groups}
        held = _contacts(conn, top)
        earliest: dict[str, datetime] = {}
        moves = []
        event_owner: dict[str, str] = {}
        for e in events.values():
            target = survivor_of_root[uf.find(res.event_member[e.event_id] or top_home)]
            event_owner[e.event_id] = target
            if owner.get(e.member_id) != target:
                moves.append((target, e.event_id))
            states[target].apply(e.facts)
            if target not in earliest or e.occurred_at < earliest[target]:
                earliest[target] = e.occurred_at
        # Contact points (hashed-identifier mode) follow the event that stated them.
        for kind, (value, at, stated_by) in held.items():
            if stated_by in event_owner:
                found = ((kind, value),)
                keep_contacts(
                    states[event_owner[stated_by]].attributes, found, at=at, event_id=stated_by
                )
        execute_many(conn, "UPDATE events SET member_id = ? WHERE event_id = ?", moves)
        report.events_moved = len(moves)
        execute_many(
            conn,
            "UPDATE members SET first_seen_at = ? WHERE member_id = ?",
            [(at, m) for m, at in earliest.items()],
        )
        # Stamped from the clock: no process's cached profile can carry the same version.
        version = int(now.timestamp())
        delete_states(conn, group - set(states))
        save_states(conn, {m: (version, s) for m, s in states.items() if s.event_count}, now=now)
        report.profiles_rebuilt = len(states)

        report.points_moved = follow_unmerge(
            conn,
            group=group,
            event_owner=event_owner,
            member_owner=owner,
            at=now,
            reason=f"unmerge of merge {merge.merge_id}: {reason}",
            actor=actor,
            merge_id=merge.merge_id,
        )
        conn.execute(
            update(t.member_merges)
            .where(t.member_merges.c.merge_id == merge.merge_id)
            .values(undone_at=now)
        )
        _block_pair(conn, merge.survivor_id, merge.merged_id, actor=actor, reason=reason, now=now)
        audit.record(
            conn,
            actor=actor,
            action="unmerge",
            subject=merge.merged_id,
            detail={
                "merge_id": merge.merge_id,
                "survivor": merge.survivor_id,
                "merged": merge.merged_id,
                "kind": merge.kind,
                "reason": reason,
                "groups": report.groups,
                "identifiers_moved": report.identifiers_moved,
                "events_moved": report.events_moved,
                "blocked": report.blocked,
                "points_moved": report.points_moved,
            },
            at=now,
        )
    return report


@dataclass(frozen=True, slots=True)
class _Event:
    event_id: str
    member_id: str
    occurred_at: datetime
    at: float
    keys: tuple[str, ...]
    facts: Facts


def _find_merge(conn: Connection, member_id: str | None, merge_id: int | None) -> Row[Any]:
    m = t.member_merges
    query = select(m).where(m.c.undone_at.is_(None))
    if merge_id is not None:
        query = query.where(m.c.merge_id == merge_id)
    elif member_id is not None:
        query = query.where(m.c.merged_id == member_id).order_by(m.c.merge_id.desc())
    else:
        raise ValueError("give a member id or a merge id")
    row = conn.execute(query.limit(1)).first()
    if row is None:
        what = f"merge {merge_id}" if merge_id is not None else f"member {member_id!r}"
        raise NotFound(f"no merge in force for {what}")
    return row


def _identifiers(conn: Connection, group: Collection[str]) -> dict[str, bool]:
    """key -> found shared, for every identifier of the group."""
    rows = select_in(conn, "SELECT key, shared_at FROM identifiers WHERE member_id IN {in}", group)
    return {key: shared_at is not None for key, shared_at in rows}


def _events(conn: Connection, group: Collection[str], region: str) -> dict[str, _Event]:
    rows = select_in(
        conn, "SELECT event_id, member_id, payload FROM events WHERE member_id IN {in}", group
    )
    out: dict[str, _Event] = {}
    for event_id, member, payload in rows:
        data = orjson.loads(payload)
        hashed = stored_keys(data)  # hashed mode stores the keys instead of the identifiers
        event = EVENT_ADAPTER.validate_python(data, context={"region": region})
        facts = facts_of(event)
        out[event_id] = _Event(
            event_id,
            member,
            as_utc(event.occurred_at),
            facts[1],
            hashed if hashed is not None else tuple(event.identifiers.keys()),
            facts,
        )
    return out


def _contacts(conn: Connection, member: str) -> dict[str, list[Any]]:
    """The contact points the member's profile holds (hashed-identifier mode keeps them)."""
    state = conn.execute(
        select(t.profiles.c.state).where(t.profiles.c.member_id == member)
    ).scalar_one_or_none()
    if state is None:
        return {}
    attributes = orjson.loads(state).get("attributes") or {}
    return {k: attributes[k] for k in CONTACT_KINDS if k in attributes}


def _first_seen(conn: Connection, group: Collection[str]) -> dict[str, datetime]:
    rows = select_in(
        conn, "SELECT member_id, first_seen_at FROM members WHERE member_id IN {in}", group
    )
    return {m: as_utc(datetime.fromisoformat(at) if isinstance(at, str) else at) for m, at in rows}


def _mark_shared(conn: Connection, keys: Collection[str], now: datetime) -> None:
    execute_many(
        conn,
        "UPDATE identifiers SET shared_at = ? WHERE key = ? AND shared_at IS NULL",
        [(now, k) for k in keys],
    )


def _block_pair(
    conn: Connection, a: str, b: str, *, actor: str, reason: str, now: datetime
) -> None:
    """Never propose this pair again (and close any candidate that led to the merge)."""
    left, right = sorted((a, b))
    c = t.link_candidates
    found = conn.execute(
        select(c.c.candidate_id).where(c.c.left_member == left, c.c.right_member == right)
    ).first()
    values = {"status": "blocked", "decided_at": now, "decided_by": actor, "note": reason}
    if found is None:
        conn.execute(
            insert(c).values(
                left_member=left,
                right_member=right,
                match_probability=0.0,
                match_weight=0.0,
                explanation="{}",
                model_version="",
                created_at=now,
                **values,
            )
        )
    else:
        conn.execute(update(c).where(c.c.candidate_id == found.candidate_id).values(**values))
