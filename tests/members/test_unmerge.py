"""Unmerge restores exactly the state from before the merge (property test, both stores)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from nextbest.config import Settings
from nextbest.errors import Conflict
from nextbest.identity.repository import current_member
from nextbest.ingest.pipeline import Ingestor
from nextbest.members.merge import Evidence, merge_members
from nextbest.members.unmerge import unmerge
from nextbest.store import audit
from nextbest.store.engine import graph_transaction
from tests.ingest.test_pipeline import records
from tests.ledger.support import apply_program
from tests.members.support import snapshot

T0 = datetime(2026, 3, 1, tzinfo=UTC)
_run = itertools.count()

# One person: which identifier kinds they use. Keys get a per-example prefix.
KINDS = ("email", "pos_card", "loyalty_id", "device_id")


def person_keys(prefix: str, person: int, kinds: tuple[str, ...]) -> dict[str, str]:
    return {
        k: (f"{prefix}p{person}@x.co" if k == "email" else f"{prefix}{k[:3]}{person}")
        for k in kinds
    }


def event(prefix: str, n: int, hours: int, kind: str, ids: dict[str, str]) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": f"{prefix}e{n}",
        "occurred_at": (T0 + timedelta(hours=hours)).isoformat(),
        "identifiers": ids,
    }
    if kind == "purchase":
        return {
            **base,
            "type": "purchase",
            "source": "pos",
            "order_id": f"{prefix}o{n}",
            "total": 5.0 + n,
            "lines": [{"sku": "S", "category": "coffee", "quantity": 1, "unit_price": 5.0 + n}],
        }
    if kind == "signup":
        return {
            **base,
            "type": "signup",
            "source": "web",
            "first_name": f"N{n}",
            "postcode": f"{10000 + n}",
        }
    return {**base, "type": "app_open", "source": "app"}


story = st.lists(
    st.tuples(
        st.integers(0, 2),  # person
        st.integers(0, 200),  # hours
        st.sampled_from(["purchase", "signup", "app_open"]),
        st.lists(st.sampled_from(KINDS), min_size=1, max_size=2, unique=True),
    ),
    min_size=2,
    max_size=12,
)


def build(prefix: str, rows: list[tuple[int, int, str, list[str]]]) -> list[dict[str, Any]]:
    return [
        event(prefix, n, hours, kind, person_keys(prefix, person, tuple(kinds)))
        for n, (person, hours, kind, kinds) in enumerate(rows)
    ]


def member_of(engine: Engine, prefix: str, person: int, kinds: list[str]) -> str | None:
    kind = kinds[0]
    value = person_keys(prefix, person, (kind,))[kind]
    key = f"{kind}:{value if kind == 'email' else value.upper()}"
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT member_id FROM identifiers WHERE key = :k"), {"k": key}
        ).first()
    return None if row is None else str(row[0])


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=story, pair=st.permutations([0, 1, 2]).map(lambda p: (p[0], p[1])))
def test_unmerge_restores_the_state_before_the_merge(
    engine: Engine,
    settings: Settings,
    rows: list[tuple[int, int, str, list[str]]],
    pair: tuple[int, int],
) -> None:
    apply_program(engine)  # points follow the merge and come back with the unmerge
    prefix = f"u{next(_run)}x"
    # Both persons of the pair appear at least once.
    rows = [(pair[0], 300, "app_open", ["email"]), (pair[1], 301, "purchase", ["pos_card"]), *rows]
    Ingestor(engine, settings).ingest_records(records(build(prefix, rows)), origin="test")
    owners = {p: member_of(engine, prefix, p, kinds) for p, _, _, kinds in rows}
    a, b = owners.get(pair[0]), owners.get(pair[1])
    if a is None or b is None:
        return
    with engine.connect() as conn:
        a, b = current_member(conn, a), current_member(conn, b)
    if a is None or b is None or a == b:
        return
    before = snapshot(engine, prefix)
    hypothesis.event("merged two members")
    with graph_transaction(engine) as conn:
        _, merged = merge_members(
            conn, a, b, kind="manual", evidence=Evidence(reason="test"), actor="t", now=T0
        )
    assert snapshot(engine, prefix) != before
    unmerge(engine, settings, member_id=merged, actor="t", reason="wrong person")
    assert snapshot(engine, prefix) == before


def test_events_after_the_merge_go_back_to_their_owner(engine: Engine, settings: Settings) -> None:
    """The state after unmerge is the state had the merge never happened."""

    def rows(prefix: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        ann = {"email": f"{prefix}ann@x.co"}
        bob = {"pos_card": f"{prefix}card-b"}
        early = [event(prefix, 1, 0, "signup", ann), event(prefix, 2, 1, "purchase", bob)]
        late = [
            event(prefix, 3, 5, "purchase", ann),
            event(prefix, 4, 6, "purchase", {**bob, "loyalty_id": f"{prefix}lb"}),
        ]
        return early, late

    ingest = Ingestor(engine, settings)
    early, late = rows("never")
    ingest.ingest_records(records(early + late), origin="test")
    expected = snapshot(engine, "never")

    early, late = rows("undo")
    ingest.ingest_records(records(early), origin="test")
    with engine.connect() as conn:
        bob = conn.execute(
            text("SELECT member_id FROM identifiers WHERE key = 'pos_card:UNDOCARD-B'")
        ).scalar_one()
        ann = conn.execute(
            text("SELECT member_id FROM identifiers WHERE key = 'email:undoann@x.co'")
        ).scalar_one()
    with graph_transaction(engine) as conn:
        _, merged = merge_members(
            conn, ann, bob, kind="manual", evidence=Evidence(), actor="t", now=T0
        )
    ingest.ingest_records(records(late), origin="test")
    report = unmerge(engine, settings, member_id=merged, actor="t")
    assert report.events_moved >= 1

    got = snapshot(engine, "undo")
    # Same shape of graph: which identifiers and events share a member, and the profiles.
    assert _partition(got) == _partition(expected, rename=("NEVER", "UNDO", "never", "undo"))
    with engine.connect() as conn:
        log = audit.entries(conn, subject=report.merged)
    assert [e["action"] for e in log] == ["unmerge", "merge"]


def _partition(
    snap: dict[str, Any], rename: tuple[str, str, str, str] | None = None
) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for key, member, _ in snap["identifiers"]:
        groups.setdefault(member, set()).add(key)
    for event_id, member in snap["events"]:
        groups.setdefault(member, set()).add(event_id)
    out = set()
    for items in groups.values():
        names = set()
        for item in items:
            if rename:
                item = item.replace(rename[0], rename[1]).replace(rename[2], rename[3])
            names.add(item)
        out.add(frozenset(names))
    return out


def test_a_merge_proven_by_events_needs_the_bridge_blocked(
    engine: Engine, settings: Settings
) -> None:
    ingest = Ingestor(engine, settings)
    for row in (
        event("br", 1, 0, "app_open", {"email": "br-a@x.co"}),
        event("br", 2, 1, "app_open", {"pos_card": "brcard"}),
        event("br", 3, 2, "purchase", {"email": "br-a@x.co", "pos_card": "brcard"}),
    ):
        ingest.ingest_records(records([row]), origin="test")
    with engine.connect() as conn:
        merged = conn.execute(text("SELECT merged_id FROM member_merges")).scalars().all()
    assert len(merged) == 1
    with pytest.raises(Conflict, match="still linked by their events"):
        unmerge(engine, settings, member_id=merged[0], actor="t")
    report = unmerge(engine, settings, member_id=merged[0], actor="t", block=["pos_card:BRCARD"])
    assert report.blocked == ["pos_card:BRCARD"]
    assert len(report.groups) == 2


def test_points_follow_a_merge_and_go_back_with_the_unmerge(
    engine: Engine, settings: Settings
) -> None:
    from nextbest.ledger.service import Ledger

    apply_program(engine)
    ann = {"email": "pts-ann@x.co"}
    bob = {"pos_card": "pts-card-b"}
    rows = [event("pts", 1, 0, "purchase", ann), event("pts", 2, 1, "purchase", bob)]
    Ingestor(engine, settings).ingest_records(records(rows), origin="test")
    a, b = member_of(engine, "pts", 0, ["email"]), None
    with engine.connect() as conn:
        a = conn.execute(
            text("SELECT member_id FROM identifiers WHERE key = 'email:pts-ann@x.co'")
        ).scalar_one()
        b = conn.execute(
            text("SELECT member_id FROM identifiers WHERE key = 'pos_card:PTS-CARD-B'")
        ).scalar_one()
    led = Ledger(engine, clock=lambda: T0 + timedelta(days=1))
    before = {m: led.account(m)["balance"] for m in (a, b)}
    assert all(before.values())
    with graph_transaction(engine) as conn:
        survivor, merged = merge_members(
            conn, a, b, kind="manual", evidence=Evidence(reason="test"), actor="t", now=T0
        )
    assert led.account(survivor)["balance"] == sum(before.values())
    assert led.account(merged)["balance"] == 0
    report = unmerge(engine, settings, member_id=merged, actor="t", reason="two people")
    assert report.points_moved == {merged: before[merged]}
    assert {m: led.account(m)["balance"] for m in (a, b)} == before
    assert led.check() == []
