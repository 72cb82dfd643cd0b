from __future__ import annotations

from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from nextbest.store import tables as t
from tests.api.api_support import auth, purchase


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def post(client: TestClient, token: str, body: Any) -> Any:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post(
        "/v1/events", content=content, headers={**auth(token), "content-type": "application/json"}
    )


@pytest.mark.parametrize(
    "shape",
    [
        lambda evs: evs[0],
        lambda evs: evs,
        lambda evs: {"events": evs},
    ],
    ids=["one", "array", "wrapped"],
)
def test_accepts_one_array_or_wrapped(
    client: TestClient, engine: Engine, keys: dict[str, str], shape: Any
) -> None:
    events = [purchase(1, email="a@x.com"), purchase(2, email="b@x.com")]
    body = shape(events)
    expected = 1 if isinstance(body, dict) and "events" not in body else 2
    response = post(client, keys["ingest"], body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["accepted"] == expected
    assert result["rejected"] == 0
    assert result["members_created"] == expected
    assert count(engine, t.events) == expected


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "(body)"),
        (b"", "(body)"),
        (b'"a string"', "(body)"),
        (b"[]", "events"),
        (b'{"events": 3}', "events"),
    ],
)
def test_unreadable_body_is_400(
    client: TestClient, keys: dict[str, str], body: bytes, field: str
) -> None:
    response = post(client, keys["ingest"], body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["errors"][0]["field"] == field


def test_all_rejected_is_422_with_field_and_reason(
    client: TestClient, engine: Engine, keys: dict[str, str]
) -> None:
    bad = [purchase(1, email="a@x.com") | {"total": 99.0}, {"type": "teleport", "event_id": "t"}, 7]
    response = post(client, keys["ingest"], bad)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["status"] == 422
    errors = {e["location"]: e for e in problem["errors"]}
    assert errors["events[0]"]["field"] == "total"
    assert "does not equal" in errors["events[0]"]["reason"]
    assert errors["events[0]"]["event_id"] == "p-1"
    assert errors["events[1]"]["field"] == "type"
    assert "expected a JSON object" in errors["events[2]"]["reason"]
    assert count(engine, t.events) == 0
    assert count(engine, t.dead_letters) == 3


def test_mixed_batch_keeps_the_valid_ones(
    client: TestClient, engine: Engine, keys: dict[str, str]
) -> None:
    batch = [
        purchase(1, email="a@x.com"),
        purchase(2, email="not-an-email"),
        purchase(3, pos_card="C-9"),
    ]
    response = post(client, keys["ingest"], {"events": batch})
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["accepted"], result["rejected"]) == (2, 1)
    [rejection] = result["rejections"]
    assert rejection == {
        "location": "events[1]",
        "field": "identifiers.email",
        "reason": rejection["reason"],
        "event_id": "p-2",
    }
    assert "not an email" in rejection["reason"]
    assert count(engine, t.events) == 2


def test_repost_is_a_no_op(client: TestClient, engine: Engine, keys: dict[str, str]) -> None:
    batch = [purchase(i, email=f"m{i % 3}@x.com") for i in range(9)]
    first = post(client, keys["ingest"], batch).json()
    assert first["accepted"] == 9
    assert first["members_created"] == 3
    with engine.connect() as conn:
        before = conn.execute(sa.select(t.members).order_by(t.members.c.member_id)).all()
        profiles_before = conn.execute(sa.select(t.profiles.c.member_id, t.profiles.c.spend)).all()

    again = post(client, keys["ingest"], batch)
    assert again.status_code == 200, again.text
    second = again.json()
    assert (second["accepted"], second["duplicates"], second["members_created"]) == (0, 9, 0)
    with engine.connect() as conn:
        assert conn.execute(sa.select(t.members).order_by(t.members.c.member_id)).all() == before
        assert sorted(
            conn.execute(sa.select(t.profiles.c.member_id, t.profiles.c.spend)).all()
        ) == sorted(profiles_before)
    assert count(engine, t.events) == 9


def test_wrong_method_is_problem_json(client: TestClient, keys: dict[str, str]) -> None:
    response = client.put("/v1/events", headers=auth(keys["ingest"]))
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/problem+json")
