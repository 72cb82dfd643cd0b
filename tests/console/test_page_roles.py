"""Every console page refuses exactly the roles whose permissions lack its own (table-driven
over the app's routes, so a new page is covered the day it is added)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from nextbest.api.roles import ROLES
from nextbest.console.app import ROUTERS
from nextbest.console.web import ANY_SESSION, permissions_of_page

# Routes a role check cannot cover as a plain call: logging in needs no session, logging
# out ends the one the test is using (test_auth covers both).
SKIP = {"/console/login", "/console/logout"}


def _routes() -> list[tuple[str, str, str]]:
    found = []
    for router in ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute) or route.path in SKIP:
                continue
            (permission,) = permissions_of_page(route)
            for method in sorted(route.methods - {"HEAD"}):
                found.append((method, route.path, permission))
    return found


def _concrete(path: str) -> str:
    # Path parameters get a value naming nothing: the permission check comes first.
    return re.sub(r"\{[^}]+\}", "nothing-here", path)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_page_admits_exactly_the_roles_granting_its_permission(
    role: str, console: TestClient, login: Callable[[str], str]
) -> None:
    csrf = login(role)
    granted = ROLES[role]
    for method, path, permission in _routes():
        url = _concrete(path)
        if method == "GET":
            response = console.get(url)
        else:
            response = console.request(
                method, url, data={"csrf": csrf}, headers={"X-CSRF-Token": csrf}
            )
        allowed = permission == ANY_SESSION or permission in granted
        if allowed:
            assert response.status_code != 403, (role, method, path, response.text[:300])
            assert response.status_code < 500, (role, method, path, response.text[:300])
        else:
            assert response.status_code == 403, (role, method, path, response.status_code)
            assert permission in response.text  # the page says what is missing
