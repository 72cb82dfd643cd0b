"""Properties of the decision engine over random members, moments and counters: it is
reproducible, its propensities are a distribution, and what it chooses never breaks consent,
quiet hours, suppression or a full slot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nextbest.decide.actions import OUTBOUND, Catalogue
from nextbest.decide.catalogue import DEMO_CATALOGUE, load_catalogue, parse_catalogue
from nextbest.decide.engine import Candidate, Decision, Engine, MemberFacts, Request
from nextbest.decide.governance import (
    full_slot,
    in_quiet_hours,
    slots_for,
    suppressed_by,
    zone,
)
from nextbest.decide.learner import Learner

DEMO = load_catalogue(DEMO_CATALOGUE)
# Another policy: quiet hours that do not match the demo's, a channel cap, a cool-down, a
# service action on a quiet channel and an action whose window ends inside the year.
OTHER = parse_catalogue(
    """
catalogue: other
policy:
  caps: [{limit: 1, period: day, channel: sms}, {limit: 2, period: day}, {limit: 4, period: week}]
  quiet_hours: {start: 20, end: 9, channels: [sms, push, in_app]}
  cooldown_hours: 6
  default_timezone: Asia/Tokyo
  suppressions:
    - {name: complaint, when: "member.open_tickets > 0", priorities: [marketing]}
    - {name: lapsed, when: "scores.churn_risk > 0.9", tags: [promo]}
learning: {holdout_share: 0.1, exploration: 0.1}
actions:
  - {id: notice, kind: service, channels: [sms, email], eligibility: "member.open_tickets > 1",
     value: 5, response: 0.6, baseline: 0.2, member_cap: 1}
  - {id: keep, kind: offer, priority: retention, channels: [push, email],
     eligibility: "scores.churn_risk > 0.6", value: "scores.clv_12m * 0.1", response: 0.2,
     baseline: 0.1, points: 50, budget: 3}
  - {id: flash, kind: offer, channels: [sms, push, in_app], value: 12, response: 0.3,
     baseline: 0.1, valid: {from: 2026-03-01, until: 2026-08-15T12:00:00Z}, tags: [promo]}
  - {id: news, kind: message, channels: [email, in_app, app], purpose: loyalty, value: 3,
     response: 0.2, baseline: 0.1, tags: [promo]}
"""
)
CATALOGUES = {"demo": DEMO, "other": OTHER}
ZONES = (
    "Europe/Paris",
    "America/New_York",
    "America/St_Johns",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
    "Pacific/Chatham",
    "UTC",
    None,  # unknown: the catalogue's default
    "Mars/Olympus_Mons",  # invalid: the catalogue's default
)
# Days where clocks change (US, EU, Sydney, Chatham) and the edges of the windows above.
DAYS = (
    date(2026, 3, 8),
    date(2026, 3, 29),
    date(2026, 4, 5),
    date(2026, 9, 27),
    date(2026, 10, 4),
    date(2026, 10, 25),
    date(2026, 11, 1),
    date(2026, 2, 28),
    date(2026, 3, 31),
    date(2026, 8, 14),
    date(2026, 8, 15),
    date(2026, 9, 30),
)
CONSENT_KEYS = tuple(
    f"{c}/{p}"
    for c in ("email", "sms", "push", "in_app", "phone")
    for p in ("marketing", "loyalty", "service")
)
ENGAGEMENT_KEYS = tuple(
    f"{c}.{k}" for c in ("email", "sms", "push") for k in ("delivered", "opened")
)
LEARNED = ("winback-200", "tier-progress", "cross-sell-bakery", "keep", "flash", "__control__")

unit = st.floats(0.0, 1.0, allow_nan=False)
maybe = st.one_of(st.none(), unit)
# Each channel and purpose: not asked, refused or (most often) granted.
consents = st.fixed_dictionaries(
    {}, optional={k: st.sampled_from([True, True, False]) for k in CONSENT_KEYS}
)


@st.composite
def members(draw: st.DrawFn) -> MemberFacts:
    churn = draw(maybe)
    purchases = draw(st.integers(0, 40))
    member: dict[str, Any] = {
        "purchase_count": purchases,
        "open_tickets": draw(st.sampled_from([0, 0, 0, 1, 2])),
        "average_rating": draw(st.one_of(st.none(), st.floats(1.0, 5.0))),
        "category_affinity": draw(
            st.dictionaries(st.sampled_from(["coffee", "bakery", "lunch"]), unit, max_size=3)
        ),
    }
    if draw(st.booleans()):
        member["birthday"] = "1990-05-17"
    scores = {
        name: value
        for name, value in {
            "churn_risk": churn,
            "p_alive": draw(maybe),
            "clv_12m": draw(st.one_of(st.none(), st.floats(0.0, 2000.0))),
            "expected_order_value": draw(st.one_of(st.none(), st.floats(1.0, 40.0))),
            "propensity_bakery": draw(maybe),
            "propensity_lunch": draw(maybe),
            "propensity_beans": draw(maybe),
            "propensity_cold_drinks": draw(maybe),
        }.items()
        if value is not None
    }
    ledger = {
        "balance": draw(st.integers(0, 5000)),
        "tier": draw(st.sampled_from([None, "green", "gold", "reserve"])),
        "points_expiring_30d": draw(st.integers(0, 300)),
        "points_to_next_tier": draw(st.one_of(st.none(), st.integers(0, 200))),
    }
    return MemberFacts(
        member_id=f"m_{draw(st.integers(0, 10**6))}",
        env={"member": member, "scores": scores, "ledger": ledger},
        consent=draw(consents),
        timezone=draw(st.sampled_from(ZONES)),
        active_hours=draw(
            st.dictionaries(st.integers(0, 23).map(str), st.integers(0, 30), max_size=6)
        ),
        engagement=draw(
            st.dictionaries(st.sampled_from(ENGAGEMENT_KEYS), st.integers(0, 60), max_size=6)
        ),
        churn_risk=churn,
        days_since_purchase=draw(st.one_of(st.none(), st.floats(0.0, 400.0))),
        purchases=purchases,
        model_versions={name: f"{name}-v1" for name in scores},
    )


@dataclass(frozen=True)
class Case:
    catalogue: Catalogue
    facts: MemberFacts
    request: Request
    learned: tuple[tuple[str, tuple[float, ...], float], ...]

    def engine(self) -> Engine:
        """A fresh engine in the case's state: the same learning replayed on a new learner."""
        learner = Learner(prior_strength=self.catalogue.learning.prior_strength)
        for action_id, x, residual in self.learned:
            learner.learn(action_id, x, residual)
        return Engine(self.catalogue, learner)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A member at a random wall-clock moment of a day of 2026 in their own time zone."""
    cat = CATALOGUES[draw(st.sampled_from(sorted(CATALOGUES)))]
    facts = draw(members())
    day = draw(st.one_of(st.dates(date(2026, 1, 1), date(2026, 12, 31)), st.sampled_from(DAYS)))
    clock = draw(st.one_of(st.times(), st.times(time(19), time(23, 59, 59))))  # evenings too
    tz = zone(facts.timezone, cat.policy.default_timezone)
    at = datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)
    request = Request(
        at=at,
        channel=draw(st.sampled_from([None, None, None, "email", "sms", "push", "pos", "app"])),
        send_now=draw(st.booleans()),
        event=draw(st.sampled_from([None, {"type": "birthday"}])),
        seed=draw(st.integers(0, 2**31)),
    )
    x = st.tuples(st.just(1.0), unit, unit, unit, unit)
    learned = draw(
        st.lists(st.tuples(st.sampled_from(LEARNED), x, st.floats(-1.0, 1.0)), max_size=8)
    )
    return Case(cat, facts, request, tuple(learned))


def usage_for(data: st.DataObject, engine: Engine, case: Case) -> dict[str, int]:
    """Random counters over the keys the engine says a decision may consult."""
    keys = engine.slot_keys(case.facts, case.request)
    if not keys:
        return {}
    return data.draw(st.dictionaries(st.sampled_from(keys), st.integers(0, 5)), label="usage")


def summary(d: Decision) -> dict[str, Any]:
    return {
        "decision_id": d.decision_id,
        "action": d.action.id,
        "channel": d.channel,
        "send_at": d.send_at,
        "propensity": d.propensity,
        "holdout": d.holdout,
        "slots": d.slots,
        "features": d.features,
        "candidates": [c.as_dict() for c in d.candidates],
        "why": d.why,
    }


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(case=cases(), data=st.data())
def test_the_same_seed_and_state_give_the_same_decision(case: Case, data: st.DataObject) -> None:
    engine = case.engine()
    usage = usage_for(data, engine, case)
    first = engine.decide(case.facts, case.request, usage)
    again = engine.decide(case.facts, case.request, usage)
    elsewhere = case.engine().decide(case.facts, case.request, dict(usage))
    assert summary(again) == summary(first)
    assert summary(elsewhere) == summary(first)


@PROPERTY
@given(case=cases(), data=st.data())
def test_propensities_of_the_competitors_are_a_distribution(
    case: Case, data: st.DataObject
) -> None:
    engine = case.engine()
    d = engine.decide(case.facts, case.request, usage_for(data, engine, case))
    competed = [c for c in d.candidates if not c.reasons]
    assert competed, "do nothing or a service action always competes"
    for c in competed:
        assert 0.0 < c.propensity <= 1.0
    assert abs(sum(c.propensity for c in competed) - 1.0) < 1e-9
    assert all(c.propensity == 0.0 for c in d.candidates if c.reasons)
    (chosen,) = [c for c in competed if c.action_id == d.action.id]
    assert d.propensity == chosen.propensity
    assert (d.channel, d.send_at, d.slots) == (chosen.channel, chosen.send_at, chosen.slots)
    if d.holdout:
        assert (d.action.kind, d.propensity, len(d.candidates)) == ("nothing", 1.0, 1)
    else:
        assert d.why["learner"]["propensity"] == d.propensity


def assert_governed(
    engine: Engine, case: Case, usage: dict[str, int], c: Candidate, keys: set[str]
) -> None:
    """What a candidate that passed governance would do is allowed: any competitor may be
    drawn, so each one is checked, not only the winner."""
    facts, request, policy = case.facts, case.request, case.catalogue.policy
    action = case.catalogue.action(c.action_id)
    if action.kind == "nothing":
        assert c.slots == []
        return
    env, _local_now = engine.context(facts, request)
    assert all(rule.holds(env) for rule in action.eligibility)
    assert suppressed_by(policy, action, env) is None
    assert action.starts_at is None or request.at >= action.starts_at
    assert action.ends_at is None or request.at < action.ends_at
    assert c.channel is not None and c.channel in action.channels
    assert request.channel is None or c.channel == request.channel
    assert c.send_at is not None and c.send_at >= request.at
    assert action.ends_at is None or c.send_at < action.ends_at
    assert (c.action_id, c.channel) not in request.exclude
    if c.channel not in OUTBOUND:
        return  # an inbound placement: no contact, so no consent or quiet hours
    given_consent = facts.consent.get(f"{c.channel}/{action.purpose}")
    if action.purpose == "service":
        assert given_consent is not False
    else:
        assert given_consent is True
    tz = zone(facts.timezone, policy.default_timezone)
    local_send = c.send_at.astimezone(UTC).astimezone(tz)
    if c.channel in policy.quiet_channels:
        assert not in_quiet_hours(policy, local_send)
    slots = slots_for(
        policy, member_id=facts.member_id, action=action, channel=c.channel, local_at=local_send
    )
    assert [s.key for s in c.slots] == [s.key for s in slots]
    assert full_slot(slots, usage) is None
    # The service reads exactly slot_keys before deciding: a slot outside would read as free.
    assert {s.key for s in slots} <= keys


@PROPERTY
@given(case=cases(), data=st.data())
def test_the_chosen_action_respects_governance(case: Case, data: st.DataObject) -> None:
    engine = case.engine()
    usage = usage_for(data, engine, case)
    d = engine.decide(case.facts, case.request, usage)
    keys = set(engine.slot_keys(case.facts, case.request))
    (chosen,) = [c for c in d.candidates if c.action_id == d.action.id]
    assert d.contacts == (d.action.kind != "nothing" and d.channel in OUTBOUND)
    if d.holdout or d.action.kind == "nothing":
        assert not d.contacts and d.slots == []
    assert_governed(engine, case, usage, chosen, keys)
    for c in d.candidates:
        if all(r.startswith("outranked:") for r in c.reasons):
            assert_governed(engine, case, usage, c, keys)
