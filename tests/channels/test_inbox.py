"""The in-app channel end to end: the dispatcher writes the inbox, the app reads it over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from nextbest.api.app import create_app
from nextbest.api.keys_store import create_key
from nextbest.channels.dispatch import Dispatcher
from nextbest.channels.message import OutboundMessage
from nextbest.config import Settings
from tests.channels.support import OPEN, Clock, add_member, queue


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as test_client:
        yield test_client


def test_inbox_messages_are_listed_and_marked_read(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    member = add_member(engine, settings, "I1", consents={"in_app/loyalty": True})
    other = add_member(engine, settings, "I2", consents={"in_app/loyalty": True})
    queue(
        engine,
        OutboundMessage("vip-1", member, "in_app", "vip_milestone", purpose="loyalty"),
        OutboundMessage("vip-2", other, "in_app", "redeem_reminder", purpose="loyalty"),
        OutboundMessage("vip-3", member, "in_app", "birthday", purpose="marketing"),  # no consent
    )
    report = Dispatcher(engine, settings, policy=OPEN, clock=Clock()).run_once()
    assert (report.sent, report.suppressed) == (2, 1)
    _key, token = create_key(engine, name="app", scopes="read")
    auth = {"Authorization": f"Bearer {token}"}

    got = client.get("/v1/members/loyalty_id:I1/inbox", headers=auth)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["member_id"] == member and body["unread"] == 1
    [msg] = body["messages"]
    assert msg["message_id"] == "vip-1"
    assert msg["title"] == "Welcome to Your New Tier"
    assert "Balance: 0 points." in msg["body"] and msg["read_at"] is None

    read = client.post("/v1/members/i1@example.com/inbox/vip-1/read", headers=auth)
    assert read.status_code == 200, read.text
    first_read = read.json()["read_at"]
    assert first_read is not None
    again = client.post(f"/v1/members/{member}/inbox/vip-1/read", headers=auth)
    assert again.json()["read_at"] == first_read  # the first read time stays
    unread = client.get("/v1/members/loyalty_id:I1/inbox?unread=true", headers=auth).json()
    assert (unread["unread"], unread["messages"]) == (0, [])

    # Another member's message is not this member's to read.
    assert (
        client.post("/v1/members/loyalty_id:I1/inbox/vip-2/read", headers=auth).status_code == 404
    )
    assert client.get("/v1/members/loyalty_id:NOBODY/inbox", headers=auth).status_code == 404
    assert client.get("/v1/members/loyalty_id:I1/inbox").status_code == 401
