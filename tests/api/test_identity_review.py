"""Review queue and unmerge over HTTP: scopes, decisions, audit actor, problems."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from nextbest.members.merge import Evidence, merge_members
from nextbest.store import audit
from nextbest.store import tables as t
from nextbest.store.engine import graph_transaction
from tests.api.api_support import auth, purchase

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def two_members(client: TestClient, keys: dict[str, str]) -> tuple[str, str]:
    for event in (purchase(1, email="ann@example.com"), purchase(2, email="anne@example.com")):
        response = client.post(
            "/v1/events", content=orjson.dumps(event), headers=auth(keys["ingest"])
        )
        assert response.status_code == 200, response.text
    read = auth(keys["read"])
    a = client.get("/v1/members/ann@example.com", headers=read).json()["member_id"]
    b = client.get("/v1/members/anne@example.com", headers=read).json()["member_id"]
    return a, b


def test_review_accept_merges_and_records_the_reviewer(
    client: TestClient, keys: dict[str, str], engine: Engine
) -> None:
    a, b = two_members(client, keys)
    with graph_transaction(engine) as conn:
        conn.execute(
            insert(t.link_candidates).values(
                left_member=min(a, b),
                right_member=max(a, b),
                match_probability=0.9,
                match_weight=3.2,
                explanation=orjson.dumps({"email": 3.2}).decode(),
                model_version="v1",
                status="pending",
                created_at=NOW,
            )
        )
    listed = client.get("/v1/identity/review", headers=auth(keys["read"]))
    assert listed.status_code == 200
    [candidate] = listed.json()
    assert candidate["weights"] == {"email": 3.2}

    path = f"/v1/identity/review/{candidate['candidate_id']}"
    body = {"decision": "accept", "note": "same phone on file"}
    assert client.post(path, json=body, headers=auth(keys["read"])).status_code == 403
    done = client.post(path, json=body, headers=auth(keys["admin"]))
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "accepted"
    again = client.post(path, json=body, headers=auth(keys["admin"]))
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")

    member = client.get("/v1/members/anne@example.com", headers=auth(keys["read"])).json()
    assert {i["key"] for i in member["identifiers"]} == {
        "email:ann@example.com",
        "email:anne@example.com",
    }
    [merge] = member["merged_from"]
    assert merge["kind"] == "reviewed"
    assert merge["explanation"]["weights"] == {"email": 3.2}
    with engine.connect() as conn:
        actions = {e["action"]: e["actor"] for e in audit.entries(conn)}
    assert actions["link_accepted"].startswith("key:") and actions["link_accepted"].endswith(
        ":admin"
    )


def test_unmerge_over_http(client: TestClient, keys: dict[str, str], engine: Engine) -> None:
    a, b = two_members(client, keys)
    with graph_transaction(engine) as conn:
        _, merged = merge_members(
            conn, a, b, kind="manual", evidence=Evidence(reason="t"), actor="t", now=NOW
        )
    path = f"/v1/members/{merged}/unmerge"
    assert client.post(path, json={"reason": "x"}, headers=auth(keys["read"])).status_code == 403
    missing = client.post(path, json={}, headers=auth(keys["admin"]))
    assert missing.status_code == 422
    done = client.post(path, json={"reason": "two people"}, headers=auth(keys["admin"]))
    assert done.status_code == 200, done.text
    assert done.json()["identifiers_moved"] == 1
    read = auth(keys["read"])
    assert (
        client.get("/v1/members/ann@example.com", headers=read).json()["member_id"]
        != client.get("/v1/members/anne@example.com", headers=read).json()["member_id"]
    )
    gone = client.post(path, json={"reason": "again"}, headers=auth(keys["admin"]))
    assert gone.status_code == 404
