"""Journey files: the templates load, and mistakes are named with their line."""

from __future__ import annotations

from datetime import datetime

import pytest

from nextbest.journeys.catalog import builtin_names, load_journeys
from nextbest.journeys.definition import JourneyError, parse_journey
from nextbest.journeys.steps import ACTIVE, EXITED, arm, run_step

TEMPLATES = {
    "onboarding",
    "winback",
    "cart_abandonment",
    "vip_milestone",
    "birthday",
    "points_expiry",
    "service_recovery",
    "direct_mail_balance",
}


def test_every_builtin_template_loads() -> None:
    assert set(builtin_names()) == TEMPLATES
    journeys = load_journeys()
    assert {j.id for j in journeys} == TEMPLATES
    for j in journeys:
        assert j.first in j.steps
        for step in j.steps.values():
            assert step.next is None or step.next in j.steps


def _issues(text: str) -> list[str]:
    with pytest.raises(JourneyError) as caught:
        parse_journey(text)
    return [str(i) for i in caught.value.issues]


def test_an_unknown_step_reference_names_its_line() -> None:
    doc = (
        "journey: j\n"
        "name: J\n"
        "trigger: {event: purchase}\n"
        "steps:\n"
        "  - {id: a, branch: {when: 'true', then: b, else: nowhere}}\n"
        "  - {id: b, exit: done}\n"
    )
    assert _issues(doc) == ["line 5: steps.0.branch.else: no step 'nowhere' (steps: a, b)"]


def test_bad_fields_each_get_a_line() -> None:
    doc = (
        "journey: j\n"
        "name: J\n"
        "trigger: {event: purchace}\n"
        "steps:\n"
        "  - {id: a, send: {channel: fax, template: t}}\n"
        "  - {id: b, split: [{share: 0.5, next: a}, {share: 0.4, next: b}]}\n"
        "  - {id: c, branch: {when: 'member.x >', then: a, else: b}}\n"
    )
    got = _issues(doc)
    assert got[0].startswith("line 3: trigger.event: unknown event type 'purchace'")
    assert got[1].startswith("line 5: steps.0.send.channel: unknown channel 'fax'")
    assert got[2] == "line 6: steps.1.split: shares add up to 0.9, not 1"
    assert got[3].startswith("line 7: steps.2.branch.when:")


def test_a_step_must_be_exactly_one_kind() -> None:
    doc = "journey: j\nname: J\ntrigger: {event: signup}\n"
    doc += "steps:\n  - {id: a, exit: x, wait: {hours: 1}}\n"
    (issue,) = _issues(doc)
    assert issue.startswith("line 5: steps.0: a step is exactly one of")


def test_a_trigger_is_exactly_one_kind() -> None:
    doc = "journey: j\nname: J\ntrigger: {event: signup, score: churn_risk}\n"
    doc += "steps:\n  - {id: a, exit: x}\n"
    (issue,) = _issues(doc)
    assert "exactly one of event, ledger, score, segment or date" in issue


J = parse_journey(
    "journey: j\n"
    "name: J\n"
    "trigger: {event: signup}\n"
    "steps:\n"
    "  - {id: w, wait: {event: purchase, hours: 24, timeout: late}}\n"
    "  - {id: bought, exit: bought}\n"
    "  - {id: late, branch: {when: 'scores.churn_risk > 0.5', then: g, else: s}}\n"
    "  - {id: g, grant: {points: 10, reason: r}}\n"
    "  - {id: s, split: [{share: 0.5, next: g}, {share: 0.5, next: bought}]}\n"
)
NOW = datetime(2026, 12, 3, 12, 0)


def _run(step: str, vars_: dict[str, object], env: dict[str, object] | None = None):  # type: ignore[no-untyped-def]
    return run_step(
        J, J.steps[step], instance_id="i", env=env or {}, vars_=vars_, now=NOW, local_now=NOW
    )


def test_an_event_wait_arms_a_timer_then_takes_the_event_or_the_timeout() -> None:
    armed = _run("w", {})
    assert (armed.step, armed.waiting_for, armed.status) == ("w", "purchase", ACTIVE)
    assert armed.due_at == NOW.timestamp() + 24 * 3600
    came = _run("w", {**armed.vars, "woke": "purchase"})
    assert came.step == "bought"
    late = _run("w", armed.vars)
    assert late.step == "late" and late.outcome.startswith("timed out")
    assert _run("bought", {}).status == EXITED


def test_branch_reads_the_member_and_grant_is_an_effect() -> None:
    assert _run("late", {}, {"scores": {"churn_risk": 0.7}}).step == "g"
    assert _run("late", {}, {"scores": {"churn_risk": 0.1}}).step == "s"
    grant = _run("g", {})
    assert [e.kind for e in grant.effects] == ["grant"] and grant.step == "s"  # file order
    assert _run("g", {}).status == ACTIVE


def test_split_is_stable_per_member_and_near_its_shares() -> None:
    arms = [arm(f"m{i}", "s", [0.3, 0.7]) for i in range(10_000)]
    assert arms == [arm(f"m{i}", "s", [0.3, 0.7]) for i in range(10_000)]
    assert 0.28 < arms.count(0) / len(arms) < 0.32
