"""The decision service over real stores: identifiers, facts, the log, idempotency, and
the contact budget under two hundred simultaneous decisions."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from nextbest.config import Settings
from nextbest.decide.budget import ContactBudget, MemoryBudget
from nextbest.decide.budget_redis import RedisBudget
from nextbest.decide.budget_sql import SqlBudget
from nextbest.decide.catalogue import parse_catalogue
from nextbest.decide.engine import Request
from nextbest.decide.service import DecisionService, default_catalogue
from nextbest.errors import NotFound
from nextbest.store import tables as t
from tests.decide.support import NOW, add_member, set_scores

# One action worth contacting for, on email only, under a cap of one email a day.
ONE_SLOT = """
catalogue: one-slot
cost_per_point: 0.01
breakage: 0
policy:
  caps: [{limit: 1, period: day, channel: email}]
  cooldown_hours: 0
learning: {holdout_share: 0, exploration: 0.02}
actions:
  - id: hello
    kind: message
    name: Hello
    priority: marketing
    channels: [email]
    purpose: marketing
    value: 100
    response: 0.5
    baseline: 0.0
    cost: 0.01
"""


@pytest.fixture(params=["sql", pytest.param("redis", marks=pytest.mark.redis)])
def budget(request: pytest.FixtureRequest, engine: Engine) -> Iterator[ContactBudget]:
    if request.param == "sql":
        yield SqlBudget(engine)
    else:
        url: str = request.getfixturevalue("redis_url")
        b = RedisBudget(url, prefix=f"test:{uuid.uuid4().hex}:", max_connections=64)
        yield b
        b.client.close()


def logged(engine: Engine) -> list[sa.Row[tuple[object, ...]]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(t.decisions).order_by(t.decisions.c.decision_id)))


def test_two_hundred_simultaneous_decisions_under_a_cap_of_one_contact_once(
    engine: Engine, settings: Settings, budget: ContactBudget
) -> None:
    member = add_member(engine, settings, "L1", consents={"email/marketing": True})
    service = DecisionService(engine, parse_catalogue(ONE_SLOT), budget=budget)
    barrier = threading.Barrier(200)
    views: list[dict[str, object]] = []
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            barrier.wait()
            views.append(service.decide(member, Request(at=NOW, seed=i), resolved=True))
        except BaseException as exc:  # surfaced below with the thread's error
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    service.close()
    assert errors == []
    contacts = [v for v in views if v["contacts"]]
    assert len(views) == 200
    assert len(contacts) == 1
    rows = logged(engine)
    assert len(rows) == 200
    assert sum(r.contacted for r in rows) == 1
    # The others were told why: the email cap (read before deciding, or after losing the
    # race for the slot), unless exploration had them do nothing anyway.
    capped = 0
    for row in rows:
        hello = next(c for c in orjson.loads(row.record)["candidates"] if c["action"] == "hello")
        reasons = " ".join(hello.get("filtered", []))
        capped += "cap 1 per day on email" in reasons or "concurrent decision" in reasons
    assert capped >= 150
    key = f"m:{member}:email:2027-06-01"
    assert budget.usage([key], now=NOW.timestamp()) == {key: 1}


def test_a_decision_is_logged_with_its_context_candidates_and_propensity(
    engine: Engine, settings: Settings
) -> None:
    member = add_member(
        engine, settings, "L2", consents={"email/marketing": True, "push/marketing": True}
    )
    set_scores(engine, member, churn_risk=0.2, p_alive=0.5, clv_12m=90.0)
    service = DecisionService(engine, default_catalogue(), budget=MemoryBudget())
    view = service.decide("email:l2@example.com", Request(at=NOW, seed=3, channel="email"))
    service.close()
    assert view["member_id"] == member
    (row,) = logged(engine)
    assert row.decision_id == view["decision_id"]
    assert row.action_id == view["action"]["id"]
    record = orjson.loads(row.record)
    competed = [c for c in record["candidates"] if "filtered" not in c]
    assert abs(sum(c["propensity"] for c in competed) - 1) < 1e-9
    chosen = next(c for c in competed if c["action"] == row.action_id)
    assert chosen["propensity"] == pytest.approx(row.propensity)
    assert record["request"]["channel"] == "email"
    assert record["facts"]["env"]["scores"]["clv_12m"] == 90.0
    assert row.catalogue_version == service.catalogue.version


def test_a_retry_with_the_same_key_replays_and_takes_no_second_slot(
    engine: Engine, settings: Settings
) -> None:
    member = add_member(engine, settings, "L3", consents={"email/marketing": True})
    budget = MemoryBudget()
    service = DecisionService(engine, parse_catalogue(ONE_SLOT), budget=budget)
    first = service.decide(member, Request(at=NOW, seed=9, key="k-1"), resolved=True)
    again = service.decide(member, Request(at=NOW, seed=9, key="k-1"), resolved=True)
    service.log.flush()
    later = service.decide(member, Request(at=NOW, seed=9, key="k-1"), resolved=True)
    service.close()
    assert first["contacts"] is True
    assert again["decision_id"] == later["decision_id"] == first["decision_id"]
    assert again["replayed"] is True and later["replayed"] is True
    assert budget.usage([f"m:{member}:email:2027-06-01"], now=NOW.timestamp()) == {
        f"m:{member}:email:2027-06-01": 1
    }
    assert len(logged(engine)) == 1


def test_an_open_ticket_puts_the_apology_first_on_the_till(
    engine: Engine, settings: Settings
) -> None:
    member = add_member(engine, settings, "L4", open_ticket=True)
    set_scores(engine, member, churn_risk=0.8, clv_12m=120.0)
    service = DecisionService(engine, default_catalogue(), budget=MemoryBudget())
    view = service.decide("loyalty_id:L4", Request(at=NOW, channel="pos", send_now=True))
    service.close()
    assert view["action"]["id"] == "service-apology"
    assert view["channel"] == "pos"
    why = view["explanation"]
    assert why["priority_class"] == "service"
    assert any(
        reason == "suppressed: open service ticket"
        for reasons in why["filtered"].values()
        for reason in reasons
    )


def test_an_unknown_identifier_is_not_found(engine: Engine) -> None:
    service = DecisionService(engine, default_catalogue(), budget=MemoryBudget())
    with pytest.raises(NotFound, match="nobody@example"):
        service.decide("email:nobody@example.com")
