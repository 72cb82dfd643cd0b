"""The console app on each database, with one console user per role.

``login(client, role)`` logs that role's user in and returns the session's CSRF token,
which every POST must carry (form field ``csrf``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from nextbest.api.roles import ROLES
from nextbest.config import Settings
from nextbest.console.app import create_app
from nextbest.console.users import create_user

PASSWORD = "correct-horse-battery"
CSRF_INPUT = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def users(engine: Engine) -> dict[str, str]:
    """A username per role: ``admin``, ``marketer``, ``analyst``, ``ingest``, ``service_agent``;
    plus ``admin2``, a second admin (approvals need someone other than the proposer)."""
    names = {}
    for role in ROLES:
        create_user(engine, username=f"{role}-user", password=PASSWORD, roles=role)
        names[role] = f"{role}-user"
    create_user(engine, username="admin2-user", password=PASSWORD, roles="admin")
    names["admin2"] = "admin2-user"
    return names


@pytest.fixture
def console(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    settings.api_require_keys = True
    with TestClient(create_app(settings, engine=engine), follow_redirects=False) as client:
        yield client


def csrf_of(html: str) -> str:
    found = CSRF_INPUT.search(html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


@pytest.fixture
def login(console: TestClient, users: dict[str, str]) -> Callable[[str], str]:
    """Log in as ``role``'s user (replacing any session); returns the CSRF token."""

    def _login(role: str) -> str:
        console.cookies.clear()
        response = console.post(
            "/console/login", data={"username": users[role], "password": PASSWORD}
        )
        assert response.status_code == 303, response.text
        return csrf_of(console.get("/console/account").text)

    return _login
