"""Offers & rules, journeys and approvals in the console, on each database: proposing with
inline validation, four eyes, applying to the file and to the serving decisions at once."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from nextbest.config import Settings
from nextbest.decide.engine import Request
from nextbest.journeys.catalog import builtin
from nextbest.store import audit
from nextbest.store import tables as t
from tests.agents.support import with_cost, with_unknown_channel, without_apology
from tests.decide.support import NOW, add_member

PROPOSAL_ID = re.compile(r'<article class="card" id="proposal-([0-9a-f]{32})"')


def proposal_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.proposals)).scalar_one())


def propose(
    console: TestClient, csrf: str, text: str, kind: str = "catalogue", target: str = ""
) -> httpx.Response:
    return console.post(
        "/console/proposals", data={"csrf": csrf, "kind": kind, "target": target, "text": text}
    )


def pending_ids(console: TestClient) -> list[str]:
    page = console.get("/console/approvals")
    assert page.status_code == 200
    pending = page.text.split('id="pending"', 1)[1].split('id="decided"', 1)[0]
    return PROPOSAL_ID.findall(pending)


def test_the_program_page_shows_the_catalogue_and_an_editor(
    console: TestClient, login: Callable[[str], str]
) -> None:
    login("analyst")
    page = console.get("/console/program")
    assert page.status_code == 200
    assert 'id="action-service-apology"' in page.text
    assert "open service ticket" in page.text  # a suppression
    assert "uplift * value * lever * levers.season - cost" in page.text
    assert 'id="catalogue-editor"' not in page.text  # analysts cannot propose
    login("marketer")
    page = console.get("/console/program")
    assert '<textarea class="code" id="catalogue-editor"' in page.text
    assert "catalogue: bean-and-bake-nba" in page.text


def test_an_invalid_proposal_comes_back_422_with_its_lines_and_nothing_stored(
    console: TestClient, login: Callable[[str], str], engine: Engine
) -> None:
    csrf = login("marketer")
    text, line = with_unknown_channel()
    response = propose(console, csrf, text)
    assert response.status_code == 422
    issues = re.search(
        r'<ul class="issues" id="catalogue-editor-issues">(.*?)</ul>', response.text, re.S
    )
    assert issues is not None
    assert f"line {line}</span>" in issues.group(1)
    assert "unknown channel &#39;fax&#39;" in issues.group(1)
    assert "channels: [fax, pos]" in response.text  # the submitted text is kept
    assert proposal_count(engine) == 0


def test_validate_returns_the_issues_as_json(
    console: TestClient, login: Callable[[str], str]
) -> None:
    csrf = login("marketer")
    text, line = with_unknown_channel()
    bad = console.post(
        "/console/validate",
        json={"kind": "catalogue", "target": "", "text": text},
        headers={"X-CSRF-Token": csrf},
    )
    assert bad.status_code == 200
    body = bad.json()
    assert body["ok"] is False
    assert body["issues"][0]["line"] == line
    assert body["issues"][0]["field"] == "actions.0.channels.0"
    good = console.post(
        "/console/validate",
        json={"kind": "catalogue", "text": with_cost("0.5")},
        headers={"X-CSRF-Token": csrf},
    )
    assert good.json() == {"ok": True, "issues": []}
    refused = console.post("/console/validate", json={"kind": "catalogue", "text": "x"})
    assert refused.status_code == 403  # no CSRF token
    login("analyst")
    assert (
        console.post(
            "/console/validate",
            json={"kind": "catalogue", "text": "x"},
            headers={"X-CSRF-Token": csrf},
        ).status_code
        == 403
    )


def test_propose_then_four_eyes_then_approval_applies_everywhere(
    console: TestClient,
    login: Callable[[str], str],
    engine: Engine,
    settings: Settings,
) -> None:
    member = add_member(engine, settings, "L4", open_ticket=True)
    decisions = console.app.state.decisions  # type: ignore[attr-defined]
    till = Request(at=NOW, channel="pos", send_now=True)
    assert decisions.preview(member, till)["action"]["id"] == "service-apology"

    csrf = login("marketer")
    text = without_apology()
    response = propose(console, csrf, text)
    assert response.status_code == 303, response.text
    (marketers,) = pending_ids(console)
    # The marketer may propose but not decide.
    refused = console.post(f"/console/approvals/{marketers}/approve", data={"csrf": csrf})
    assert refused.status_code == 403
    assert "approvals:decide" in refused.text

    csrf = login("admin")
    own = propose(console, csrf, with_cost("0.5"))
    assert own.status_code == 303
    ids = pending_ids(console)
    (admins,) = [i for i in ids if i != marketers]
    four_eyes = console.post(f"/console/approvals/{admins}/approve", data={"csrf": csrf})
    assert four_eyes.status_code == 303
    assert "four%20eyes" in four_eyes.headers["location"]

    csrf = login("admin2")
    page = console.get("/console/approvals").text
    assert f'id="approve-{marketers}"' in page and f'id="reject-{marketers}"' in page
    approved = console.post(
        f"/console/approvals/{marketers}/approve", data={"csrf": csrf, "note": "fine"}
    )
    assert approved.status_code == 303
    assert "flash=Approved" in approved.headers["location"]
    path = settings.data_dir / "program" / "catalogue.yaml"
    assert path.read_text() == text
    assert "service-apology" not in [a.id for a in decisions.catalogue.actions]
    assert decisions.preview(member, till)["action"]["id"] != "service-apology"
    assert 'id="action-service-apology"' not in console.get("/console/program").text
    with engine.connect() as conn:
        entries = audit.entries(conn, f"proposal:{marketers}")
    assert sorted((e["action"], e["actor"]) for e in entries) == [
        ("proposal_approve", "user:admin2-user"),
        ("proposal_create", "user:marketer-user"),
    ]

    # The admin's own proposal was made on the old text: now stale, and it stays pending.
    stale = console.post(f"/console/approvals/{admins}/approve", data={"csrf": csrf})
    assert stale.status_code == 303
    assert "propose%20again" in stale.headers["location"]
    assert pending_ids(console) == [admins]
    again = console.post(f"/console/approvals/{marketers}/approve", data={"csrf": csrf})
    assert "already%20approved" in again.headers["location"]


def test_rejecting_leaves_the_file_unchanged(
    console: TestClient, login: Callable[[str], str], settings: Settings
) -> None:
    csrf = login("marketer")
    assert propose(console, csrf, with_cost("0.5")).status_code == 303
    (pid,) = pending_ids(console)
    csrf = login("admin")
    out = console.post(f"/console/approvals/{pid}/reject", data={"csrf": csrf, "note": "no"})
    assert out.status_code == 303 and "flash=Rejected" in out.headers["location"]
    assert settings.effective_catalogue_path() is None
    page = console.get("/console/approvals")
    assert pending_ids(console) == []
    assert '<span class="badge rejected">rejected</span>' in page.text
    assert "+    cost: 0.5" in page.text  # the diff


def test_the_journey_page_draws_one_box_per_step(
    console: TestClient, login: Callable[[str], str]
) -> None:
    login("analyst")
    listing = console.get("/console/journeys")
    assert listing.status_code == 200
    assert 'href="/console/journeys/winback"' in listing.text
    page = console.get("/console/journeys/winback")
    assert page.status_code == 200
    svg = re.search(r'<svg data-chart="journey-flow".*?</svg>', page.text, re.S)
    assert svg is not None
    journey = builtin("winback")
    assert svg.group(0).count('<rect class="step') == len(journey.order) == 5
    for sid in journey.order:
        assert f'data-step="{sid}"' in svg.group(0)
    assert "timeout \u2192 sweetener" in svg.group(0)  # the event wait's timeout arrow
    assert console.get("/console/journeys/nope").status_code == 404


def test_an_invalid_journey_proposal_is_shown_on_its_page(
    console: TestClient, login: Callable[[str], str], engine: Engine
) -> None:
    csrf = login("marketer")
    text = builtin("winback").source.replace("timeout: sweetener", "timeout: nowhere")
    response = propose(console, csrf, text, kind="journey", target="winback")
    assert response.status_code == 422
    assert 'data-chart="journey-flow"' in response.text
    assert "no step &#39;nowhere&#39;" in response.text
    assert proposal_count(engine) == 0


def test_a_new_journey_is_proposed_from_the_list_and_errors_stay_there(
    console: TestClient, login: Callable[[str], str], engine: Engine
) -> None:
    csrf = login("marketer")
    listing = console.get("/console/journeys")
    assert 'id="journey-editor"' in listing.text
    assert listing.text.count('data-chart="journey-funnel"') == 8
    text = (
        "journey: thanks\nname: Thanks\ntrigger: {event: purchase}\n"
        "steps:\n  - {id: a, next: b, exit: x}\n"
    )
    bad = propose(console, csrf, text, kind="journey", target="thanks")
    assert bad.status_code == 422
    assert "line 5</span>" in bad.text and "no step &#39;b&#39;" in bad.text
    assert proposal_count(engine) == 0
    good = text.replace("next: b, ", "")
    assert propose(console, csrf, good, kind="journey", target="thanks").status_code == 303
    assert proposal_count(engine) == 1


def test_journey_stats_show_goal_against_holdout_with_the_interval(
    console: TestClient, login: Callable[[str], str], engine: Engine
) -> None:
    rows = [
        {
            "instance_id": f"i{n}",
            "journey_id": "winback",
            "version": "v",
            "member_id": f"m{n}",
            "status": "done",
            "step": None,
            "seq": 1,
            "holdout": int(n >= 10),
            "vars": "{}",
            "entered_at": NOW,
            "updated_at": NOW,
            "goal_at": NOW if n in (0, 1, 2, 3, 4, 5, 10, 11) else None,
        }
        for n in range(20)
    ]
    with engine.begin() as conn:
        conn.execute(t.journey_instances.insert(), rows)
    login("analyst")
    page = console.get("/console/journeys/winback").text
    kpis = page.split('id="journey-kpis"', 1)[1].split("</div>\n<table", 1)[0]
    assert "60.0%" in kpis and "holdout 20.0%" in kpis
    assert "+40.0 pts" in kpis
    assert (
        "95% interval +0.8 to +79.2" in kpis
    )  # 0.4 +- 1.96 * sqrt(.24/10 + .16/10) = 0.4 +- 0.392
    listing = console.get("/console/journeys").text
    assert "+40.0 pts (+0.8 to +79.2)" in listing
