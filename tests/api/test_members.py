from __future__ import annotations

from urllib.parse import quote

import orjson
from fastapi.testclient import TestClient

from tests.api.api_support import auth, purchase


def test_member_by_any_identifier_and_404(client: TestClient, keys: dict[str, str]) -> None:
    events = [
        purchase(1, email="Jane@Example.com", phone="+1 415 555 0134"),
        purchase(2, pos_card="abc-1", email="jane@example.com"),
        purchase(3, email="other@example.com"),
    ]
    response = client.post("/v1/events", content=orjson.dumps(events), headers=auth(keys["ingest"]))
    assert response.json()["accepted"] == 3

    read = auth(keys["read"])
    by_email = client.get("/v1/members/email:jane@example.com", headers=read)
    assert by_email.status_code == 200, by_email.text
    member = by_email.json()
    keys_of = {i["key"] for i in member["identifiers"]}
    assert keys_of == {"email:jane@example.com", "phone:+14155550134", "pos_card:ABC-1"}
    member_id = member["member_id"]

    for identifier in [
        "jane@example.com",
        "phone:+14155550134",
        "pos_card:ABC-1",
        member_id,
    ]:
        got = client.get(f"/v1/members/{quote(identifier, safe=':@')}", headers=read)
        assert got.status_code == 200, (identifier, got.text)
        assert got.json()["member_id"] == member_id

    both = client.get("/v1/members/email:other@example.com", headers=auth(keys["both"]))
    assert both.json()["member_id"] != member_id

    missing = client.get("/v1/members/email:nobody@example.com", headers=read)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["title"] == "Not found"
