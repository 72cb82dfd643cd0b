"""Erasure reaches Redis (the member's contact-budget counters and the event-stream entries
naming them) and reports what it cannot reach, with the reason."""

from __future__ import annotations

import orjson
import redis
import sqlalchemy as sa
from sqlalchemy import Engine

from nextbest.config import Settings
from nextbest.decide.actions import Cap, ContactPolicy
from nextbest.decide.budget import Slot
from nextbest.decide.budget_redis import RedisBudget
from nextbest.decide.governance import contact_slots, member_cap_key
from nextbest.ingest.stream import EVENT_FIELD
from nextbest.members.erasure import erase_member
from nextbest.store import tables as t
from tests.channels.support import NOW
from tests.privacy.support import ERASED, KEPT, Person, build_member

POLICY = ContactPolicy(caps=(Cap(3, "week", None), Cap(1, "day", "sms")), cooldown_hours=12)


def spend_budget(budget: RedisBudget, member: str) -> None:
    """One SMS (week cap, day cap, cool-down) and an action cap: counters keyed by the member."""
    at = NOW.timestamp()
    slots = contact_slots(POLICY, member_id=member, channel="sms", local_at=NOW)
    assert len(slots) == 3 and budget.reserve(slots, now=at) is None
    action = Slot(key=member_cap_key(member, "double_points"), limit=5, expires_at=None, reason="")
    assert budget.reserve([action], now=at) is None


def member_keys(client: redis.Redis, member: str) -> list[bytes]:
    return sorted(client.scan_iter(match=f"nextbest:cap:m:{member}:*"))


def stream_event(person: Person, n: int) -> dict[str, object]:
    return {
        "type": "app_open",
        "event_id": f"{person.loyalty_id}-stream{n}",
        "occurred_at": NOW.isoformat(),
        "source": "app",
        "identifiers": {"email": person.email},
    }


def test_erasure_clears_the_members_redis_state(
    engine: Engine, settings: Settings, redis_url: str
) -> None:
    on = settings.model_copy(update={"redis_url": redis_url})
    erased = build_member(engine, on, ERASED)
    kept = build_member(engine, on, KEPT)
    client = redis.Redis.from_url(redis_url)
    budget = RedisBudget(client)
    for member in (erased.member_id, kept.member_id):
        spend_budget(budget, member)
    for n in range(3):  # the stream keeps entries after they are acknowledged
        for person in (erased, kept):
            client.xadd(on.stream_name, {EVENT_FIELD: orjson.dumps(stream_event(person, n))})
    client.set("nextbest:cap:budget:double_points", 7)  # a program-wide counter: not theirs
    erased_keys = member_keys(client, erased.member_id)
    kept_keys = member_keys(client, kept.member_id)
    assert len(erased_keys) == len(kept_keys) >= 4

    report = erase_member(
        engine,
        f"loyalty_id:{ERASED.loyalty_id}",
        data_dir=on.data_dir,
        history_dir=on.event_history_dir,
        actor="test",
        settings=on,
        now=NOW,
    )

    assert report.counts["redis_counters"] == len(erased_keys)
    assert report.counts["redis_stream_entries"] == 3
    assert member_keys(client, erased.member_id) == []
    assert member_keys(client, kept.member_id) == kept_keys
    assert client.get("nextbest:cap:budget:double_points") == b"7"
    left = [fields[EVENT_FIELD] for _id, fields in client.xrange(on.stream_name)]
    assert len(left) == 3 and all(KEPT.email.encode() in v for v in left)
    assert not any(ERASED.email.encode() in v for v in left)
    # What stays out of reach is said, with the reason; the counts are what was stored.
    assert {"backups", "delivery_providers"} <= set(report.unreachable)
    assert "provider" in report.unreachable["delivery_providers"]
    assert report.counts["model_artefacts_naming"] == 0
    with engine.connect() as conn:
        stored = orjson.loads(conn.execute(sa.select(t.erasures.c.counts)).scalar_one())
    assert stored == report.counts
    client.close()


def test_erasure_reports_model_artefacts_that_name_the_member(
    engine: Engine, settings: Settings
) -> None:
    erased = build_member(engine, settings, ERASED)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(t.model_versions),
            [
                {
                    "version": "churn-clean",
                    "task": "churn",
                    "created_at": NOW,
                    "card": '{"members": 2}',
                    "artefact": '{"booster": "tree"}',
                },
                {
                    "version": "churn-leaky",
                    "task": "churn",
                    "created_at": NOW,
                    "card": orjson.dumps({"examples": [erased.member_id]}).decode(),
                    "artefact": '{"booster": "tree"}',
                },
            ],
        )
    report = erase_member(
        engine, ERASED.email, data_dir=settings.data_dir, actor="test", settings=settings, now=NOW
    )
    assert report.counts["model_artefacts_naming"] == 1
    assert "churn-leaky" in report.unreachable["model_versions"]
    assert "churn-clean" not in report.unreachable["model_versions"]
    assert "redis_counters" not in report.counts  # no Redis configured: nothing to clear
    with engine.connect() as conn:  # kept as it was: a retrain, not an edit, removes it
        versions = set(conn.execute(sa.select(t.model_versions.c.version)).scalars())
    assert versions == {"churn-clean", "churn-leaky"}
