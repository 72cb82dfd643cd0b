"""``GET /v1/audit`` and the audit rows that key creation and revocation leave."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from nextbest.api.keys_store import create_key, revoke_key
from tests.api.api_support import auth


def test_audit_lists_newest_first_and_filters(client: TestClient, engine: Engine) -> None:
    _analyst, token = create_key(engine, name="analyst", roles="analyst", actor="cli:root")
    gone, _t = create_key(engine, name="old till", scopes="ingest", actor="cli:root")
    revoke_key(engine, gone.key_id, actor="cli:ops")

    resp = client.get("/v1/audit", headers=auth(token))
    assert resp.status_code == 200, resp.text
    rows = resp.json()
    assert [(r["action"], r["actor"]) for r in rows] == [
        ("api_key_revoke", "cli:ops"),
        ("api_key_create", "cli:root"),
        ("api_key_create", "cli:root"),
    ]
    assert rows[0]["subject"] == f"key:{gone.key_id}"
    assert rows[0]["detail"] == {"name": "old till", "roles": [], "scopes": ["ingest"]}
    assert rows[2]["detail"]["roles"] == ["analyst"]
    assert rows[0]["at"].endswith(("+00:00", "Z"))
    assert rows[0]["audit_id"] > rows[1]["audit_id"] > rows[2]["audit_id"]

    def get(**params: str | int) -> list[dict[str, object]]:
        found = client.get("/v1/audit", params=params, headers=auth(token))
        assert found.status_code == 200, found.text
        result: list[dict[str, object]] = found.json()
        return result

    assert [r["action"] for r in get(action="api_key_create")] == ["api_key_create"] * 2
    assert [r["action"] for r in get(subject=f"key:{gone.key_id}")] == [
        "api_key_revoke",
        "api_key_create",
    ]
    assert len(get(limit=1)) == 1
    assert [r["audit_id"] for r in get(before=rows[0]["audit_id"])] == [
        rows[1]["audit_id"],
        rows[2]["audit_id"],
    ]
    assert get(action="merge") == []
    assert client.get("/v1/audit", params={"limit": 0}, headers=auth(token)).status_code == 422


def test_audit_needs_audit_read(client: TestClient, engine: Engine) -> None:
    _k, ingest = create_key(engine, name="till", roles="ingest")
    _k, legacy_read = create_key(engine, name="app", scopes="read")
    _k, admin = create_key(engine, name="root", scopes="admin")
    assert client.get("/v1/audit").status_code == 401
    assert client.get("/v1/audit", headers=auth(ingest)).status_code == 403
    assert client.get("/v1/audit", headers=auth(legacy_read)).status_code == 403
    assert client.get("/v1/audit", headers=auth(admin)).status_code == 200
