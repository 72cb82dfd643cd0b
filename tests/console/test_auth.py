"""Logging in and out, sessions, CSRF and the permission every console page declares."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from nextbest.api.roles import PERMISSIONS
from nextbest.console import users as accounts
from nextbest.console.app import ROUTERS
from nextbest.console.users import ensure_user
from nextbest.console.web import ANY_SESSION, permissions_of_page
from nextbest.errors import Unauthorized
from nextbest.store import audit
from tests.console.conftest import PASSWORD


def test_a_page_without_a_session_sends_to_login_and_back(console: TestClient) -> None:
    response = console.get("/console/account")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=/console/account"


def test_wrong_password_is_refused_without_saying_which_part(
    console: TestClient, users: dict[str, str]
) -> None:
    wrong = console.post("/console/login", data={"username": users["admin"], "password": "nope"})
    unknown = console.post("/console/login", data={"username": "ghost", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert "wrong username or password" in wrong.text
    assert "wrong username or password" in unknown.text
    assert "nb_session" not in wrong.headers.get("set-cookie", "")


def test_login_sets_a_strict_httponly_cookie_and_logout_ends_the_session(
    console: TestClient, login: Callable[[str], str]
) -> None:
    csrf = login("analyst")
    assert console.get("/console/account").status_code == 200
    cookie = console.cookies.get("nb_session")
    assert cookie
    out = console.post("/console/logout", data={"csrf": csrf})
    assert out.status_code == 303
    console.cookies.set("nb_session", cookie, path="/console")  # replaying the old cookie
    assert console.get("/console/account").status_code == 303


def test_a_post_without_the_csrf_token_is_refused(
    console: TestClient, login: Callable[[str], str]
) -> None:
    login("analyst")
    assert console.post("/console/logout", data={}).status_code == 403
    assert console.post("/console/logout", data={"csrf": "forged"}).status_code == 403
    assert console.get("/console/account").status_code == 200  # still logged in


def test_next_never_leaves_the_console(console: TestClient, users: dict[str, str]) -> None:
    response = console.post(
        "/console/login",
        data={"username": users["admin"], "password": PASSWORD, "next": "https://evil.test/"},
    )
    assert response.headers["location"] == "/console/"


def test_every_console_route_declares_exactly_one_permission() -> None:
    for router in ROUTERS:
        for route in router.routes:
            path = getattr(route, "path", "?")
            found = permissions_of_page(route)
            if path == "/console/login":
                assert found == [], path
                continue
            assert len(found) == 1, (path, found)
            assert found[0] in PERMISSIONS or found[0] == ANY_SESSION, (path, found)


def test_ensure_user_resets_the_password_and_ends_old_sessions(engine: Engine) -> None:
    ensure_user(engine, username="demo", password="first-password", roles="admin")
    first = accounts.login(engine, "demo", "first-password")
    again = ensure_user(engine, username="demo", password="second-password", roles="analyst")
    assert again.roles == ("analyst",)
    assert accounts.session_of(engine, first.token) is None
    with pytest.raises(Unauthorized):
        accounts.login(engine, "demo", "first-password")
    assert accounts.login(engine, "demo", "second-password").user.roles == ("analyst",)


def test_a_disabled_user_cannot_log_in_and_loses_sessions(engine: Engine) -> None:
    accounts.create_user(engine, username="temp", password="temp-password", roles="analyst")
    live = accounts.login(engine, "temp", "temp-password")
    accounts.disable_user(engine, "temp", actor="user:boss")
    assert accounts.session_of(engine, live.token) is None
    with pytest.raises(Unauthorized):
        accounts.login(engine, "temp", "temp-password")
    with engine.connect() as conn:
        actions = [e["action"] for e in audit.entries(conn, "user:temp")]
    assert actions == ["console_user_disable", "console_login", "console_user_create"]


def test_password_guessing_is_throttled_per_name(
    console: TestClient, users: dict[str, str]
) -> None:
    from nextbest.console.pages.auth import LOGIN_BURST

    for _ in range(LOGIN_BURST):
        guess = console.post("/console/login", data={"username": users["admin"], "password": "x"})
        assert guess.status_code == 401
    right = console.post("/console/login", data={"username": users["admin"], "password": PASSWORD})
    assert right.status_code == 429  # even the right password waits now
    assert int(right.headers["Retry-After"]) >= 1
    other = console.post(
        "/console/login", data={"username": users["analyst"], "password": PASSWORD}
    )
    assert other.status_code == 303  # another name is not locked out
