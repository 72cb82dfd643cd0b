"""The decision log and the audit log in the console."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from nextbest.api.keys_store import create_key
from nextbest.config import Settings
from nextbest.console import decisions_data
from tests.decide.support import NOW, add_member, set_scores


def _decide(console: TestClient, token: str, member: str, seed: int) -> dict[str, object]:
    body = {"member": member, "context": {"at": NOW.isoformat()}, "seed": seed}
    got = console.post("/v1/decisions", json=body, headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200, got.text
    view: dict[str, object] = got.json()
    return view


def test_decisions_are_searched_by_any_identifier_and_explained(
    console: TestClient, engine: Engine, settings: Settings, login: Callable[[str], str]
) -> None:
    a = add_member(engine, settings, "A1", consents={"email/marketing": True})
    b = add_member(engine, settings, "B2", consents={"email/marketing": True})
    for m in (a, b):
        set_scores(engine, m, churn_risk=0.2, p_alive=0.9, clv_12m=60.0)
    _key, token = create_key(engine, name="till", roles="marketer")
    made = [_decide(console, token, "email:a1@example.com", seed) for seed in (1, 2, 3)]
    _decide(console, token, "email:b2@example.com", 4)
    console.app.state.decisions.log.flush()
    login("analyst")
    page = console.get("/console/decisions", params={"member": "a1@example.com"})
    assert page.status_code == 200, page.text
    for d in made:
        assert str(d["decision_id"]) in page.text
    assert b not in page.text  # only A1's decisions
    one = console.get(f"/console/decisions/{made[0]['decision_id']}")
    assert one.status_code == 200
    explanation = made[0]["explanation"]
    assert isinstance(explanation, dict)
    assert explanation["summary"] in one.text
    assert "Model versions" in one.text and "Candidates scored" in one.text
    assert console.get("/console/decisions", params={"member": "nobody@x.test"}).status_code == 404
    assert console.get("/console/decisions/d_missing").status_code == 404


def test_decision_pages_follow_the_cursor_without_repeats(
    engine: Engine, settings: Settings, console: TestClient
) -> None:
    m = add_member(engine, settings, "C3", consents={"email/marketing": True})
    set_scores(engine, m, churn_risk=0.2, p_alive=0.9, clv_12m=60.0)
    _key, token = create_key(engine, name="till", roles="marketer")
    ids = {str(_decide(console, token, "email:c3@example.com", s)["decision_id"]) for s in range(7)}
    console.app.state.decisions.log.flush()
    seen: list[str] = []
    cursor = None
    while True:
        page = decisions_data.search(engine, member=m, before=cursor, limit=3)
        seen += [r.decision_id for r in page.rows]
        if page.older is None:
            break
        cursor = page.older
    assert sorted(seen) == sorted(ids)


def test_the_audit_log_page_filters_and_is_for_roles_with_audit_read(
    console: TestClient, engine: Engine, login: Callable[[str], str]
) -> None:
    create_key(engine, name="one", roles="ingest", actor="user:zed")
    login("analyst")
    page = console.get("/console/audit", params={"action": "api_key_create"})
    assert page.status_code == 200
    assert "user:zed" in page.text
    assert "console_user_create" not in page.text  # filtered out
    login("service_agent")
    assert console.get("/console/audit").status_code == 403
    login("ingest")
    assert console.get("/console/decisions").status_code == 403
