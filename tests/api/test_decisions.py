"""``/v1/decisions`` and the assisted view over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from nextbest.config import Settings
from tests.decide.support import NOW, add_member, set_scores


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_decision_names_action_channel_time_and_why(
    client: TestClient, engine: Engine, settings: Settings, keys: dict[str, str]
) -> None:
    member = add_member(engine, settings, "A1", consents={"email/marketing": True})
    set_scores(engine, member, churn_risk=0.2, p_alive=0.9, clv_12m=60.0)
    body = {"member": "email:a1@example.com", "context": {"at": NOW.isoformat()}, "seed": 1}
    got = client.post("/v1/decisions", json=body, headers=auth(keys["admin"]))
    assert got.status_code == 200, got.text
    view = got.json()
    assert view["member_id"] == member
    assert {"action", "channel", "send_at", "propensity", "explanation"} <= set(view)
    assert 0 < view["propensity"] <= 1
    assert view["explanation"]["summary"]
    assert "filtered" not in view["explanation"]  # summary detail by default
    full = client.post(
        "/v1/decisions", json={**body, "detail": "full"}, headers=auth(keys["admin"])
    ).json()
    assert "filtered" in full["explanation"]


def test_a_retry_with_the_idempotency_key_replays_the_decision(
    client: TestClient, engine: Engine, settings: Settings, keys: dict[str, str]
) -> None:
    add_member(engine, settings, "A2", consents={"email/marketing": True})
    body = {"member": "loyalty_id:A2", "context": {"at": NOW.isoformat()}}
    headers = {**auth(keys["admin"]), "Idempotency-Key": "till-7-order-99"}
    first = client.post("/v1/decisions", json=body, headers=headers).json()
    again = client.post("/v1/decisions", json=body, headers=headers).json()
    assert again["decision_id"] == first["decision_id"]
    assert again["replayed"] is True


def test_bad_requests_name_the_field(
    client: TestClient, engine: Engine, settings: Settings, keys: dict[str, str]
) -> None:
    add_member(engine, settings, "A3")
    headers = auth(keys["admin"])
    unknown = client.post(
        "/v1/decisions",
        json={"member": "loyalty_id:A3", "context": {"channel": "fax"}},
        headers=headers,
    )
    assert unknown.status_code == 422
    assert "context.channel" in unknown.text and "fax" in unknown.text
    missing = client.post("/v1/decisions", json={"context": {}}, headers=headers)
    assert missing.status_code == 422 and "member" in missing.text
    nobody = client.post("/v1/decisions", json={"member": "loyalty_id:NOPE"}, headers=headers)
    assert nobody.status_code == 404


def test_decisions_need_the_decide_scope(client: TestClient, keys: dict[str, str]) -> None:
    got = client.post("/v1/decisions", json={"member": "x"}, headers=auth(keys["read"]))
    assert got.status_code == 403
    assert client.post("/v1/decisions", json={"member": "x"}).status_code == 401


def test_the_assisted_view_offers_the_apology_to_a_member_with_an_open_ticket(
    client: TestClient, engine: Engine, settings: Settings, keys: dict[str, str]
) -> None:
    member = add_member(engine, settings, "A4", open_ticket=True)
    set_scores(engine, member, churn_risk=0.8, clv_12m=150.0)
    url = "/v1/members/loyalty_id:A4/next-best-action?channel=call_centre"
    first = client.get(url, headers=auth(keys["admin"]))
    assert first.status_code == 200, first.text
    view = first.json()
    assert view["action"]["id"] == "service-apology"
    assert view["script"].startswith("Offer: Apology")
    # Refreshing the agent's screen shows the same decision, not a new one.
    again = client.get(url, headers=auth(keys["admin"])).json()
    assert again["decision_id"] == view["decision_id"]


def test_batch_decides_for_a_segment(
    client: TestClient, engine: Engine, settings: Settings, keys: dict[str, str]
) -> None:
    for i in range(3):
        m = add_member(engine, settings, f"B{i}", consents={"email/marketing": True})
        set_scores(engine, m, churn_risk=0.1 + 0.4 * i)
    body = {
        "segment": {"score": "churn_risk", "min": 0.4},
        "context": {"at": NOW.isoformat()},
    }
    got = client.post("/v1/decisions/batch", json=body, headers=auth(keys["admin"]))
    assert got.status_code == 200, got.text
    out = got.json()
    assert out["members"] == 2
    assert sum(out["by_action"].values()) == 2
    assert all("explanation" not in d for d in out["decisions"])
    both = client.post(
        "/v1/decisions/batch",
        json={**body, "members": ["loyalty_id:B0"]},
        headers=auth(keys["admin"]),
    )
    assert both.status_code == 422
