"""GET and PUT /v1/members/{identifier}/consents: the profile's consent per channel and
purpose, changed through ingestion so contact governance sees the change at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from nextbest.api.app import create_app
from nextbest.api.keys_store import create_key
from nextbest.channels.dispatch import Dispatcher
from nextbest.channels.message import OutboundMessage
from nextbest.config import Settings
from nextbest.ingest.pipeline import Ingestor
from nextbest.store import tables as t
from tests.channels.support import OPEN, Clock, queue
from tests.ingest.test_pipeline import records

SIGNED_UP = "2026-01-05T10:00:00+00:00"  # before the real clock the API stamps changes with


def add_member(
    engine: Engine, settings: Settings, loyalty_id: str, *, consents: dict[str, bool] | None = None
) -> str:
    event = {
        "type": "signup",
        "event_id": f"{loyalty_id}-signup",
        "occurred_at": SIGNED_UP,
        "source": "app",
        "identifiers": {"loyalty_id": loyalty_id, "email": f"{loyalty_id.lower()}@example.com"},
        "first_name": "Ada",
        "consents": [
            {"channel": k.split("/")[0], "purpose": k.split("/")[1], "granted": v}
            for k, v in (consents or {}).items()
        ],
    }
    Ingestor(engine, settings).ingest_records(records([event]), origin="test")
    with engine.connect() as conn:
        member = conn.execute(
            sa.select(t.identifiers.c.member_id).where(
                t.identifiers.c.key == f"loyalty_id:{loyalty_id}"
            )
        ).scalar_one()
    return str(member)


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as test_client:
        yield test_client


@pytest.fixture
def auth(engine: Engine) -> dict[str, str]:
    _key, token = create_key(engine, name="privacy-desk", scopes="admin")
    return {"Authorization": f"Bearer {token}"}


def stated(body: dict[str, object]) -> dict[str, bool | None]:
    consents = body["consents"]
    assert isinstance(consents, list)
    return {f"{c['channel']}/{c['purpose']}": c["granted"] for c in consents}


def test_consents_are_read_changed_and_governance_sees_it(
    client: TestClient, engine: Engine, settings: Settings, auth: dict[str, str]
) -> None:
    member = add_member(engine, settings, "CONS01", consents={"in_app/loyalty": True})
    got = client.get("/v1/members/loyalty_id:CONS01/consents", headers=auth)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["member_id"] == member
    now = stated(body)
    assert now["in_app/loyalty"] is True
    assert now["email/marketing"] is None  # never stated
    assert len(now) == 7 * 4  # every channel and purpose

    put = client.put(
        "/v1/members/cons01@example.com/consents",
        json=[
            {"channel": "in_app", "purpose": "loyalty", "granted": False},
            {"channel": "email", "purpose": "marketing", "granted": True},
        ],
        headers=auth,
    )
    assert put.status_code == 200, put.text
    after = stated(put.json())
    assert (after["in_app/loyalty"], after["email/marketing"]) == (False, True)
    assert stated(client.get(f"/v1/members/{member}/consents", headers=auth).json()) == after
    with engine.connect() as conn:
        types = list(
            conn.execute(sa.select(t.events.c.type).where(t.events.c.member_id == member)).scalars()
        )
    assert types.count("profile_update") == 1

    # The withdrawal rules the very next dispatch: the in-app message is suppressed.
    queue(engine, OutboundMessage("c-1", member, "in_app", "vip_milestone", purpose="loyalty"))
    report = Dispatcher(engine, settings, policy=OPEN, clock=Clock()).run_once()
    assert (report.sent, report.suppressed) == (0, 1)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"channel": "fax", "purpose": "loyalty", "granted": True}, "channel"),
        ({"channel": "email", "purpose": "spam", "granted": True}, "purpose"),
        ({"channel": "email", "purpose": "loyalty", "granted": "maybe"}, "granted"),
        ({"channel": "email", "purpose": "loyalty"}, "granted"),
    ],
)
def test_a_bad_consent_is_a_422_naming_the_field(
    client: TestClient,
    engine: Engine,
    settings: Settings,
    auth: dict[str, str],
    change: dict[str, object],
    field: str,
) -> None:
    add_member(engine, settings, "CONS02")
    got = client.put("/v1/members/loyalty_id:CONS02/consents", json=[change], headers=auth)
    assert got.status_code == 422, got.text
    fields = [e["field"] for e in got.json()["errors"]]
    assert fields == [f"body.0.{field}"]


def test_unknown_member_and_empty_body(
    client: TestClient, engine: Engine, settings: Settings, auth: dict[str, str]
) -> None:
    assert client.get("/v1/members/loyalty_id:NOBODY/consents", headers=auth).status_code == 404
    add_member(engine, settings, "CONS03")
    empty = client.put("/v1/members/loyalty_id:CONS03/consents", json=[], headers=auth)
    assert empty.status_code == 422


def test_a_read_key_reads_consents_but_cannot_change_them(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    add_member(engine, settings, "CONS04")
    _key, token = create_key(engine, name="app", scopes="read")
    headers = {"Authorization": f"Bearer {token}"}
    path = "/v1/members/loyalty_id:CONS04/consents"
    assert client.get(path, headers=headers).status_code == 200
    change = [{"channel": "email", "purpose": "loyalty", "granted": True}]
    assert client.put(path, json=change, headers=headers).status_code == 403
