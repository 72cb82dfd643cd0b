"""A device shared by two persons must not fold them into one member."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nextbest.identity.graph import SharedPolicy, Sighting, resolve

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = SharedPolicy()


def at(hours: int) -> float:
    return (T0 + timedelta(hours=hours)).timestamp()


def test_device_seen_with_two_loyalty_ids_stops_linking() -> None:
    batch = [
        Sighting("e1", at(0), ("device_id:D", "loyalty_id:L1")),
        Sighting("e2", at(1), ("device_id:D", "loyalty_id:L2")),
        Sighting("e3", at(2), ("device_id:D",)),
    ]
    res = resolve(batch, known={}, first_seen={}, policy=POLICY)
    assert res.merges == []
    assert len(res.new_members) == 2
    assert res.event_member["e1"] != res.event_member["e2"]
    # A device-only event follows the member the device first belonged to.
    assert res.event_member["e3"] == res.event_member["e1"]
    assert [s.key for s in res.newly_shared] == ["device_id:D"]
    assert res.newly_shared[0].event_id == "e2"


def test_without_policy_the_device_chains_them() -> None:
    batch = [
        Sighting("e1", at(0), ("device_id:D", "loyalty_id:L1")),
        Sighting("e2", at(1), ("device_id:D", "loyalty_id:L2")),
    ]
    res = resolve(batch, known={}, first_seen={})
    assert res.event_member["e1"] == res.event_member["e2"]


def test_known_shared_key_never_links_across_batches() -> None:
    first = resolve(
        [Sighting("e1", at(0), ("device_id:D", "loyalty_id:L1"))],
        known={},
        first_seen={},
        policy=POLICY,
    )
    member = first.event_member["e1"]
    assert member is not None
    assert first.anchor_updates == {"device_id:D": ("loyalty_id:L1",)}
    known = {"device_id:D": member, "loyalty_id:L1": member}
    second = resolve(
        [Sighting("e2", at(5), ("device_id:D", "loyalty_id:L2"))],
        known=known,
        first_seen={member: T0},
        policy=POLICY,
        anchors={"device_id:D": ("loyalty_id:L1",)},
    )
    assert second.merges == []
    assert second.event_member["e2"] != member
    assert [s.key for s in second.newly_shared] == ["device_id:D"]


def test_same_anchor_again_keeps_linking() -> None:
    batch = [
        Sighting("e1", at(0), ("device_id:D", "loyalty_id:L1")),
        Sighting("e2", at(1), ("device_id:D", "loyalty_id:L1", "email:a@b.co")),
    ]
    res = resolve(batch, known={}, first_seen={}, policy=POLICY)
    assert res.newly_shared == []
    assert len(res.new_members) == 1
    assert res.event_member["e1"] == res.event_member["e2"]


def test_higher_limit_allows_a_household() -> None:
    batch = [
        Sighting("e1", at(0), ("device_id:D", "loyalty_id:L1")),
        Sighting("e2", at(1), ("device_id:D", "loyalty_id:L2")),
    ]
    res = resolve(batch, known={}, first_seen={}, policy=SharedPolicy(limit=2))
    assert res.newly_shared == []
    assert res.event_member["e1"] == res.event_member["e2"]
