from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from nextbest.api.app import create_app
from nextbest.api.keys_store import (
    KeyCache,
    create_key,
    list_keys,
    parse_scopes,
    revoke_key,
    verify_key,
)
from nextbest.config import Settings
from nextbest.errors import Conflict, NotFound, Unauthorized
from tests.api.api_support import auth


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:nextbest:problem:")
    assert body["title"] and body["detail"]
    return body


def test_health_checks_database_without_key(client: TestClient, engine: Engine) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == engine.dialect.name
    assert body["schema_revision"]


def test_openapi_served_and_no_cdn_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/events" in spec["paths"]
    assert "/v1/members/{identifier}" in spec["paths"]
    assert client.get("/docs").status_code == 404


def test_unknown_route_is_problem_json(client: TestClient) -> None:
    assert_problem(client.get("/nope"), 404)


def test_key_lifecycle(engine: Engine) -> None:
    key, token = create_key(engine, name="till-42", scopes="read, ingest")
    assert token.startswith(f"nbk_{key.key_id}_")
    assert key.scopes == ("ingest", "read")
    assert verify_key(engine, token) == key
    stored = list_keys(engine)
    assert [k.key_id for k in stored] == [key.key_id]
    assert token.split("_", 2)[2] not in repr(stored)

    revoked = revoke_key(engine, key.key_id)
    assert not revoked.active
    with pytest.raises(Unauthorized, match="revoked"):
        verify_key(engine, token)
    with pytest.raises(Conflict):
        revoke_key(engine, key.key_id)
    with pytest.raises(NotFound):
        revoke_key(engine, "missing")


@pytest.mark.parametrize(
    "presented",
    ["", "garbage", "nbk__x", "nbk_0000000000000000_wrongsecret"],
)
def test_bad_keys_are_unauthorized(engine: Engine, presented: str) -> None:
    with pytest.raises(Unauthorized):
        verify_key(engine, presented)


def test_wrong_secret_for_known_id(engine: Engine) -> None:
    key, _token = create_key(engine, name="k", scopes="read")
    with pytest.raises(Unauthorized, match="unknown"):
        verify_key(engine, f"nbk_{key.key_id}_{'x' * 43}")


@pytest.mark.parametrize(("text", "message"), [("read,fly", "unknown scope"), ("", "at least")])
def test_scopes_are_checked(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_scopes(text)


def test_cache_serves_within_ttl_then_rechecks(engine: Engine) -> None:
    now = [0.0]
    cache = KeyCache(engine, ttl=10, clock=lambda: now[0])
    key, token = create_key(engine, name="k", scopes="ingest")
    assert cache.verify(token) == key
    revoke_key(engine, key.key_id)
    assert cache.verify(token) == key  # still cached
    now[0] = 11.0
    with pytest.raises(Unauthorized):
        cache.verify(token)


def test_missing_unknown_and_revoked_keys_get_401(
    client: TestClient, engine: Engine, keys: dict[str, str]
) -> None:
    body = assert_problem(client.get("/v1/members/email:a@b.co"), 401)
    assert "API key" in body["detail"]
    bogus = "nbk_0123456789abcdef_" + "x" * 43
    assert_problem(client.get("/v1/members/email:a@b.co", headers=auth(bogus)), 401)
    assert_problem(client.post("/v1/events", content=b"[]", headers={"X-API-Key": "nope"}), 401)

    key, token = create_key(engine, name="gone", scopes="read")
    revoke_key(engine, key.key_id)
    resp = client.get("/v1/members/email:a@b.co", headers=auth(token))
    assert "revoked" in assert_problem(resp, 401)["detail"]


def test_wrong_scope_gets_403_and_admin_passes(client: TestClient, keys: dict[str, str]) -> None:
    resp = client.post("/v1/events", content=b"{}", headers=auth(keys["read"]))
    assert "ingest" in assert_problem(resp, 403)["detail"]
    resp = client.get("/v1/members/email:a@b.co", headers={"X-API-Key": keys["ingest"]})
    assert_problem(resp, 403)
    # Admin implies every scope: the request reaches the route (and fails there, on the body).
    assert_problem(client.post("/v1/events", content=b"{", headers=auth(keys["admin"])), 400)


def test_keys_can_be_switched_off_for_demos(settings: Settings, engine: Engine) -> None:
    demo = settings.model_copy(update={"api_require_keys": False})
    with TestClient(create_app(demo, engine=engine)) as client:
        assert client.post("/v1/events", content=b"{").status_code == 400


def test_roles_are_stored_and_verified(engine: Engine) -> None:
    key, token = create_key(engine, name="desk", roles="service_agent, analyst")
    assert key.roles == ("analyst", "service_agent") and key.scopes == ()
    assert verify_key(engine, token) == key
    assert key.allows("consents:write") and key.allows("audit:read")
    assert not key.allows("ledger:adjust")
    assert "roles analyst, service_agent" in key.describe()
    both, _token = create_key(engine, name="mixed", roles="ingest", scopes="read")
    (stored,) = [k for k in list_keys(engine) if k.key_id == both.key_id]
    assert (stored.roles, stored.scopes) == (("ingest",), ("read",))


@pytest.mark.parametrize(
    ("roles", "scopes", "message"),
    [("", "", "at least one role"), ("owner", "", "unknown role"), ("", "fly", "unknown scope")],
)
def test_keys_need_known_roles(engine: Engine, roles: str, scopes: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_key(engine, name="k", roles=roles, scopes=scopes)
