"""Roles over every route: each route declares one permission, and each role (and legacy
scope) is refused exactly the routes whose permission it lacks.

Enumerates ``create_app(...).routes``, so a new endpoint without a permission fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.routing import BaseRoute

from nextbest.api.app import create_app
from nextbest.api.keys_store import SCOPES, create_key
from nextbest.api.roles import LEGACY_SCOPES, PERMISSIONS, ROLES, permissions_of, roles_granting
from nextbest.api.security import permissions_of_route, require_permission
from nextbest.config import Settings
from tests.api.api_support import auth

# Public on purpose: health and the schema; the tracking links carry their own signature.
PUBLIC_PATHS = {"/health", "/openapi.json"}
PUBLIC_PREFIXES = ("/v1/track",)
PATH_VALUES = {"candidate_id": "1", "entry_id": "le_none"}


def all_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute, included routers' too (newer FastAPI keeps them behind a wrapper)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from all_routes(included.routes)


def api_routes(settings: Settings, engine: Engine) -> list[APIRoute]:
    app = create_app(settings, engine=engine)
    return [
        r
        for r in all_routes(app.routes)
        if r.path not in PUBLIC_PATHS and not r.path.startswith(PUBLIC_PREFIXES)
    ]


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: PATH_VALUES.get(m.group(1), "x"), path)


def test_every_route_declares_exactly_one_permission(settings: Settings, engine: Engine) -> None:
    routes = api_routes(settings, engine)
    assert len(routes) >= 15
    wrong = {
        f"{sorted(r.methods or ())} {r.path}": permissions_of_route(r)
        for r in routes
        if len(permissions_of_route(r)) != 1
    }
    assert wrong == {}, "declare one permission per route (nextbest.api.deps *Key aliases)"
    for route in routes:
        assert permissions_of_route(route)[0] in PERMISSIONS


def test_public_routes_declare_none(settings: Settings, engine: Engine) -> None:
    app = create_app(settings, engine=engine)
    public = [
        r
        for r in all_routes(app.routes)
        if r.path in PUBLIC_PATHS or r.path.startswith(PUBLIC_PREFIXES)
    ]
    assert {r.path for r in public} >= {"/health", "/v1/track/open", "/v1/track/click"}
    assert all(permissions_of_route(r) == [] for r in public)


GRANTS = [pytest.param("role", name, id=f"role-{name}") for name in ROLES] + [
    pytest.param("scope", name, id=f"legacy-{name}") for name in SCOPES
]


@pytest.mark.parametrize(("kind", "name"), GRANTS)
def test_key_is_refused_exactly_what_it_lacks(
    settings: Settings, engine: Engine, kind: str, name: str
) -> None:
    if kind == "role":
        _key, token = create_key(engine, name=f"k-{name}", roles=name)
        granted = ROLES[name]
    else:
        _key, token = create_key(engine, name=f"k-{name}", scopes=name)
        granted = LEGACY_SCOPES[name]
    headers = {**auth(token), "Idempotency-Key": "roles-test"}
    mismatches: list[str] = []
    with TestClient(create_app(settings, engine=engine)) as client:
        for route in api_routes(settings, engine):
            (permission,) = permissions_of_route(route)
            for method in sorted(route.methods or ()):
                body: Any = {} if method in {"POST", "PUT", "PATCH"} else None
                resp = client.request(method, concrete(route.path), headers=headers, json=body)
                allowed = permission in granted
                refused = resp.status_code == 403
                if resp.status_code == 401 or refused == allowed:
                    mismatches.append(f"{method} {route.path} ({permission}): {resp.status_code}")
                elif refused:
                    detail = resp.json()["detail"]
                    assert permission in detail and name in detail, detail
    assert mismatches == []


def test_roles_are_least_privilege_as_documented() -> None:
    assert ROLES["admin"] == frozenset(PERMISSIONS)
    assert ROLES["ingest"] == {"events:write"}
    analyst = ROLES["analyst"]
    assert "audit:read" in analyst
    assert all(p.endswith(":read") for p in analyst), "analysts never write"
    assert analyst < ROLES["marketer"]
    assert ROLES["marketer"] - analyst == {"decisions:decide", "approvals:propose"}
    # Four eyes: only admins approve, and the proposer may never approve their own change.
    assert roles_granting("approvals:decide") == ("admin",)
    assert {"members:read", "ledger:read", "decisions:decide", "consents:write", "inbox:read"} <= (
        ROLES["service_agent"]
    )
    assert not {"members:write", "ledger:adjust", "privacy:erase"} & ROLES["service_agent"]
    # Every permission some non-admin role needs is granted by admin; every role is known.
    for permission in PERMISSIONS:
        assert "admin" in roles_granting(permission)


def test_legacy_scopes_keep_their_old_meaning() -> None:
    # What the scope admitted before roles: admin everything, read the reads.
    assert permissions_of(roles=(), scopes=("admin",)) == frozenset(PERMISSIONS)
    assert permissions_of(roles=(), scopes=("ingest",)) == {"events:write", "ledger:redeem"}
    assert permissions_of(roles=(), scopes=("decide",)) == {"decisions:decide"}
    read = permissions_of(roles=(), scopes=("read",))
    assert {"members:read", "ledger:read", "inbox:read", "inbox:write"} <= read
    assert "audit:read" not in read  # the audit log is new: analysts and admins only


def test_unknown_permission_is_refused_at_definition() -> None:
    with pytest.raises(ValueError, match="unknown permission"):
        require_permission("events:delete")


def test_forbidden_names_permission_and_roles(client: TestClient, engine: Engine) -> None:
    _key, token = create_key(engine, name="ana", roles="analyst")
    resp = client.post("/v1/events", content=b"[]", headers=auth(token))
    assert resp.status_code == 403, resp.text
    detail = resp.json()["detail"]
    assert "'events:write'" in detail
    assert "roles analyst" in detail
    assert "granted by roles: admin, ingest" in detail
