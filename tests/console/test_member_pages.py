"""Member search and the member 360 page: identifiers, merges and unmerge, points
adjustments, consents, the next best action; each form refused to roles lacking its
permission, and every refusal a message on the page, never a 500."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from nextbest.api.keys_store import create_key
from nextbest.config import Settings
from nextbest.ingest.pipeline import Ingestor
from nextbest.ledger.service import Ledger
from nextbest.members.merge import Evidence, merge_members
from nextbest.store import audit
from nextbest.store import tables as t
from nextbest.store.engine import graph_transaction
from tests.decide.support import set_scores
from tests.ingest.test_pipeline import records
from tests.ledger.support import apply_program

# Recent: points earned by these purchases have not expired yet.
T0 = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
KEY_FIELD = re.compile(r'name="idempotency_key" value="([^"]+)"')


def event(n: str, hours: int, ids: dict[str, str], *, kind: str = "purchase") -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": f"mp-{n}",
        "occurred_at": (T0 + timedelta(hours=hours)).isoformat(),
        "identifiers": ids,
    }
    if kind == "signup":
        return {**base, "type": "signup", "source": "app", "first_name": "Ada"}
    return {
        **base,
        "type": "purchase",
        "source": "pos",
        "order_id": f"mp-order-{n}",
        "total": 20.0,
        "lines": [{"sku": "beans", "category": "coffee", "quantity": 1, "unit_price": 20.0}],
    }


def ingest(engine: Engine, settings: Settings, *rows: dict[str, Any]) -> None:
    for row in rows:  # one at a time, in order, as a till would send them
        report = Ingestor(engine, settings).ingest_records(records([row]), origin="test")
        assert report.rejected == 0, report


def member_of(engine: Engine, key: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                sa.select(t.identifiers.c.member_id).where(t.identifiers.c.key == key)
            ).scalar_one()
        )


@pytest.fixture
def ada(engine: Engine, settings: Settings) -> str:
    """A member with an email, a phone and a loyalty id, who bought twice (points earned)."""
    apply_program(engine)
    ids = {"email": "ada.m@example.com", "phone": "+14155550101", "loyalty_id": "ADA360"}
    ingest(
        engine,
        settings,
        event("ada-1", 0, ids, kind="signup"),
        event("ada-2", 1, ids),
        event("ada-3", 2, {"email": "ada.m@example.com"}),
    )
    return member_of(engine, "loyalty_id:ADA360")


def balance(engine: Engine, member: str) -> int:
    return int(Ledger(engine).account(member)["balance"])


def flash_of(response: Any) -> str:
    """The message a redirect after a POST carries to the next page."""
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return " ".join(query.get("flash", []) + query.get("error", []))


def adjust_key(html: str) -> str:
    found = KEY_FIELD.search(html)
    assert found is not None, "no idempotency key on the adjust form"
    return found.group(1)


@pytest.mark.parametrize(
    "query", ["ada.m@example.com", "email:ADA.M@example.com", "+1 415 555 0101", "ADA360", "id"]
)
def test_search_by_any_identifier_lands_on_the_member(
    console: TestClient, login: Callable[[str], str], ada: str, query: str
) -> None:
    login("analyst")
    got = console.get("/console/members", params={"q": ada if query == "id" else query})
    assert got.status_code == 303, got.text
    assert got.headers["location"] == f"/console/members/{ada}"


def test_an_unknown_identifier_says_so_and_no_query_lists_recent_members(
    console: TestClient, login: Callable[[str], str], ada: str
) -> None:
    login("analyst")
    missing = console.get("/console/members", params={"q": "nobody@example.com"})
    assert missing.status_code == 200  # a search that found nothing
    assert 'id="search-message"' in missing.text
    assert "No member found for <strong>nobody@example.com</strong>" in missing.text
    assert 'id="member-search"' in missing.text
    listing = console.get("/console/members")
    assert listing.status_code == 200
    assert f'href="/console/members/{ada}"' in listing.text
    assert console.get("/console/members/m_nope").status_code == 404


def test_the_360_page_shows_identifiers_balance_timeline_and_a_preview_decision(
    console: TestClient, login: Callable[[str], str], engine: Engine, ada: str
) -> None:
    set_scores(engine, ada, churn_risk=0.25)
    login("analyst")
    with engine.connect() as conn:
        logged = conn.execute(sa.select(sa.func.count()).select_from(t.decisions)).scalar_one()
    page = console.get(f"/console/members/{ada}")
    assert page.status_code == 200, page.text
    html = page.text
    for value in ("ada.m@example.com", "+14155550101", "ADA360"):
        assert f"<code>{value}</code>" in html
    points = balance(engine, ada)
    assert points > 0  # the purchases earned
    assert f'id="balance">{points:,}<' in html
    events = html[html.index('id="timeline"') :]
    assert events.index("mp-ada-3") < events.index("mp-ada-2") < events.index("mp-ada-1")
    start = html.index('id="scores"')
    scores = html[start : html.index("</table>", start)]
    assert "<td>churn_risk</td>" in scores and "churn_risk-v1" in scores
    assert "0.250" in scores and "<summary>explanation</summary>" in scores
    assert 'id="next-best-action"' in html and 'id="nba-why"' in html
    assert 'id="nba-error"' not in html, html[html.index("next-best-action") :][:600]
    # An analyst sees no forms they could not submit.
    assert 'id="adjust-form"' not in html
    assert 'id="consents-form"' in html and "<select" not in html
    with engine.connect() as conn:
        after = conn.execute(sa.select(sa.func.count()).select_from(t.decisions)).scalar_one()
    assert after == logged  # the preview logged nothing


def test_a_failing_decision_service_shows_its_reason(
    console: TestClient, login: Callable[[str], str], ada: str
) -> None:
    login("analyst")
    service = console.app.state.decisions  # type: ignore[attr-defined]
    working = service.engine
    service.engine = None  # no decision engine behind the service: preview raises
    try:
        page = console.get(f"/console/members/{ada}")
    finally:
        service.engine = working
    assert page.status_code == 200
    assert 'id="nba-error"' in page.text


def _two_members_merged(engine: Engine, settings: Settings) -> tuple[str, str, int]:
    ingest(
        engine,
        settings,
        event("ann-1", 0, {"email": "ann.m@example.com"}),
        event("bob-1", 1, {"pos_card": "mp-card-b"}),
    )
    ann, bob = member_of(engine, "email:ann.m@example.com"), member_of(engine, "pos_card:MP-CARD-B")
    with graph_transaction(engine) as conn:
        survivor, merged = merge_members(
            conn, ann, bob, kind="manual", evidence=Evidence(reason="same"), actor="t", now=T0
        )
    with engine.connect() as conn:
        merge_id = conn.execute(
            sa.select(t.member_merges.c.merge_id).where(t.member_merges.c.merged_id == merged)
        ).scalar_one()
    return survivor, merged, int(merge_id)


def test_unmerge_from_the_merge_history_splits_them_and_is_audited(
    console: TestClient,
    login: Callable[[str], str],
    engine: Engine,
    settings: Settings,
    users: dict[str, str],
) -> None:
    survivor, merged, merge_id = _two_members_merged(engine, settings)
    assert member_of(engine, "pos_card:MP-CARD-B") == survivor
    csrf = login("admin")
    page = console.get(f"/console/members/{survivor}").text
    assert f'id="unmerge-{merge_id}"' in page
    assert "<code>MP-CARD-B</code>" in page  # the merged member's card is in the graph
    # Refused: no reason. Nothing changes and the page says why.
    form = {"csrf": csrf, "merge_id": str(merge_id), "reason": " "}
    refused = console.post(f"/console/members/{survivor}/unmerge", data=form)
    assert refused.status_code == 422
    assert "an unmerge needs a reason" in refused.text
    assert member_of(engine, "pos_card:MP-CARD-B") == survivor
    # Refused: a role without members:write.
    analyst = login("analyst")
    form = {"csrf": analyst, "merge_id": str(merge_id), "reason": "two people"}
    assert console.post(f"/console/members/{survivor}/unmerge", data=form).status_code == 403
    assert member_of(engine, "pos_card:MP-CARD-B") == survivor

    csrf = login("admin")
    form = {"csrf": csrf, "merge_id": str(merge_id), "reason": "two people"}
    done = console.post(f"/console/members/{survivor}/unmerge", data=form)
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith(f"/console/members/{survivor}?flash=")
    assert member_of(engine, "pos_card:MP-CARD-B") == merged
    assert member_of(engine, "email:ann.m@example.com") == survivor
    with engine.connect() as conn:
        (entry,) = audit.entries(conn, subject=merged, action="unmerge")
    assert entry["actor"] == f"user:{users['admin']}"
    assert entry["detail"]["reason"] == "two people"
    after = console.get(done.headers["location"]).text
    assert "merge " in after and "undone" in after
    assert f'id="unmerge-{merge_id}"' not in after
    # Undoing it again is a message, not a 500.
    again = console.post(f"/console/members/{survivor}/unmerge", data=form)
    assert again.status_code == 404
    assert "not one of this member" in again.text


@pytest.mark.parametrize("role", ["marketer", "service_agent"])
def test_roles_without_members_write_cannot_unmerge(
    console: TestClient,
    login: Callable[[str], str],
    engine: Engine,
    settings: Settings,
    role: str,
) -> None:
    survivor, _merged, merge_id = _two_members_merged(engine, settings)
    csrf = login(role)
    page = console.get(f"/console/members/{survivor}").text
    assert f'id="unmerge-{merge_id}"' not in page  # no form they could not submit
    form = {"csrf": csrf, "merge_id": str(merge_id), "reason": "two people"}
    assert console.post(f"/console/members/{survivor}/unmerge", data=form).status_code == 403
    assert member_of(engine, "pos_card:MP-CARD-B") == survivor
    with engine.connect() as conn:
        assert audit.entries(conn, action="unmerge") == []


def test_a_merge_its_events_prove_needs_the_bridge_blocked(
    console: TestClient, login: Callable[[str], str], engine: Engine, settings: Settings
) -> None:
    ingest(
        engine,
        settings,
        event("br-1", 0, {"email": "br.m@example.com"}),
        event("br-2", 1, {"pos_card": "mp-br-card"}),
        event("br-3", 2, {"email": "br.m@example.com", "pos_card": "mp-br-card"}),
    )
    with engine.connect() as conn:
        merge = conn.execute(sa.select(t.member_merges)).one()
    csrf = login("admin")
    form = {"csrf": csrf, "merge_id": str(merge.merge_id), "reason": "shared card"}
    conflict = console.post(f"/console/members/{merge.survivor_id}/unmerge", data=form)
    assert conflict.status_code == 409
    assert "still linked by their events" in conflict.text
    assert 'value="shared card"' in conflict.text  # what was typed is kept
    assert 'name="block" value="pos_card:MP-BR-CARD"' in conflict.text
    blocked = console.post(
        f"/console/members/{merge.survivor_id}/unmerge",
        data={**form, "block": "pos_card:MP-BR-CARD"},
    )
    assert blocked.status_code == 303, blocked.text
    with engine.connect() as conn:
        owners = conn.execute(
            sa.select(sa.func.count(sa.distinct(t.identifiers.c.member_id))).where(
                t.identifiers.c.key.in_(["email:br.m@example.com", "pos_card:MP-BR-CARD"])
            )
        ).scalar_one()
    assert owners == 2


def test_an_adjustment_with_a_reason_is_booked_once_and_audited(
    console: TestClient,
    login: Callable[[str], str],
    engine: Engine,
    ada: str,
    users: dict[str, str],
) -> None:
    csrf = login("admin")
    before = balance(engine, ada)
    key = adjust_key(console.get(f"/console/members/{ada}").text)
    form = {
        "csrf": csrf,
        "points": "125",
        "reason": "goodwill: late delivery",
        "idempotency_key": key,
    }
    done = console.post(f"/console/members/{ada}/adjust", data=form)
    assert done.status_code == 303, done.text
    assert balance(engine, ada) == before + 125
    again = console.post(f"/console/members/{ada}/adjust", data=form)  # a double submit
    assert again.status_code == 303
    assert flash_of(again) == "this adjustment was already recorded"
    assert balance(engine, ada) == before + 125
    page = console.get(done.headers["location"]).text
    assert "goodwill: late delivery" in page
    assert f'id="balance">{before + 125:,}<' in page
    history = Ledger(engine).history(ada, limit=5)
    assert [(e["kind"], e["points"], e["reason"]) for e in history[:1]] == [
        ("adjust", 125, "goodwill: late delivery")
    ]
    with engine.connect() as conn:
        entries = audit.entries(conn, subject=ada, action="ledger_adjust")
    assert len(entries) == 1
    assert entries[0]["actor"] == f"user:{users['admin']}"
    assert entries[0]["detail"]["reason"] == "goodwill: late delivery"
    # A debit of more than the balance is a message, and the balance stays.
    new_key = adjust_key(page)
    assert new_key != key
    debit = {**form, "points": str(-(before + 10_000)), "idempotency_key": new_key}
    short = console.post(f"/console/members/{ada}/adjust", data=debit)
    assert short.status_code == 409
    assert "insufficient points" in short.text
    assert balance(engine, ada) == before + 125


@pytest.mark.parametrize(
    ("points", "reason", "message"),
    [
        ("50", "", "an adjustment needs a reason"),
        ("50", "   ", "an adjustment needs a reason"),
        ("fifty", "typo", "points must be a whole number"),
        ("0", "nothing", "an adjustment of 0 points changes nothing"),
        ("99999999", "typo", "at most 10,000,000 points"),
    ],
)
def test_a_refused_adjustment_says_why_and_keeps_what_was_typed(
    console: TestClient,
    login: Callable[[str], str],
    engine: Engine,
    ada: str,
    points: str,
    reason: str,
    message: str,
) -> None:
    csrf = login("admin")
    before = balance(engine, ada)
    key = adjust_key(console.get(f"/console/members/{ada}").text)
    form = {"csrf": csrf, "points": points, "reason": reason, "idempotency_key": key}
    refused = console.post(f"/console/members/{ada}/adjust", data=form)
    assert refused.status_code == 422
    assert message in refused.text
    assert f'value="{points}"' in refused.text
    assert adjust_key(refused.text) == key  # the retry stays one request
    assert balance(engine, ada) == before


@pytest.mark.parametrize("role", ["analyst", "marketer", "service_agent"])
def test_roles_without_ledger_adjust_are_refused_and_nothing_changes(
    console: TestClient, login: Callable[[str], str], engine: Engine, ada: str, role: str
) -> None:
    before = balance(engine, ada)
    csrf = login(role)
    form = {"csrf": csrf, "points": "100", "reason": "sneaky", "idempotency_key": "k-1"}
    assert console.post(f"/console/members/{ada}/adjust", data=form).status_code == 403
    assert balance(engine, ada) == before
    with engine.connect() as conn:
        assert audit.entries(conn, subject=ada, action="ledger_adjust") == []


def test_consents_saved_in_the_console_are_what_the_api_returns(
    console: TestClient, login: Callable[[str], str], engine: Engine, ada: str
) -> None:
    analyst = login("analyst")
    form = {"csrf": analyst, "consent:email/marketing": "yes"}
    assert console.post(f"/console/members/{ada}/consents", data=form).status_code == 403
    csrf = login("service_agent")
    form = {
        "csrf": csrf,
        "consent:email/marketing": "yes",
        "consent:sms/service": "no",
        "consent:push/loyalty": "",  # not stated: left alone
    }
    done = console.post(f"/console/members/{ada}/consents", data=form)
    assert done.status_code == 303, done.text
    assert flash_of(done) == "consents recorded: email/marketing granted, sms/service withdrawn"
    _key, token = create_key(engine, name="consents-check", roles="analyst")
    got = console.get(
        "/v1/members/loyalty_id:ADA360/consents", headers={"Authorization": f"Bearer {token}"}
    )
    assert got.status_code == 200, got.text
    stated = {f"{c['channel']}/{c['purpose']}": c["granted"] for c in got.json()["consents"]}
    assert stated["email/marketing"] is True
    assert stated["sms/service"] is False
    assert stated["push/loyalty"] is None
    page = console.get(f"/console/members/{ada}").text
    cell = re.search(r'name="consent:sms/service".*?</select>', page, re.S)
    assert cell is not None
    assert '<option value="no" selected>withdrawn' in cell.group(0)
    assert "not stated" not in cell.group(0)  # once stated, only granted or withdrawn
    # Saving the same again records nothing new.
    same = console.post(f"/console/members/{ada}/consents", data=form)
    assert flash_of(same) == "no consent changed"
    bad = console.post("/console/members/m_nobody/consents", data=form)
    assert bad.status_code == 404


def test_preferences_saved_in_the_console_are_what_the_api_returns(
    console: TestClient, login: Callable[[str], str], engine: Engine, ada: str
) -> None:
    analyst = login("analyst")
    form = {"csrf": analyst, "new_name": "milk", "new_value": "oat"}
    assert console.post(f"/console/members/{ada}/preferences", data=form).status_code == 403
    csrf = login("service_agent")
    done = console.post(f"/console/members/{ada}/preferences", data={**form, "csrf": csrf})
    assert done.status_code == 303, done.text
    assert flash_of(done) == "preferences recorded: milk"
    changed = {"csrf": csrf, "pref:milk": "soy", "new_name": "favourite", "new_value": "lunch"}
    assert flash_of(console.post(f"/console/members/{ada}/preferences", data=changed)) == (
        "preferences recorded: favourite, milk"
    )
    _key, token = create_key(engine, name="prefs-check", roles="analyst")
    got = console.get(
        "/v1/members/loyalty_id:ADA360/preferences", headers={"Authorization": f"Bearer {token}"}
    )
    assert got.status_code == 200, got.text
    assert got.json()["preferences"] == {"favourite": "lunch", "milk": "soy"}
    page = console.get(f"/console/members/{ada}").text
    assert 'name="pref:milk" value="soy"' in page
    same = {"csrf": csrf, "pref:milk": "soy"}
    assert flash_of(console.post(f"/console/members/{ada}/preferences", data=same)) == (
        "no preference changed"
    )
    blank = console.post(
        f"/console/members/{ada}/preferences", data={"csrf": csrf, "pref:milk": " "}
    )
    assert blank.status_code == 422 and "a value of 1 to 200 characters" in blank.text


def test_the_preferences_api_states_changes_and_refuses_bad_names(
    console: TestClient, engine: Engine, ada: str
) -> None:
    _key, token = create_key(engine, name="prefs-desk", roles="service_agent")
    auth = {"Authorization": f"Bearer {token}"}
    url = "/v1/members/ada.m@example.com/preferences"
    put = console.put(url, json={"milk": "oat", "sugar": False}, headers=auth)
    assert put.status_code == 200, put.text
    assert put.json() == {"member_id": ada, "preferences": {"milk": "oat", "sugar": False}}
    assert console.put(url, json={" ": "x"}, headers=auth).status_code == 422
    _key, reader = create_key(engine, name="prefs-reader", roles="analyst")
    refused = console.put(url, json={"milk": "soy"}, headers={"Authorization": f"Bearer {reader}"})
    assert refused.status_code == 403
    assert console.get(url, headers=auth).json()["preferences"]["milk"] == "oat"
