"""Deterministic identity resolution: identifiers that co-occur in one event are one member.

Pure: given the identifiers a batch of events carries and what the store already knows
(identifier → member, member → first seen), ``resolve`` says which member each event
belongs to, which new members and identifiers to record, and which members merge, with the
event and identifier that caused each merge. It is a union-find over identifier keys and
known members. The partition it produces does not depend on the order of events or on
how they were split into batches; survivor and new member ids are chosen by time and key,
never by arrival order.

Shared identifiers: a family tablet or a shop's counter phone would chain strangers into one
member. Keys of a *shareable* kind (device ids by default) remember the *anchor* keys (loyalty
ids by default: one per person) they were seen with; once one has been seen with more
anchors than the limit allows, it stops linking. It stays recorded with the member it first
belonged to, and events that carry nothing else still go to that member.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol


class SightingLike(Protocol):
    """Anything with an event id, a time (epoch seconds) and identifier keys."""

    @property
    def event_id(self) -> str: ...
    @property
    def at(self) -> float: ...
    @property
    def keys(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class Sighting:
    """The identifier keys one event carries (``kind:value``, normalised)."""

    event_id: str
    at: float  # epoch seconds, UTC
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NewIdentifier:
    key: str
    member_id: str
    event_id: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Merge:
    """``merged_id`` folds into ``survivor_id`` because ``event_id`` carried ``identifier``."""

    survivor_id: str
    merged_id: str
    event_id: str
    identifier: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class SharedPolicy:
    """When a key counts as shared: seen with more than ``limit`` distinct anchors.

    >>> SharedPolicy().shareable("device_id:ABC"), SharedPolicy().shareable("email:a@b.c")
    (True, False)
    """

    kinds: frozenset[str] = frozenset({"device_id"})
    anchor_kinds: frozenset[str] = frozenset({"loyalty_id"})
    limit: int = 1

    def shareable(self, key: str) -> bool:
        return key.partition(":")[0] in self.kinds

    def anchors_in(self, keys: Sequence[str]) -> set[str]:
        return {k for k in keys if k.partition(":")[0] in self.anchor_kinds}


@dataclass(frozen=True, slots=True)
class SharedKey:
    """``key`` was found shared by ``event_id``, the first event that exceeded the limit."""

    key: str
    event_id: str
    occurred_at: datetime


@dataclass(slots=True)
class Resolution:
    event_member: dict[str, str | None] = field(default_factory=dict)
    new_members: dict[str, datetime] = field(default_factory=dict)
    new_identifiers: list[NewIdentifier] = field(default_factory=list)
    merges: list[Merge] = field(default_factory=list)
    # Known members whose first sighting moved earlier (a late event arrived).
    first_seen_updates: dict[str, datetime] = field(default_factory=dict)
    # Shareable keys whose anchor set grew (new keys included), and keys now found shared.
    anchor_updates: dict[str, tuple[str, ...]] = field(default_factory=dict)
    newly_shared: list[SharedKey] = field(default_factory=list)


def _utc(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


def member_id_for(key: str) -> str:
    """A stable member id born from the first identifier seen for a person.

    >>> member_id_for("email:jane@example.com")
    'm_f6775638c5562102'
    """
    return "m_" + hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


class _UnionFind:
    __slots__ = ("parent",)

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, node: str) -> str:
        parent = self.parent
        root = node
        while (up := parent.get(root, root)) != root:
            root = up
        while node != root:  # path compression
            up = parent.get(node, node)
            parent[node] = root
            node = up
        return root

    def union(self, a: str, b: str) -> tuple[str, str] | None:
        """Join; returns (kept root, absorbed root) or None if already together."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return None
        if rb < ra:  # deterministic root choice
            ra, rb = rb, ra
        self.parent[rb] = ra
        return ra, rb


def _member_node(member_id: str) -> str:
    return "@" + member_id


def resolve(
    sightings: Sequence[SightingLike],
    *,
    known: Mapping[str, str],
    first_seen: Mapping[str, datetime],
    policy: SharedPolicy | None = None,
    anchors: Mapping[str, Collection[str]] | None = None,
    shared: Collection[str] = (),
) -> Resolution:
    """Resolve a batch of sightings against the known graph.

    ``known`` maps identifier keys already in the store to their (current, unmerged) member;
    ``first_seen`` gives the first sighting time of every member in ``known``. With a
    ``policy``, ``anchors`` gives the anchors already seen with known shareable keys and
    ``shared`` the keys already found shared; those never link.
    """
    uf = _UnionFind()
    node_of: dict[str, str] = {}
    for key, member in known.items():
        node_of[key] = _member_node(member)
    # Component root -> existing members in it, kept only while a component holds members.
    members_in: dict[str, set[str]] = {}
    # merged member -> (event, identifier, time) of the first link that joined its component
    first_link: dict[str, tuple[str, str, float]] = {}

    result = Resolution()
    # Events carrying the same identifiers resolve alike: work on each distinct set once,
    # at its earliest sighting, which is also the one that would have linked first.
    earliest: dict[tuple[str, ...], SightingLike] = {}
    for s in sightings:
        if not s.keys:
            result.event_member[s.event_id] = None
            continue
        seen = earliest.get(s.keys)
        if seen is None or (s.at, s.event_id) < (seen.at, seen.event_id):
            earliest[s.keys] = s
    ordered = sorted(earliest.values(), key=lambda s: (s.at, s.event_id))
    blocked = set(shared)
    seen_anchors: dict[str, set[str]] = {}
    heads: list[str] = []  # per ordered sighting: the key that names its component
    attached: set[str] = set()
    for sighting in ordered:
        linking = list(sighting.keys)
        if policy is not None:
            linking = _linking_keys(sighting, policy, blocked, seen_anchors, anchors or {}, result)
        if not linking:  # nothing but shared keys: the event follows its first key
            heads.append(sighting.keys[0])
            attached.update(sighting.keys)
            continue
        heads.append(linking[0])
        # A shared key met for the first time still needs a member: attach it, as a leaf.
        spare = [k for k in sighting.keys if k not in linking]
        spare = [k for k in spare if k not in node_of and k not in attached]
        nodes = [node_of.get(k, k) for k in linking]
        for node in nodes:
            if node[0] == "@":
                root = uf.find(node)
                members_in.setdefault(root, set()).add(node[1:])
        head = nodes[0]
        for key, node in zip(linking[1:], nodes[1:], strict=True):
            joined = uf.union(head, node)
            if joined is None:
                continue
            kept, absorbed = joined
            left = members_in.pop(kept, set())
            right = members_in.pop(absorbed, set())
            if left and right:
                cause = (sighting.event_id, f"{linking[0]} + {key}", sighting.at)
                for m in left | right:
                    first_link.setdefault(m, cause)
            if left or right:
                members_in[kept] = left | right
        for key in spare:
            uf.union(head, key)
        attached.update(sighting.keys)

    # A component's first sighting (in time order) names a new member and dates it.
    comp_first: dict[str, tuple[float, str]] = {}
    roots: list[str] = []
    for sighting, first_key in zip(ordered, heads, strict=True):
        root = uf.find(node_of.get(first_key, first_key))
        roots.append(root)
        if root not in comp_first:
            comp_first[root] = (sighting.at, first_key)

    survivor_of: dict[str, str] = {}
    for root, (stamp, key) in comp_first.items():
        when = _utc(stamp)
        existing = members_in.get(root)
        if existing:
            survivor = min(existing, key=lambda m: (first_seen[m], m))
            if when < first_seen[survivor]:
                result.first_seen_updates[survivor] = when
            for merged in sorted(existing - {survivor}):
                event_id, ident, at = first_link[merged]
                result.merges.append(
                    Merge(
                        survivor_id=survivor,
                        merged_id=merged,
                        event_id=event_id,
                        identifier=ident,
                        occurred_at=_utc(at),
                    )
                )
        else:
            survivor = member_id_for(key)
            result.new_members[survivor] = when
        survivor_of[root] = survivor

    seen_new: set[str] = set()
    member_of_keys: dict[tuple[str, ...], str] = {}
    for sighting, sighting_root in zip(ordered, roots, strict=True):
        member = survivor_of[sighting_root]
        member_of_keys[sighting.keys] = member
        for key in sighting.keys:
            if key not in node_of and key not in seen_new:
                seen_new.add(key)
                result.new_identifiers.append(
                    NewIdentifier(
                        key=key,
                        member_id=member,
                        event_id=sighting.event_id,
                        occurred_at=_utc(sighting.at),
                    )
                )
    for s in sightings:
        if s.keys:
            result.event_member[s.event_id] = member_of_keys[s.keys]
    return result


def _linking_keys(
    sighting: SightingLike,
    policy: SharedPolicy,
    blocked: set[str],
    seen: dict[str, set[str]],
    known_anchors: Mapping[str, Collection[str]],
    result: Resolution,
) -> list[str]:
    """The sighting's keys that may link; grows anchor sets and finds newly shared keys."""
    found = policy.anchors_in(sighting.keys)
    linking: list[str] = []
    for key in sighting.keys:
        if key in blocked:
            continue
        if found and policy.shareable(key):
            have = seen.get(key)
            if have is None:
                have = seen[key] = set(known_anchors.get(key, ()))
            if not found <= have:
                have |= found
                if len(have) > policy.limit:
                    blocked.add(key)
                    result.newly_shared.append(
                        SharedKey(
                            key=key, event_id=sighting.event_id, occurred_at=_utc(sighting.at)
                        )
                    )
                    continue
                result.anchor_updates[key] = tuple(sorted(have))
        linking.append(key)
    return linking
