"""Proposals on each database: validated before stored, four eyes, stale bases refused,
applied with the audit entry in one transaction, durable where every process reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select

from nextbest.agents import proposals
from nextbest.agents.changes import InvalidChange, validate
from nextbest.config import Settings
from nextbest.decide.service import builtin_catalogue_text, effective_catalogue
from nextbest.errors import Conflict, Forbidden
from nextbest.journeys.catalog import builtin_names, load_journeys
from nextbest.store import audit
from nextbest.store import tables as t
from tests.agents.support import builtin_journey, with_cost, with_unknown_channel, without_apology

ALICE, BOB = "user:alice", "user:bob"


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.proposals)).scalar_one())


def audited(engine: Engine, proposal_id: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = audit.entries(conn, f"proposal:{proposal_id}")
    return sorted((r["action"], r["actor"]) for r in rows)


def test_an_invalid_catalogue_is_refused_with_its_line_and_never_stored(
    engine: Engine, settings: Settings
) -> None:
    text, line = with_unknown_channel()
    with pytest.raises(InvalidChange) as caught:
        proposals.propose(
            engine, settings, kind="catalogue", target="catalogue", text=text, actor=ALICE
        )
    (issue,) = caught.value.issues
    assert issue.line == line
    assert "unknown channel 'fax'" in issue.message
    assert stored(engine) == 0


def test_an_unchanged_text_or_unknown_kind_is_refused(engine: Engine, settings: Settings) -> None:
    with pytest.raises(InvalidChange, match="nothing changed"):
        proposals.propose(
            engine,
            settings,
            kind="catalogue",
            target="",
            text=builtin_catalogue_text(),
            actor=ALICE,
        )
    with pytest.raises(InvalidChange, match="unknown kind 'prices'"):
        proposals.propose(engine, settings, kind="prices", target="x", text="a: 1", actor=ALICE)
    assert stored(engine) == 0


def test_approval_by_another_person_applies_the_catalogue_durably_and_is_audited(
    engine: Engine, settings: Settings
) -> None:
    text = without_apology()
    p = proposals.propose(
        engine, settings, kind="catalogue", target="catalogue", text=text, actor=ALICE
    )
    assert p.status == "pending" and "-  - id: service-apology" in p.summary
    assert settings.effective_catalogue_path() is None  # nothing applies before approval
    with pytest.raises(Forbidden, match="four eyes"):
        proposals.approve(engine, settings, p.proposal_id, actor=ALICE)
    assert proposals.get(engine, p.proposal_id).status == "pending"

    done = proposals.approve(engine, settings, p.proposal_id, actor=BOB, note="ok for Q3")
    assert done.proposal.status == "approved" and done.proposal.decided_by == BOB
    assert done.proposal.note == "ok for Q3"
    assert done.catalogue is not None
    assert "service-apology" not in [a.id for a in done.catalogue.actions]
    path = settings.data_dir / "program" / "catalogue.yaml"
    assert path.read_text() == text
    assert settings.effective_catalogue_path() == path
    assert "service-apology" not in [a.id for a in effective_catalogue(settings).actions]
    assert audited(engine, p.proposal_id) == [
        ("proposal_approve", BOB),
        ("proposal_create", ALICE),
    ]
    with pytest.raises(Conflict, match="already approved"):
        proposals.approve(engine, settings, p.proposal_id, actor="user:carol")


def test_a_proposal_whose_base_changed_meanwhile_is_refused_as_stale(
    engine: Engine, settings: Settings
) -> None:
    first = proposals.propose(
        engine, settings, kind="catalogue", target="", text=with_cost("0.5"), actor=ALICE
    )
    second = proposals.propose(
        engine, settings, kind="catalogue", target="", text=with_cost("0.75"), actor=ALICE
    )
    proposals.approve(engine, settings, first.proposal_id, actor=BOB)
    with pytest.raises(Conflict, match="changed since proposed; propose again"):
        proposals.approve(engine, settings, second.proposal_id, actor=BOB)
    assert proposals.get(engine, second.proposal_id).status == "pending"
    assert "cost: 0.5\n" in settings.writable_catalogue_path().read_text()
    assert audited(engine, second.proposal_id) == [("proposal_create", ALICE)]


def test_rejecting_changes_nothing_but_the_status(engine: Engine, settings: Settings) -> None:
    p = proposals.propose(
        engine, settings, kind="catalogue", target="", text=with_cost("0.5"), actor=ALICE
    )
    rejected = proposals.reject(engine, p.proposal_id, actor=BOB, note="too generous")
    assert rejected.status == "rejected" and rejected.note == "too generous"
    assert settings.effective_catalogue_path() is None
    assert not settings.writable_catalogue_path().exists()
    with pytest.raises(Conflict, match="already rejected"):
        proposals.approve(engine, settings, p.proposal_id, actor=BOB)
    assert audited(engine, p.proposal_id) == [
        ("proposal_create", ALICE),
        ("proposal_reject", BOB),
    ]


def test_a_change_that_cannot_be_applied_leaves_the_proposal_pending(
    engine: Engine, settings: Settings
) -> None:
    p = proposals.propose(
        engine, settings, kind="catalogue", target="", text=with_cost("0.5"), actor=ALICE
    )
    # A folder where the file should go: the write fails after the proposal was claimed.
    settings.writable_catalogue_path().mkdir(parents=True)
    with pytest.raises(OSError):
        proposals.approve(engine, settings, p.proposal_id, actor=BOB)
    again = proposals.get(engine, p.proposal_id)
    assert again.status == "pending" and again.decided_by is None
    assert audited(engine, p.proposal_id) == [("proposal_create", ALICE)]


def test_an_approved_journey_lands_in_a_seeded_folder_every_loader_reads(
    engine: Engine, settings: Settings
) -> None:
    text = builtin_journey("winback").replace("holdout: 0.1", "holdout: 0.2")
    p = proposals.propose(engine, settings, kind="journey", target="winback", text=text, actor=BOB)
    proposals.approve(engine, settings, p.proposal_id, actor=ALICE)
    folder = settings.effective_journeys_dir()
    assert folder == settings.data_dir / "program" / "journeys"
    journeys = {j.id: j for j in load_journeys(folder)}
    assert sorted(journeys) == sorted(builtin_names())  # the set stays complete
    assert journeys["winback"].holdout == 0.2
    assert journeys["birthday"].source == builtin_journey("birthday")


def test_a_journey_must_be_the_one_it_targets_and_valid(settings: Settings) -> None:
    text = builtin_journey("winback")
    (wrong,) = validate(settings, kind="journey", target="birthday", text=text)
    assert wrong.field == "journey" and "not 'birthday'" in wrong.message
    assert wrong.line == next(
        n for n, s in enumerate(text.splitlines(), 1) if s.startswith("journey:")
    )
    broken = text.replace("timeout: sweetener", "timeout: nowhere")
    (issue,) = validate(settings, kind="journey", target="winback", text=broken)
    assert issue.line is not None and "no step 'nowhere'" in issue.message


def test_lists_are_newest_first_and_filter_by_status(engine: Engine, settings: Settings) -> None:
    made = [
        proposals.propose(
            engine,
            settings,
            kind="catalogue",
            target="",
            text=with_cost(cost),
            actor=ALICE,
            now=datetime(2027, 1, day, tzinfo=UTC),
        )
        for day, cost in ((1, "0.5"), (2, "0.75"), (3, "1.0"))
    ]
    proposals.reject(engine, made[0].proposal_id, actor=BOB)
    pending = proposals.list_proposals(engine, statuses=["pending"])
    assert [p.proposal_id for p in pending] == [made[2].proposal_id, made[1].proposal_id]
    assert pending[0].proposed_at == datetime(2027, 1, 3, tzinfo=UTC)
    assert len(proposals.list_proposals(engine, limit=2)) == 2
