"""Points over HTTP on SQLite and PostgreSQL: earn by ingesting, redeem, adjust, reverse.

The app's ledger runs on the wall clock, so the purchase is dated a few minutes ago (its
points would otherwise have expired, or the event be refused as in the future).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

import nextbest
from nextbest.ledger import repository as repo
from nextbest.ledger.earn import EarnContext, Line, PurchaseFacts, quote_purchase
from nextbest.ledger.program import load_program
from nextbest.store import tables as t
from nextbest.store.engine import write_transaction
from tests.api.api_support import auth

DEMO_FILE = Path(nextbest.__file__).parent / "ledger" / "programs" / "bean_and_bake.yaml"
DEMO = load_program(DEMO_FILE)
EMAIL = "ann@example.com"
# 57.00 USD: 57 base beans + 50 more for the beans line at x2 (demo program, tier green).
LINES = [
    {"sku": "latte", "category": "coffee", "quantity": 2, "unit_price": 3.5},
    {"sku": "house-blend", "category": "beans", "quantity": 2, "unit_price": 25.0},
]
EARNED = 107


def apply(engine: Engine) -> None:
    """Make the demo program the active one."""
    with write_transaction(engine) as conn:
        repo.save_program(
            conn, DEMO, source=DEMO_FILE.read_text(), actor="test", now=datetime.now(UTC)
        )


def bought(client: TestClient, keys: dict[str, str], *, email: str = EMAIL) -> str:
    """Ingest one purchase through the API; the member id."""
    event = {
        "type": "purchase",
        "event_id": f"buy-{email}",
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "source": "pos",
        "identifiers": {"email": email},
        "order_id": f"order-{email}",
        "lines": LINES,
        "total": 57.0,
    }
    response = client.post("/v1/events", content=orjson.dumps(event), headers=auth(keys["ingest"]))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    member: str = client.get(f"/v1/members/{email}", headers=auth(keys["read"])).json()["member_id"]
    return member


def points(client: TestClient, keys: dict[str, str], ref: str = EMAIL) -> dict[str, Any]:
    response = client.get(f"/v1/members/{ref}/points", headers=auth(keys["read"]))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def post(client: TestClient, path: str, body: dict[str, Any], token: str, key: str | None) -> Any:
    headers = auth(token) | ({"Idempotency-Key": key} if key is not None else {})
    return client.post(path, json=body, headers=headers)


@pytest.fixture
def member(client: TestClient, keys: dict[str, str], engine: Engine) -> str:
    apply(engine)
    return bought(client, keys)


def test_a_purchase_earns_what_the_rules_say(
    client: TestClient, keys: dict[str, str], member: str
) -> None:
    quote = quote_purchase(
        DEMO,
        PurchaseFacts(
            "o",
            datetime.now(UTC),
            57.0,
            "store",
            tuple(Line(x["sku"], x["category"], x["quantity"], x["unit_price"]) for x in LINES),
        ),
        EarnContext(),
    )
    assert quote.points == EARNED
    view = points(client, keys)
    assert view["member_id"] == member
    assert view["balance"] == EARNED
    assert view["currency"] == "beans"
    assert view["program"]["version"] == DEMO.version
    assert view["qualifying"] == {"currency": "tier_beans", "balance": EARNED}
    assert view["expiring_soon"] == []  # 6-month lots, 30-day notice

    history = client.get(
        f"/v1/members/{member}/points/history?limit=5", headers=auth(keys["read"])
    ).json()
    [entry] = history["entries"]
    assert entry["kind"] == "earn" and entry["points"] == EARNED
    assert entry["detail"]["rules"] == quote.explain()
    assert {r["rule"] for r in entry["detail"]["rules"]} == {"base", "multiplier:category=beans"}

    tier = client.get(f"/v1/members/{EMAIL}/tier", headers=auth(keys["read"])).json()
    assert tier["member_id"] == member
    assert (tier["tier"], tier["next_tier"], tier["needed"]) == ("green", "gold", 300 - EARNED)
    assert tier["qualifying"] == EARNED and tier["currency"] == "tier_beans"
    assert tier["grace_until"] is None


def test_a_redemption_spends_once_per_key(
    client: TestClient, keys: dict[str, str], member: str
) -> None:
    path = f"/v1/members/{EMAIL}/points/redemptions"
    body = {"reward_id": "drip-coffee", "quantity": 1}
    first = post(client, path, body, keys["ingest"], "till-7:receipt-1")
    assert first.status_code == 201, first.text
    done = first.json()
    assert done["replayed"] is False
    assert (done["kind"], done["points"], done["member_id"]) == ("burn", -80, member)
    assert done["actor"] == "ingest"  # the key's name
    assert points(client, keys)["balance"] == EARNED - 80

    again = post(client, path, body, keys["ingest"], "till-7:receipt-1")
    assert again.status_code == 200, again.text
    assert again.json()["replayed"] is True
    assert again.json()["entry_id"] == done["entry_id"]
    assert points(client, keys)["balance"] == EARNED - 80

    other = post(client, path, {**body, "quantity": 2}, keys["ingest"], "till-7:receipt-1")
    assert other.status_code == 409, other.text
    assert other.json()["type"] == "urn:nextbest:problem:conflict"
    assert "till-7:receipt-1" in other.json()["detail"]

    short = post(client, path, {"reward_id": "pastry"}, keys["ingest"], "till-7:receipt-2")
    assert short.status_code == 409, short.text
    assert short.headers["content-type"] == "application/problem+json"
    problem = short.json()
    assert problem["type"] == "urn:nextbest:problem:insufficient-points"
    assert problem["title"] == "Insufficient points"
    assert "has 27 beans" in problem["detail"] and "needs 120" in problem["detail"]
    assert (problem["available"], problem["needed"]) == (27, 120)
    assert points(client, keys)["balance"] == EARNED - 80

    unknown = post(client, path, {"reward_id": "yacht"}, keys["ingest"], "till-7:receipt-3")
    assert unknown.status_code == 404, unknown.text
    assert "unknown reward 'yacht'" in unknown.json()["detail"]


def test_every_write_needs_an_idempotency_key_and_its_scope(
    client: TestClient, keys: dict[str, str], member: str
) -> None:
    path = f"/v1/members/{member}/points/redemptions"
    missing = post(client, path, {"reward_id": "drip-coffee"}, keys["ingest"], None)
    assert missing.status_code == 400, missing.text
    problem = missing.json()
    assert problem["type"] == "urn:nextbest:problem:invalid-header"
    assert "Idempotency-Key" in problem["detail"]
    assert problem["errors"][0]["field"] == "Idempotency-Key"
    blank = post(client, path, {"reward_id": "drip-coffee"}, keys["ingest"], "  ")
    assert blank.status_code == 400

    assert post(client, path, {"reward_id": "drip-coffee"}, keys["read"], "k").status_code == 403
    adjust = f"/v1/members/{member}/points/adjustments"
    credit = {"points": 50, "reason": "coffee was cold"}
    denied = post(client, adjust, credit, keys["both"], "adj-1")
    assert denied.status_code == 403, denied.text
    assert denied.json()["type"] == "urn:nextbest:problem:forbidden"
    assert post(client, adjust, credit, keys["admin"], None).status_code == 400
    zero = post(client, adjust, {"points": 0, "reason": "nothing"}, keys["admin"], "adj-0")
    assert zero.status_code == 422, zero.text
    assert zero.json()["type"] == "urn:nextbest:problem:unprocessable"
    no_reason = post(client, adjust, {"points": 5, "reason": " "}, keys["admin"], "adj-00")
    assert no_reason.status_code == 422, no_reason.text
    assert points(client, keys)["balance"] == EARNED


def test_adjustments_and_reversals_move_points_and_are_audited(
    client: TestClient, keys: dict[str, str], member: str, engine: Engine
) -> None:
    redeemed = post(
        client,
        f"/v1/members/{EMAIL}/points/redemptions",
        {"reward_id": "drip-coffee"},
        keys["ingest"],
        "r-1",
    ).json()
    adjust = f"/v1/members/{EMAIL}/points/adjustments"
    credit = post(client, adjust, {"points": 50, "reason": "coffee was cold"}, keys["admin"], "a-1")
    assert credit.status_code == 201, credit.text
    assert credit.json()["kind"] == "adjust" and credit.json()["actor"] == "admin"
    assert points(client, keys)["balance"] == EARNED - 80 + 50
    debit = post(client, adjust, {"points": -20, "reason": "double credit"}, keys["admin"], "a-2")
    assert debit.status_code == 201 and debit.json()["points"] == -20
    assert points(client, keys)["balance"] == EARNED - 80 + 30
    too_much = post(client, adjust, {"points": -999, "reason": "oops"}, keys["admin"], "a-3")
    assert too_much.status_code == 409
    assert too_much.json()["type"] == "urn:nextbest:problem:insufficient-points"

    reversal = f"/v1/ledger/entries/{redeemed['entry_id']}/reversal"
    undone = post(client, reversal, {"reason": "till error"}, keys["admin"], "rev-1")
    assert undone.status_code == 201, undone.text
    assert (undone.json()["kind"], undone.json()["points"]) == ("reverse", 80)
    assert undone.json()["reverses"] == redeemed["entry_id"]
    assert points(client, keys)["balance"] == EARNED + 30
    replay = post(client, reversal, {"reason": "till error"}, keys["admin"], "rev-1")
    assert replay.status_code == 200 and replay.json()["replayed"] is True
    twice = post(client, reversal, {"reason": "till error"}, keys["admin"], "rev-2")
    assert twice.status_code == 409, twice.text
    assert "already reversed" in twice.json()["detail"]
    assert points(client, keys)["balance"] == EARNED + 30
    assert post(client, reversal, {"reason": "x"}, keys["ingest"], "rev-3").status_code == 403
    gone = post(client, "/v1/ledger/entries/le_nope/reversal", {"reason": "x"}, keys["admin"], "r")
    assert gone.status_code == 404

    with engine.connect() as conn:
        actions = conn.execute(
            select(t.audit_log.c.action, t.audit_log.c.actor)
            .where(t.audit_log.c.action.like("ledger_%"))
            .order_by(t.audit_log.c.audit_id)
        ).all()
    assert [tuple(a) for a in actions] == [
        ("ledger_adjust", "admin"),
        ("ledger_adjust", "admin"),
        ("ledger_reverse", "admin"),
    ]


def test_reads_name_what_is_missing(
    client: TestClient, keys: dict[str, str], engine: Engine
) -> None:
    bought(client, keys)  # before any program: the purchase earns nothing
    none = client.get(f"/v1/members/{EMAIL}/points", headers=auth(keys["read"]))
    assert none.status_code == 404, none.text  # NoProgram is a NotFound
    assert "no loyalty program is active" in none.json()["detail"]
    apply(engine)
    assert points(client, keys)["balance"] == 0
    nobody = client.get("/v1/members/nobody@example.com/tier", headers=auth(keys["read"]))
    assert nobody.status_code == 404
    assert client.get(f"/v1/members/{EMAIL}/points").status_code == 401
    assert (
        client.get(f"/v1/members/{EMAIL}/points", headers=auth(keys["ingest"])).status_code == 403
    )
