"""Policy experiments in the catalogue: validated with lines, assigned by hashing, applied
by the engine (send time, channels, exploration, levers), logged, and reported by arm."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from nextbest.config import Settings
from nextbest.decide.budget import MemoryBudget
from nextbest.decide.catalogue import CatalogueError, parse_catalogue
from nextbest.decide.engine import Engine as DecisionEngine
from nextbest.decide.engine import MemberFacts, Request, arms_of
from nextbest.decide.service import DecisionService
from nextbest.experiments.report import experiments_report
from nextbest.ingest.pipeline import Ingestor
from tests.decide.support import NOW, add_member
from tests.ingest.test_pipeline import records

CATALOGUE = """\
catalogue: tested
cost_per_point: 0.01
policy: {caps: [], cooldown_hours: 0, quiet_hours: {start: 23, end: 6, channels: [sms]}}
arbitration:
  formula: "uplift * value * levers.season - cost"
  levers: {season: 1.0}
learning: {holdout_share: 0, exploration: 0.05}
experiments:
  - id: send-time
    arms:
      - {id: habitual, share: 0.5}
      - {id: now, share: 0.5, send_time: now}
  - id: email-only
    arms:
      - {id: any, share: 0.6}
      - {id: email, share: 0.4, channels: [email]}
actions:
  - {id: hello, kind: message, name: Hello, priority: marketing, channels: [push, email],
     purpose: marketing, value: 10, response: 0.6, baseline: 0.1, cost: 0.01}
"""


def _facts(i: int) -> MemberFacts:
    # Push is this member's habit: without the experiment it wins the channel.
    return MemberFacts(
        member_id=f"m_{i}",
        env={"member": {}, "scores": {}, "ledger": {}},
        consent={"email/marketing": True, "push/marketing": True},
        timezone="America/New_York",
        engagement={"push.delivered": 10, "push.opened": 9, "email.delivered": 10},
        active_hours={"19": 5},
    )


def test_arms_are_stable_and_split_by_share() -> None:
    catalogue = parse_catalogue(CATALOGUE)
    got = Counter(arms_of(catalogue.experiments, f"m_{i}")["email-only"].id for i in range(4000))
    assert abs(got["email"] / 4000 - 0.4) < 0.03
    again = [arms_of(catalogue.experiments, f"m_{i}") for i in range(50)]
    assert again == [arms_of(catalogue.experiments, f"m_{i}") for i in range(50)]


def test_the_engine_applies_the_members_arms_and_says_so() -> None:
    catalogue = parse_catalogue(CATALOGUE)
    engine = DecisionEngine(catalogue)
    at = NOW  # 10:00 in New York; the habitual hour is 19:00
    channels: Counter[tuple[str, str | None]] = Counter()
    for i in range(200):
        facts = _facts(i)
        arms = {e: a.id for e, a in arms_of(catalogue.experiments, facts.member_id).items()}
        d = engine.decide(facts, Request(at=at, seed=i), {})
        assert d.why["experiments"] == arms
        assert d.experiments["email-only"]["arm"] == arms["email-only"]
        assert d.experiments["email-only"]["control"] == "any"
        if d.action.id != "hello":
            continue
        channels[(arms["email-only"], d.channel)] += 1
        if arms["email-only"] == "email":
            assert d.channel == "email"
        if arms["send-time"] == "now":
            assert d.send_at == at
        else:
            assert d.send_at is not None and d.send_at > at
    # Left alone, the engine prefers this member's push: the arm is what keeps it to email.
    assert channels[("any", "push")] > 0 and channels[("email", "email")] > 0


@pytest.mark.parametrize(
    ("edit", "line", "path", "reason"),
    [
        ("share: 0.4, channels", 15, "experiments.1.arms", "add up to 0.9, not 1"),
        ("channels: [email]}", 16, "experiments.1.arms.1.channels.0", "unknown channel 'fax'"),
        ("send_time: now}", 12, "experiments.0.arms.1.levers.rain", "unknown lever 'rain'"),
        ("share: 0.6}", 15, "experiments.1.arms.0.without.0", "unknown action 'hi'"),
    ],
)
def test_bad_experiments_name_line_and_reason(edit: str, line: int, path: str, reason: str) -> None:
    replaced = {
        "share: 0.4, channels": "share: 0.3, channels",
        "channels: [email]}": "channels: [fax]}",
        "send_time: now}": "send_time: now, levers: {rain: 2.0}}",
        "share: 0.6}": "share: 0.6, without: [hi]}",
    }[edit]
    text = CATALOGUE.replace(edit, replaced)
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(text, source="c.yaml")
    [issue] = caught.value.issues
    assert (issue.line, issue.path) == (line, path) and reason in issue.message


def test_the_report_reads_each_arm_against_the_control(engine: Engine, settings: Settings) -> None:
    catalogue = parse_catalogue(CATALOGUE)
    members = [
        add_member(engine, settings, f"X{i}", consents={"email/marketing": True}, purchases=2)
        for i in range(40)
    ]
    service = DecisionService(engine, catalogue, budget=MemoryBudget())
    for i, member in enumerate(members):
        service.decide(member, Request(at=NOW, seed=i), resolved=True)
    service.close()
    buys = [
        {
            "type": "purchase",
            "event_id": f"x-buy-{i}",
            "occurred_at": (NOW + timedelta(days=2)).isoformat(),
            "source": "pos",
            "identifiers": {"loyalty_id": f"X{i}"},
            "order_id": f"x-order-{i}",
            "total": 10.0,
            "lines": [{"sku": "latte", "category": "coffee", "quantity": 1, "unit_price": 10.0}],
        }
        for i in range(0, 40, 2)
    ]
    Ingestor(engine, settings, clock=lambda: NOW).ingest_records(records(buys), origin="t")
    reports = {r.experiment: r for r in experiments_report(engine, now=NOW + timedelta(days=40))}
    send = reports["policy:send-time:now vs habitual"]
    expected = Counter(arms_of(catalogue.experiments, m)["send-time"].id for m in members)
    assert (send.treated, send.holdout) == (expected["now"], expected["habitual"])
    assert send.holdout_share == pytest.approx(0.5)
    assert send.measured == 40 and send.srm is not None and not send.srm.flagged
    conversion = next(r for r in send.rows if r.metric == "conversion")
    assert conversion.n_treatment + conversion.n_control == 40
    channel = reports["policy:email-only:email vs any"]
    assert channel.holdout_share == pytest.approx(0.6)


def test_an_arm_can_switch_an_action_off() -> None:
    text = CATALOGUE.replace(
        "      - {id: email, share: 0.4, channels: [email]}",
        "      - {id: email, share: 0.4, without: [hello]}",
    )
    catalogue = parse_catalogue(text)
    engine = DecisionEngine(catalogue)
    chosen: Counter[tuple[str, str]] = Counter()
    for i in range(100):
        facts = _facts(i)
        arm = arms_of(catalogue.experiments, facts.member_id)["email-only"].id
        d = engine.decide(facts, Request(at=NOW, seed=i), {})
        chosen[(arm, d.action.id)] += 1
        if arm == "email":
            assert "switched off" in " ".join(d.why["filtered"]["hello"])
    assert chosen[("email", "hello")] == 0 and chosen[("any", "hello")] > 0
