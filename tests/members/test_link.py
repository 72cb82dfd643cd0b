"""Probabilistic linking of members: sure pairs merge (explained), the grey zone waits."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from nextbest.config import Settings
from nextbest.errors import Conflict
from nextbest.identity.repository import current_member
from nextbest.ingest.pipeline import Ingestor
from nextbest.members import review
from nextbest.members.link import link_members
from nextbest.members.unmerge import unmerge
from nextbest.sim.catalogue import FIRST_NAMES, LAST_NAMES
from nextbest.store import audit
from tests.ingest.test_pipeline import records

T0 = datetime(2026, 2, 1, tzinfo=UTC)
PERSONS = 300
DUPLICATES = 25


def signup(n: int, person: dict[str, str], email: str, loyalty: str) -> dict[str, Any]:
    return {
        "type": "signup",
        "event_id": f"su{n}",
        "occurred_at": (T0 + timedelta(hours=n)).isoformat(),
        "source": "web",
        "identifiers": {"email": email, "loyalty_id": loyalty},
        "first_name": person["first"],
        "last_name": person["last"],
        "birthday": person["birthday"],
        "postcode": person["postcode"],
    }


def base(seed: int = 3) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Persons signing up once; some again with a typo'd email and a new loyalty number."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    persons = []
    for i in range(PERSONS):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        persons.append(
            {
                "first": first,
                "last": last,
                "birthday": f"19{rng.randint(50, 99)}-{rng.randint(1, 12):02d}-"
                f"{rng.randint(1, 28):02d}",
                "postcode": f"{rng.randint(10000, 99999)}",
                "email": f"{first}.{last}{i}@example.com".lower(),
            }
        )
        rows.append(signup(i, persons[-1], persons[-1]["email"], f"L{i:06d}"))
    twins = []
    for j, i in enumerate(rng.sample(range(PERSONS), DUPLICATES)):
        p = persons[i]
        local, _, domain = p["email"].partition("@")
        typo = local[:2] + local[3] + local[2] + local[4:] + "@" + domain
        rows.append(signup(PERSONS + j, p, typo, f"D{j:06d}"))
        twins.append((f"loyalty_id:L{i:06d}", f"loyalty_id:D{j:06d}"))
    return rows, twins


def member(engine: Engine, key: str) -> str:
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT member_id FROM identifiers WHERE key = :k"), {"k": key}
        ).scalar_one()
        return current_member(conn, found) or found


def test_duplicate_accounts_merge_with_their_evidence(engine: Engine, settings: Settings) -> None:
    rows, twins = base()
    Ingestor(engine, settings).ingest_records(records(rows), origin="test")
    run = link_members(engine, settings, actor="test")
    assert run.records >= PERSONS + DUPLICATES - 3  # a "typo" can leave the email as it was
    joined = sum(member(engine, a) == member(engine, b) for a, b in twins)
    assert joined >= DUPLICATES - 2
    assert run.merged <= DUPLICATES  # no stranger merged
    with engine.connect() as conn:
        merge = conn.execute(
            text("SELECT kind, match_probability, explanation FROM member_merges")
        ).first()
        log = audit.entries(conn)
    assert merge is not None
    assert merge.kind == "probabilistic"
    assert merge.match_probability >= settings.link_merge_probability
    assert '"last_name"' in merge.explanation
    assert {e["action"] for e in log} == {"merge"}

    assert run.trained
    again = link_members(engine, settings, actor="test")
    assert not again.trained  # scored with the stored model
    assert again.merged == 0  # linked members are one record now
    assert link_members(engine, settings, actor="test", retrain=True).trained


def test_grey_zone_waits_for_review_and_a_rejection_sticks(
    engine: Engine, settings: Settings
) -> None:
    rows, _ = base()
    Ingestor(engine, settings).ingest_records(records(rows), origin="test")
    settings.link_merge_probability = 1.0  # nothing merges by itself
    settings.link_review_probability = 0.5
    run = link_members(engine, settings, actor="test")
    assert run.merged == 0
    assert run.queued >= DUPLICATES - 2
    with engine.connect() as conn:
        pending = review.candidates(conn, limit=1000)
    assert len(pending) == run.queued
    first, second = pending[0], pending[1]
    assert first.weights and first.match_probability >= second.match_probability
    keys = {m: _key(engine, m) for c in (first, second) for m in (c.left_member, c.right_member)}

    accepted = review.decide(engine, first.candidate_id, accept=True, actor="ana", note="same")
    assert accepted.status == "accepted"
    assert member(engine, keys[first.left_member]) == member(engine, keys[first.right_member])
    rejected = review.decide(engine, second.candidate_id, accept=False, actor="ana")
    assert rejected.status == "rejected"
    with pytest.raises(Conflict):
        review.decide(engine, second.candidate_id, accept=True, actor="ana")

    settings.link_merge_probability = 0.5  # now everything in the grey zone would merge …
    run = link_members(engine, settings, actor="test")
    # … but the rejected pair stays apart, and decided pairs are not proposed again.
    assert member(engine, keys[second.left_member]) != member(engine, keys[second.right_member])
    assert run.already_decided >= 1


def test_unmerged_pair_is_never_merged_again(engine: Engine, settings: Settings) -> None:
    rows, twins = base()
    Ingestor(engine, settings).ingest_records(records(rows), origin="test")
    link_members(engine, settings, actor="test")
    a, b = twins[0]
    merged_away = max(_member_of_key(engine, a), _member_of_key(engine, b))
    with engine.connect() as conn:
        merged_id = conn.execute(
            text("SELECT merged_id FROM member_merges WHERE merged_id IN (:a, :b)"),
            {"a": _member_of_key(engine, a), "b": _member_of_key(engine, b)},
        ).scalar_one()
    assert merged_id in (merged_away, min(_member_of_key(engine, a), _member_of_key(engine, b)))
    unmerge(engine, settings, member_id=merged_id, actor="test", reason="twins, not one person")
    assert member(engine, a) != member(engine, b)
    run = link_members(engine, settings, actor="test")
    assert member(engine, a) != member(engine, b)
    assert run.already_decided >= 1


def _member_of_key(engine: Engine, key: str) -> str:
    """The member the key was founded with (ids derive from the founding key)."""
    from nextbest.identity.graph import member_id_for

    with engine.connect() as conn:
        email = conn.execute(
            text(
                "SELECT i2.key FROM identifiers i JOIN identifiers i2"
                " ON i2.first_event_id = i.first_event_id"
                " WHERE i.key = :k AND i2.kind = 'email'"
            ),
            {"k": key},
        ).scalar_one()
    return member_id_for(email)


def _key(engine: Engine, member_id: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                text(
                    "SELECT key FROM identifiers WHERE first_event_id IN"
                    " (SELECT first_event_id FROM identifiers WHERE member_id = :m)"
                    " ORDER BY key LIMIT 1"
                ),
                {"m": member_id},
            ).scalar_one()
        )
