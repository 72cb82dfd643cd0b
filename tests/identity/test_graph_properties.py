"""Identity resolution is order- and batch-independent (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from nextbest.identity.graph import Sighting, resolve

KEYS = [f"email:p{i}@x.co" for i in range(6)] + [f"pos_card:C{i}" for i in range(6)]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class MemoryGraph:
    """Applies resolutions the way the store does, in memory."""

    def __init__(self) -> None:
        self.key_member: dict[str, str] = {}
        self.first_seen: dict[str, datetime] = {}
        self.event_member: dict[str, str | None] = {}

    def ingest(self, batch: list[Sighting]) -> None:
        keys = {k for s in batch for k in s.keys}
        known = {k: self.key_member[k] for k in keys if k in self.key_member}
        res = resolve(
            batch, known=known, first_seen={m: self.first_seen[m] for m in known.values()}
        )
        self.first_seen.update(res.new_members)
        self.first_seen.update(res.first_seen_updates)
        for merge in res.merges:
            for key, member in list(self.key_member.items()):
                if member == merge.merged_id:
                    self.key_member[key] = merge.survivor_id
            for event, member in list(self.event_member.items()):
                if member == merge.merged_id:
                    self.event_member[event] = merge.survivor_id
            del self.first_seen[merge.merged_id]
        for ident in res.new_identifiers:
            self.key_member[ident.key] = ident.member_id
        self.event_member.update(res.event_member)

    def partition(self) -> set[frozenset[str]]:
        groups: dict[str, set[str]] = {}
        for key, member in self.key_member.items():
            groups.setdefault(member, set()).add(key)
        return {frozenset(g) for g in groups.values()}


sightings = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=100),
        st.lists(st.sampled_from(KEYS), min_size=0, max_size=3, unique=True),
    ),
    min_size=1,
    max_size=25,
).map(
    lambda rows: [
        Sighting(f"e{i}", (T0 + timedelta(hours=h)).timestamp(), tuple(sorted(keys)))
        for i, (h, keys) in enumerate(rows)
    ]
)


def expected_partition(batch: list[Sighting]) -> set[frozenset[str]]:
    """Connected components by brute force."""
    groups: list[set[str]] = []
    for s in batch:
        touching = [g for g in groups if g & set(s.keys)]
        merged = set(s.keys).union(*touching) if s.keys else set()
        groups = [g for g in groups if g not in touching]
        if merged:
            groups.append(merged)
    return {frozenset(g) for g in groups}


@settings(max_examples=150, deadline=None)
@given(batch=sightings, data=st.data())
def test_partition_independent_of_order_and_batching(
    batch: list[Sighting], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(batch))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(order)), max_size=4)))
    graph = MemoryGraph()
    start = 0
    for cut in [*cuts, len(order)]:
        if cut > start:
            graph.ingest(list(order[start:cut]))
            start = cut
    assert graph.partition() == expected_partition(batch)
    # Every event with identifiers points at the member of its identifiers.
    for s in batch:
        if s.keys:
            assert graph.event_member[s.event_id] == graph.key_member[s.keys[0]]
        else:
            assert graph.event_member[s.event_id] is None


@settings(max_examples=50, deadline=None)
@given(batch=sightings)
def test_resolving_twice_is_idempotent(batch: list[Sighting]) -> None:
    graph = MemoryGraph()
    graph.ingest(batch)
    before = (dict(graph.key_member), dict(graph.first_seen))
    known = dict(graph.key_member)
    res = resolve(batch, known=known, first_seen={m: graph.first_seen[m] for m in known.values()})
    assert not res.merges and not res.new_members and not res.new_identifiers
    assert before == (graph.key_member, graph.first_seen)


def test_merge_names_the_event_and_keeps_the_older_member() -> None:
    graph = MemoryGraph()
    graph.ingest([Sighting("a", T0.timestamp(), ("email:p0@x.co",))])
    graph.ingest([Sighting("b", (T0 + timedelta(days=1)).timestamp(), ("pos_card:C0",))])
    older = graph.key_member["email:p0@x.co"]
    known = dict(graph.key_member)
    res = resolve(
        [Sighting("c", (T0 + timedelta(days=2)).timestamp(), ("email:p0@x.co", "pos_card:C0"))],
        known=known,
        first_seen=dict(graph.first_seen),
    )
    assert [(m.survivor_id, m.event_id) for m in res.merges] == [(older, "c")]
    assert res.merges[0].identifier == "email:p0@x.co + pos_card:C0"
