"""The smallest inputs behind each server error the OpenAPI fuzzing found, now 4xx naming why.

Each ran into the database as a driver error (500): an id beyond a 32-bit integer
(PostgreSQL's serial), or a NUL character, which PostgreSQL text cannot hold; or into a
``TypeError`` (a non-hex tracking signature). The OpenAPI document also said what the
handlers never send (FastAPI's 422 body as ``application/json``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine

from nextbest.api.app import create_app
from nextbest.api.deps import ROW_ID_MAX
from nextbest.api.keys_store import create_key
from nextbest.config import Settings
from nextbest.errors import InvalidRequest, NotFound
from nextbest.events.validate import check_event
from nextbest.ledger.service import Ledger
from nextbest.profiles.read import resolve_member
from tests.api.api_support import auth, purchase

TOO_BIG = ROW_ID_MAX + 1  # 2**31: one past PostgreSQL's integer


@pytest.fixture
def api(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    tracked = settings.model_copy(update={"tracking_secret": SecretStr("k")})
    with TestClient(create_app(tracked, engine=engine)) as client:
        yield client


@pytest.fixture
def admin(engine: Engine) -> dict[str, str]:
    _key, token = create_key(engine, name="regressions", roles="admin")
    return auth(token)


def _refusal(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert isinstance(error, dict)
    return error


# --- ids past the database's integer -------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", f"/v1/identity/review/{TOO_BIG}", {"decision": "accept"}, "path.candidate_id"),
        ("GET", f"/v1/audit?before={TOO_BIG}", None, "query.before"),
        ("POST", "/v1/members/m_x/unmerge", {"reason": "r", "merge_id": TOO_BIG}, "body.merge_id"),
    ],
)
def test_an_id_past_the_integer_range_is_a_422_naming_it(
    api: TestClient,
    admin: dict[str, str],
    method: str,
    path: str,
    body: dict[str, Any] | None,
    field: str,
) -> None:
    error = _refusal(api.request(method, path, json=body, headers=admin), 422)
    assert error["field"] == field
    assert str(ROW_ID_MAX) in error["reason"]


def test_the_largest_id_is_still_looked_up(api: TestClient, admin: dict[str, str]) -> None:
    response = api.post(
        f"/v1/identity/review/{ROW_ID_MAX}", json={"decision": "accept"}, headers=admin
    )
    assert response.status_code == 404, response.text


# --- NUL characters ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "field"),
    [
        ("GET", "/v1/audit?action=%00", None, {}, "query.action"),
        ("GET", "/v1/members/m_%00", None, {}, "path.identifier"),
        ("GET", "/v1/members/email:a%00@b.co/points", None, {}, "path.ref"),
        ("POST", "/v1/decisions", {"member": "\x00"}, {}, "body.member"),
        ("POST", "/v1/decisions/batch", {"segment": {"score": "\x00"}}, {}, "body.segment.score"),
        ("POST", "/v1/decisions", {"member": "m_x"}, {"Idempotency-Key": "\x00"}, None),
        ("POST", "/v1/ledger/entries/%00/reversal", {"reason": "r"}, {}, "path.entry_id"),
        (
            "POST",
            "/v1/members/m_x/points/adjustments",
            {"points": 5, "reason": "\x00"},
            {"Idempotency-Key": "k"},
            "body.reason",
        ),
        ("GET", "/v1/track/open?m=%00&s=" + "0" * 32, None, {}, "query.m"),
    ],
)
def test_a_nul_anywhere_in_a_request_is_a_422_naming_where(
    api: TestClient,
    admin: dict[str, str],
    method: str,
    path: str,
    body: dict[str, Any] | None,
    headers: dict[str, str],
    field: str | None,
) -> None:
    response = api.request(method, path, json=body, headers=admin | headers)
    error = _refusal(response, 422)
    assert error["field"] == (field or "header.idempotency-key")
    assert "NUL" in error["reason"]


def test_an_event_with_a_nul_is_dead_lettered_and_the_others_land(
    api: TestClient, admin: dict[str, str]
) -> None:
    bad_value = purchase(2, email="nul@example.com") | {"order_id": "o\x00"}
    bad_key = {"\x00": None}  # the key itself: the rejection's field writes it out
    good = purchase(3, email="fine@example.com")
    response = api.post(
        "/v1/events", content=orjson.dumps([bad_value, bad_key, good]), headers=admin
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (1, 2)
    fields = [r["field"] for r in body["rejections"]]
    assert fields == ["order_id", "\\x00"]
    assert all("NUL" in r["reason"] for r in body["rejections"])


def test_an_event_id_with_a_nul_is_refused_without_one() -> None:
    event = purchase(4) | {"event_id": "e\x00"}
    refused = check_event(event, now=datetime.now(UTC), future_tolerance=timedelta(minutes=5))
    assert refused == ("event_id", "contains a NUL character (\\x00), which no store can hold")


def test_capabilities_refuse_a_nul_themselves(engine: Engine) -> None:
    """Callers other than the API (the console, the CLI) reach them without the API guard."""
    with engine.connect() as conn, pytest.raises(NotFound, match="NUL"):
        resolve_member(conn, "m_\x00")
    ledger = Ledger(engine)
    with pytest.raises(InvalidRequest, match="reason"):
        ledger.adjust(member_id="m_x", points=1, reason="r\x00", idempotency_key="k", actor="t")
    with pytest.raises(InvalidRequest, match="idempotency key"):
        ledger.adjust(member_id="m_x", points=1, reason="r", idempotency_key="k\x00", actor="t")
    with pytest.raises(InvalidRequest, match="entry_id"):
        ledger.reverse(entry_id="e\x00", reason="r", idempotency_key="k", actor="t")


# --- tracking signatures -------------------------------------------------------------------
@pytest.mark.parametrize("signature", ["\u00e9", "zz", "0" * 31, "0" * 33])
def test_a_signature_that_is_not_hex_is_a_422(api: TestClient, signature: str) -> None:
    for path in ("/v1/track/open", "/v1/track/click"):
        params = {"m": "msg-1", "u": "https://bb.test/", "s": signature}
        assert _refusal(api.get(path, params=params), 422)["field"] == "query.s"


# --- the OpenAPI document ------------------------------------------------------------------
def test_the_document_says_errors_are_problem_json(api: TestClient) -> None:
    document = api.get("/openapi.json").json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for status, response in responses.items():
                if int(status) >= 400:
                    assert list(response["content"]) == ["application/problem+json"], (
                        method,
                        path,
                        status,
                    )
            if "requestBody" in operation:  # a body that is not UTF-8 is a 400
                assert "400" in responses, (method, path)
            if "401" in responses:  # a key over its rate limit is a 429
                assert "429" in responses, (method, path)
    assert "404" in document["paths"]["/v1/decisions/batch"]["post"]["responses"]


def test_a_body_that_is_not_utf8_is_the_documented_400(
    api: TestClient, admin: dict[str, str]
) -> None:
    response = api.post(
        "/v1/decisions",
        content=b"\xff",
        headers=admin | {"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_a_nul_in_an_api_key_is_refused_not_a_driver_error(api: TestClient) -> None:
    from nextbest.api.keys_store import parse_key

    assert parse_key("nbk_0123abcd\x00_secret") is None  # a 401 wherever it is parsed
    for path in ("/v1/members/x/consents", "/v1/members/x", "/v1/audit"):
        got = api.get(path, headers={"X-API-Key": "nbk_0123abcd\x00_secret"})
        assert got.status_code == 422, (path, got.text)
        assert "header.x-api-key" in got.text


def test_a_nul_in_a_privacy_path_is_refused_naming_it(
    api: TestClient, admin: dict[str, str]
) -> None:
    got = api.get("/v1/members/a%00b/consents", headers=admin)
    assert got.status_code == 422, got.text
    assert "NUL" in got.text
