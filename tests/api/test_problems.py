from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from nextbest.api import problems
from nextbest.errors import Conflict, Forbidden, InvalidEvent, NextbestError, NotFound, Unauthorized


class Overdrawn(NextbestError):
    """A core error with no entry of its own falls back to its base class."""


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (Unauthorized("x"), 401),
        (Forbidden("x"), 403),
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (InvalidEvent(record="r", field="f", reason="why"), 400),
        (problems.BatchRejected("x", errors=[]), 422),
        (Overdrawn("x"), 400),
        (RuntimeError("x"), 500),
    ],
)
def test_one_table_maps_every_error(exc: BaseException, status: int) -> None:
    assert problems.problem_for(exc).status == status


def test_request_validation_and_crashes_are_problem_json() -> None:
    app = FastAPI()
    problems.install(app)

    @app.get("/n/{n}")
    def number(n: int) -> int:
        return n

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret detail")

    client = TestClient(app, raise_server_exceptions=False)
    response = client.get("/n/abc")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["errors"][0]["field"] == "path.n"
    assert body["type"] == "urn:nextbest:problem:validation"

    crash = client.get("/boom")
    assert crash.status_code == 500
    assert "secret detail" not in crash.text
    assert crash.json()["title"] == "Internal server error"
