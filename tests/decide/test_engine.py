"""The pure decision engine: eligibility, governance, scoring, arbitration and explanation.

Small inline catalogues keep one behaviour per test readable; the demo catalogue (Bean &
Bake) checks the same behaviours on the real configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from nextbest.decide.actions import OUTBOUND, Catalogue
from nextbest.decide.catalogue import DEMO_CATALOGUE, load_catalogue, parse_catalogue
from nextbest.decide.engine import (
    Candidate,
    Decision,
    Engine,
    MemberFacts,
    Request,
    in_holdout,
)
from nextbest.decide.governance import in_quiet_hours, slots_for
from nextbest.decide.learner import Learner

DEMO = load_catalogue(DEMO_CATALOGUE)
PARIS = "Europe/Paris"
PURPOSES = ("marketing", "loyalty", "service")
EVERY_CONSENT = {f"{c}/{p}": True for c in OUTBOUND for p in PURPOSES}
# The demo member reads well on email: 7 opens in 16 deliveries, seen with chance 0.4.
ENGAGED = {"email.delivered": 16, "email.opened": 7}


def at_local(tz: str, year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A moment given as a member's wall-clock time, as the UTC instant a request carries."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def outside_holdout(share: float, prefix: str = "m") -> str:
    return next(f"{prefix}_{i}" for i in count() if not in_holdout(f"{prefix}_{i}", share))


MEMBER = outside_holdout(DEMO.learning.holdout_share)
# 16:00 in Paris on a Tuesday: past lunch (context.hour < 12 fails), not a weekend.
AFTERNOON = at_local(PARIS, 2026, 6, 2, 16)
# 23:00 in Paris on a Tuesday in winter: inside quiet hours (21:00 to 08:00).
LATE = at_local(PARIS, 2026, 1, 13, 23)


def facts(
    member: Mapping[str, Any] | None = None,
    scores: Mapping[str, Any] | None = None,
    ledger: Mapping[str, Any] | None = None,
    *,
    member_id: str = MEMBER,
    consent: Mapping[str, bool] = EVERY_CONSENT,
    timezone: str | None = PARIS,
    **kw: Any,
) -> MemberFacts:
    kw.setdefault("churn_risk", (scores or {}).get("churn_risk"))
    kw.setdefault("purchases", int((member or {}).get("purchase_count", 0)))
    return MemberFacts(
        member_id=member_id,
        env={"member": dict(member or {}), "scores": dict(scores or {}), "ledger": ledger or {}},
        consent=consent,
        timezone=timezone,
        **kw,
    )


def regular(open_tickets: int = 0, **extra: Any) -> MemberFacts:
    """A demo member several actions want: a valuable regular who is lapsing, likes pastries,
    has beans expiring and is near a tier."""
    member = {
        "purchase_count": 6,
        "open_tickets": open_tickets,
        "average_rating": 4.5,
        "category_affinity": {"coffee": 0.7},
    }
    scores = {
        "churn_risk": 0.7,
        "p_alive": 0.5,
        "clv_12m": 600.0,
        "propensity_bakery": 0.5,
        "propensity_beans": 0.4,
        "propensity_lunch": 0.4,
    }
    ledger = {"balance": 300, "tier": "gold", "points_expiring_30d": 80, "points_to_next_tier": 40}
    return facts(member, scores, ledger, engagement=ENGAGED, **extra)


def candidate(decision: Decision, action_id: str) -> Candidate:
    return next(c for c in decision.candidates if c.action_id == action_id)


def winning(
    engine: Engine, member: MemberFacts, request: Request, action_id: str, usage: Any = None
) -> Decision:
    """The decision of the first seed under which ``action_id`` is drawn (exploration
    makes any competitor a possible winner; the seed makes the draw reproducible)."""
    for seed in range(200):
        d = engine.decide(member, replace(request, seed=seed), usage or {})
        if d.action.id == action_id:
            return d
    raise AssertionError(f"{action_id} never won in 200 seeds")


def catalogue(actions: str, *, policy: str = "", extra: str = "") -> Catalogue:
    """An inline catalogue without holdout, so any member id decides."""
    text = "catalogue: inline\nlearning: {holdout_share: 0, exploration: 0.05}\n"
    if policy:
        text += "policy:\n" + policy
    text += extra + "actions:\n" + actions
    return parse_catalogue(text)


def message(action_id: str, channels: str, **fields: Any) -> str:
    spec = {"kind": "message", "channels": f"[{channels}]", "value": 10, "response": 0.3}
    spec.update({"baseline": 0.1, **fields})
    body = ", ".join(f"{k}: {v}" for k, v in spec.items())
    return f"  - {{id: {action_id}, {body}}}\n"


# --- priority classes and suppression -------------------------------------------------


def test_an_open_ticket_gets_the_apology_and_suppresses_marketing_and_upsell() -> None:
    engine = Engine(DEMO)
    d = engine.decide(regular(open_tickets=1), Request(at=AFTERNOON), {})
    assert d.action.id == "service-apology"
    assert d.channel == "email"  # sms would do too, but email is better seen by this member
    assert d.propensity == 1.0  # the only service action: no exploration against it
    assert d.why["priority_class"] == "service"
    assert d.send_at == AFTERNOON  # a service contact goes now
    # Eligible for each of these, yet switched off while the ticket is open.
    for action_id in (
        "winback-200",
        "cross-sell-bakery",
        "cross-sell-beans",
        "points-expiry-reminder",
        "tier-progress",
    ):
        assert candidate(d, action_id).reasons == ["suppressed: open service ticket"]
    assert candidate(d, "do-nothing").reasons == ["outranked: a service action is due"]


def test_without_a_ticket_the_same_member_gets_marketing() -> None:
    d = Engine(DEMO).decide(regular(open_tickets=0), Request(at=AFTERNOON), {})
    assert candidate(d, "service-apology").reasons == [
        "rule not met: member.open_tickets > 0 || member.average_rating <= 2"
    ]
    competing = {c.action_id for c in d.candidates if not c.reasons}
    assert competing == {"winback-200", "do-nothing"}  # retention outranks marketing
    for action_id in ("cross-sell-bakery", "points-expiry-reminder", "tier-progress"):
        assert candidate(d, action_id).reasons == ["outranked: a retention action is due"]


def test_an_unhappy_member_loses_upsell_only() -> None:
    member = regular(open_tickets=0)
    unhappy = replace(
        member, env={**member.env, "member": {**member.env["member"], "average_rating": 2}}
    )
    d = Engine(DEMO).decide(unhappy, Request(at=AFTERNOON), {})
    assert d.action.id == "service-apology"  # a low rating also makes the apology due
    assert candidate(d, "cross-sell-bakery").reasons == ["suppressed: unhappy member"]
    assert candidate(d, "tier-progress").reasons == ["outranked: a service action is due"]


# --- consent --------------------------------------------------------------------------

CONSENT = catalogue(
    message("promo", "email")
    + message("perk", "sms", purpose="loyalty")
    + "  - {id: notice, kind: service, channels: [push], value: 1, response: 0.5}\n"
)


@pytest.mark.parametrize("given", [{}, {"email/marketing": False}, {"email/loyalty": True}])
def test_marketing_needs_an_explicit_yes_for_the_channel(given: dict[str, bool]) -> None:
    d = Engine(CONSENT).decide(facts(consent=given), Request(at=AFTERNOON), {})
    assert candidate(d, "promo").reasons == ["email: no consent to email for marketing"]


def test_loyalty_needs_its_own_yes_and_marketing_does_not_count() -> None:
    engine = Engine(CONSENT)
    d = engine.decide(facts(consent={"sms/marketing": True}), Request(at=AFTERNOON), {})
    assert candidate(d, "perk").reasons == ["sms: no consent to sms for loyalty"]
    d = engine.decide(facts(consent={"sms/loyalty": True}), Request(at=AFTERNOON), {})
    assert candidate(d, "perk").channel == "sms"


def test_with_consent_the_marketing_action_competes_on_that_channel() -> None:
    d = Engine(CONSENT).decide(facts(consent={"email/marketing": True}), Request(at=AFTERNOON), {})
    promo = candidate(d, "promo")
    assert promo.channel == "email"
    assert promo.reasons == ["outranked: a service action is due"]  # consent was not it


def test_service_goes_out_unless_refused() -> None:
    engine = Engine(CONSENT)
    d = engine.decide(facts(consent={}), Request(at=AFTERNOON), {})
    assert (d.action.id, d.channel) == ("notice", "push")
    d = engine.decide(facts(consent={"push/service": False}), Request(at=AFTERNOON), {})
    assert candidate(d, "notice").reasons == ["push: member refused push for service"]


def test_the_demo_falls_back_to_a_consented_channel() -> None:
    only_push = {"push/marketing": True}
    d = Engine(DEMO).decide(regular(consent=only_push), Request(at=AFTERNOON), {})
    winback = candidate(d, "winback-200")
    assert winback.channel == "push"
    assert {"channel": "email: no consent to email for marketing", "passed": False} in (
        winback.rules
    )


# --- quiet hours and send time --------------------------------------------------------

QUIET = catalogue(
    message("by-sms", "sms") + message("by-push", "push") + message("by-email", "email"),
    policy="  quiet_hours: {start: 21, end: 8, channels: [sms, push]}\n",
)


@pytest.mark.parametrize(
    "active_hours",
    [{}, {"22": 9, "5": 4}, {"6": 12, "7": 3, "16": 2}],  # UTC hours: 23, 6 and 7, 8 local
    ids=["no-history", "active-at-night", "active-at-breakfast"],
)
def test_at_23_local_sms_and_push_wait_for_the_morning(active_hours: dict[str, int]) -> None:
    member = facts(active_hours=active_hours)
    d = Engine(QUIET).decide(member, Request(at=LATE), {})
    paris = ZoneInfo(PARIS)
    morning = datetime(2026, 1, 14, 8, tzinfo=paris)
    for action_id in ("by-sms", "by-push"):
        c = candidate(d, action_id)
        assert c.send_at is not None
        assert c.send_at >= morning
        assert c.send_at < morning + timedelta(hours=13)  # the same day, before 21:00
        assert not in_quiet_hours(QUIET.policy, c.send_at.astimezone(paris))


def test_email_is_not_a_quiet_channel_and_goes_now() -> None:
    d = Engine(QUIET).decide(facts(), Request(at=LATE), {})
    email = candidate(d, "by-email")
    assert email.send_at == LATE
    assert email.timing == "sent at the first moment no habitual hours known"
    sms = candidate(d, "by-sms")
    assert sms.timing == "sent at the first moment outside quiet hours"


def test_send_now_in_quiet_hours_refuses_the_quiet_channels() -> None:
    d = Engine(QUIET).decide(facts(), Request(at=LATE, send_now=True), {})
    assert candidate(d, "by-sms").reasons == ["sms: quiet hours"]
    assert candidate(d, "by-push").reasons == ["push: quiet hours"]
    assert candidate(d, "by-email").send_at == LATE


def test_a_member_active_at_18_local_gets_marketing_then() -> None:
    morning = at_local(PARIS, 2026, 1, 13, 10)
    d = Engine(QUIET).decide(facts(active_hours={"17": 30}), Request(at=morning), {})
    assert candidate(d, "by-email").send_at == datetime(2026, 1, 13, 18, tzinfo=ZoneInfo(PARIS))
    assert candidate(d, "by-email").timing == "member most active around 18:00 local (30 of 30)"


@pytest.mark.parametrize("apology_first", [False, True])
def test_service_goes_now_whatever_a_marketing_action_on_its_channel_waits_for(
    apology_first: bool,
) -> None:
    """Send times are worked out once per channel *and* urgency: a service action never
    inherits a marketing action's deferred time, nor a marketing action a service refusal."""
    apology = "  - {id: apology, kind: service, channels: [sms], value: 10, response: 0.5}\n"
    promo = message("promo", "sms")
    cat = catalogue(apology + promo if apology_first else promo + apology)
    engine = Engine(cat)
    member = facts(active_hours={"17": 50})  # 18:00 in Paris
    morning = at_local(PARIS, 2026, 1, 13, 10)
    d = engine.decide(member, Request(at=morning), {})
    assert (d.action.id, d.send_at) == ("apology", morning)
    assert candidate(d, "promo").send_at == datetime(2026, 1, 13, 18, tzinfo=ZoneInfo(PARIS))
    # At 23:00 the apology cannot go by sms now; the promotion still waits for the evening.
    d = engine.decide(member, Request(at=LATE), {})
    assert candidate(d, "apology").reasons == ["sms: quiet hours"]
    assert candidate(d, "promo").send_at == datetime(2026, 1, 14, 18, tzinfo=ZoneInfo(PARIS))


# --- frequency caps -------------------------------------------------------------------

CAPPED = catalogue(
    message("mail-only", "email") + message("mail-or-push", "email, push"),
    policy="  caps: [{limit: 1, period: day, channel: email}, {limit: 3, period: week}]\n",
)


def cap_key(
    cat: Catalogue,
    member: MemberFacts,
    action_id: str,
    channel: str,
    text: str,
    at: datetime = LATE,
) -> str:
    """The key of the slot whose reason says ``text``, for a contact at ``at`` in Paris."""
    local = at.astimezone(ZoneInfo(PARIS))
    slots = slots_for(
        cat.policy,
        member_id=member.member_id,
        action=cat.action(action_id),
        channel=channel,
        local_at=local,
    )
    return next(s.key for s in slots if text in s.reason)


def test_a_day_cap_reached_filters_the_channel_and_is_reported() -> None:
    member = facts(engagement={"email.delivered": 10, "email.opened": 8})
    engine = Engine(CAPPED)
    request = Request(at=LATE)
    key = cap_key(CAPPED, member, "mail-only", "email", "per day on email")
    assert key == f"m:{MEMBER}:email:2026-01-13"  # the member's local day
    assert key in engine.slot_keys(member, request)
    d = engine.decide(member, request, {key: 1})
    assert candidate(d, "mail-only").reasons == ["email: cap 1 per day on email"]
    other = candidate(d, "mail-or-push")
    assert other.channel == "push"  # email was better seen, but its slot is used
    assert {"channel": "email: cap 1 per day on email", "passed": False} in other.rules
    assert d.why["caps_hit"] == ["cap 1 per day on email"]
    assert d.why["filtered"]["mail-only"] == ["email: cap 1 per day on email"]


def test_a_cap_on_one_channel_is_reported_when_another_carries_the_action() -> None:
    cat = catalogue(
        message("mail-or-push", "email, push"),
        policy="  caps: [{limit: 1, period: day, channel: email}]\n",
    )
    member = facts(engagement=ENGAGED)
    key = cap_key(cat, member, "mail-or-push", "email", "per day on email", AFTERNOON)
    d = winning(Engine(cat), member, Request(at=AFTERNOON), "mail-or-push", {key: 1})
    assert d.channel == "push"
    assert d.why["caps_hit"] == ["cap 1 per day on email"]
    assert {"channel": "email: cap 1 per day on email", "passed": False} in d.why["rules"]


def test_a_week_cap_over_every_channel_filters_all_outbound_actions() -> None:
    member = facts()
    key = cap_key(CAPPED, member, "mail-only", "email", "per week")
    assert key == f"m:{MEMBER}:all:2026-W03"
    d = Engine(CAPPED).decide(member, Request(at=LATE), {key: 3})
    assert d.action.id == "do-nothing"
    assert candidate(d, "mail-or-push").reasons == [
        "email: cap 3 per week on all channels",
        "push: cap 3 per week on all channels",
    ]
    assert d.why["caps_hit"] == ["cap 3 per week on all channels"]


def test_without_usage_no_cap_is_hit() -> None:
    d = Engine(CAPPED).decide(facts(), Request(at=LATE), {})
    assert d.why["caps_hit"] == []
    assert {c.channel for c in d.candidates if not c.reasons} >= {"email"}


def test_a_rule_naming_a_cappuccino_is_not_a_cap() -> None:
    cat = catalogue(message("latte", "email", eligibility='"member.cappuccinos > 2"'))
    d = Engine(cat).decide(facts({"cappuccinos": 1}), Request(at=AFTERNOON), {})
    assert candidate(d, "latte").reasons == ["rule not met: member.cappuccinos > 2"]
    assert d.why["caps_hit"] == []


def test_the_apology_passes_the_demo_caps_but_not_its_member_cap() -> None:
    engine = Engine(DEMO)
    member = regular(open_tickets=1)
    request = Request(at=AFTERNOON)
    keys = engine.slot_keys(member, request)
    usage = {k: 99 for k in keys if ":action:" not in k}  # every cap and the cool-down used
    d = engine.decide(member, request, usage)
    assert (d.action.id, d.channel) == ("service-apology", "email")
    assert [s.key for s in d.slots] == [f"m:{MEMBER}:action:service-apology"]
    d = engine.decide(member, request, {f"m:{MEMBER}:action:service-apology": 2})
    assert candidate(d, "service-apology").reasons == [
        "email: member cap 2 for service-apology",
        "sms: member cap 2 for service-apology",
    ]
    assert d.why["caps_hit"] == ["member cap 2 for service-apology"]


def test_slot_keys_name_the_next_days_cap_of_a_deferred_contact() -> None:
    """At 23:00 a push waits for 08:00 tomorrow and takes tomorrow's cap: the counters read
    before deciding must include it, or a full one would look free."""
    cat = catalogue(
        message("by-push", "push"),
        policy="  caps: [{limit: 1, period: day, channel: push}]\n",
    )
    engine = Engine(cat)
    member, request = facts(), Request(at=LATE)
    d = engine.decide(member, request, {})
    tomorrow = f"m:{MEMBER}:push:2026-01-14"
    assert [s.key for s in d.slots] == [tomorrow]
    assert tomorrow in engine.slot_keys(member, request)
    d = engine.decide(member, request, {tomorrow: 1})
    assert candidate(d, "by-push").reasons == ["push: cap 1 per day on push"]


# --- validity window ------------------------------------------------------------------

SEASONAL = catalogue(message("summer", "email", valid="{from: 2026-06-01, until: 2026-09-01}"))


@pytest.mark.parametrize(
    ("at", "reasons"),
    [
        (
            datetime(2026, 5, 31, 23, 59, 59, tzinfo=UTC),
            ["not valid before 2026-06-01T00:00:00+00:00"],
        ),
        (datetime(2026, 6, 1, tzinfo=UTC), []),
        (datetime(2026, 8, 31, 23, 59, 59, tzinfo=UTC), []),
        (datetime(2026, 9, 1, tzinfo=UTC), ["expired at 2026-09-01T00:00:00+00:00"]),
        (datetime(2027, 1, 1, tzinfo=UTC), ["expired at 2026-09-01T00:00:00+00:00"]),
    ],
)
def test_an_action_outside_its_validity_window_is_filtered(
    at: datetime, reasons: list[str]
) -> None:
    d = Engine(SEASONAL).decide(facts(timezone="UTC"), Request(at=at), {})
    assert candidate(d, "summer").reasons == reasons


def test_the_demo_cold_brew_only_runs_in_summer() -> None:
    member = facts(
        {"open_tickets": 0},
        {"propensity_cold_drinks": 0.6},
        {},
        engagement=ENGAGED,
    )
    spring = at_local(PARIS, 2026, 3, 31, 16)
    d = Engine(DEMO).decide(member, Request(at=spring), {})
    assert candidate(d, "new-cold-brew").reasons == ["not valid before 2026-04-01T00:00:00+00:00"]
    d = Engine(DEMO).decide(member, Request(at=AFTERNOON), {})
    assert candidate(d, "new-cold-brew").channel == "email"


def test_a_contact_deferred_past_the_end_of_the_window_is_not_sent() -> None:
    """Valid until midnight UTC; at 23:00 in Paris an sms would go out at 08:00, too late."""
    cat = catalogue(
        message("last-call", "sms", valid="{until: 2026-01-14T00:00:00Z}")
        + message("last-mail", "email", valid="{until: 2026-01-14T00:00:00Z}")
    )
    d = Engine(cat).decide(facts(), Request(at=LATE), {})
    assert candidate(d, "last-call").reasons == [
        "sms: would go out after it expires at 2026-01-14T00:00:00+00:00"
    ]
    assert candidate(d, "last-mail").send_at == LATE


# --- scoring --------------------------------------------------------------------------

SCORED = catalogue(
    message("points", "email, push", value=20, response=0.3, baseline=0.1, cost=0.5, points=100),
    extra="cost_per_point: 0.01\nbreakage: 0.2\n",
)


def test_expected_incremental_value_is_uplift_times_value_minus_cost() -> None:
    d = winning(Engine(SCORED), facts(engagement=ENGAGED), Request(at=AFTERNOON), "points")
    c = candidate(d, "points")
    assert c.channel == "email"
    assert c.seen == pytest.approx(0.4)  # (7 + 1) / (16 + 4)
    assert (c.p_treated, c.p_control) == pytest.approx((0.3, 0.1))
    assert c.uplift == pytest.approx(0.4 * (0.3 - 0.1))
    assert c.value == 20.0
    assert c.cost == pytest.approx(0.5 + 100 * 0.01 * (1 - 0.2))
    assert c.score == pytest.approx(0.08 * 20 - 1.3)
    assert d.why["summary"] == (
        "points (points) on email: expected incremental value 0.30"
        " = uplift 0.080 x value 20.00 - cost 1.30"
    )


def test_the_demo_scores_by_its_catalogue_numbers() -> None:
    member = regular()
    engine = Engine(DEMO)
    request = Request(at=AFTERNOON, actions=frozenset({"winback-200", "tier-progress"}))
    d = winning(engine, member, request, "winback-200")
    c = candidate(d, "winback-200")
    churn, clv = 0.7, 600.0
    seen = 8 / 20
    assert c.channel == "email"
    assert c.p_treated == pytest.approx(0.08)
    assert c.p_control == pytest.approx(0.05 * (1 - churn))
    assert c.uplift == pytest.approx(seen * (0.08 - 0.05 * (1 - churn)))
    assert c.value == pytest.approx(clv * 0.25)
    assert c.cost == pytest.approx(0.02 + 200 * 0.02 * (1 - 0.3))
    # uplift * value * lever * levers.season - cost, with lever and season at 1
    assert c.score == pytest.approx(c.uplift * c.value - c.cost)
    # tier-progress is outranked (marketing under retention), so it was never scored
    tier = candidate(d, "tier-progress")
    assert tier.reasons == ["outranked: a retention action is due"]
    assert (tier.channel, tier.uplift, tier.score) == ("email", 0.0, 0.0)


def test_a_marketing_lever_scales_the_demo_score() -> None:
    text = DEMO_CATALOGUE.read_text().replace("levers: {season: 1.0}", "levers: {season: 2.0}")
    boosted = Engine(parse_catalogue(text))
    member = regular()
    request = Request(at=AFTERNOON, actions=frozenset({"winback-200"}))
    plain = candidate(Engine(DEMO).decide(member, request, {}), "winback-200")
    twice = candidate(boosted.decide(member, request, {}), "winback-200")
    assert twice.score == pytest.approx(2 * plain.uplift * plain.value - plain.cost)


def test_candidates_and_explanation_are_plain_json_numbers() -> None:
    d = winning(Engine(DEMO), regular(), Request(at=AFTERNOON), "winback-200")
    for c in d.candidates:
        record = c.as_dict()
        for name in ("p_treated", "p_control", "seen", "uplift", "score", "score_sd"):
            if name in record:
                assert type(record[name]) is float, (c.action_id, name)
        assert orjson.loads(orjson.dumps(record)) == record  # no default= needed
    assert orjson.loads(orjson.dumps(d.why)) == d.why


# --- holdout --------------------------------------------------------------------------


def test_a_holdout_member_gets_nothing_with_certainty() -> None:
    share = DEMO.learning.holdout_share
    held = next(f"m_{i}" for i in count() if in_holdout(f"m_{i}", share))
    member = replace(regular(open_tickets=1), member_id=held)  # even an apology is withheld
    engine = Engine(DEMO)
    for seed, at in ((0, AFTERNOON), (7, LATE)):
        d = engine.decide(member, Request(at=at, seed=seed), {})
        assert d.holdout is True
        assert d.action.id == "do-nothing" and d.action.kind == "nothing"
        assert d.propensity == 1.0
        assert d.slots == [] and not d.contacts
        assert [c.action_id for c in d.candidates] == ["do-nothing"]
        assert "universal holdout" in d.why["summary"]


def test_holdout_assignment_is_stable_and_about_its_share() -> None:
    ids = [f"m_{i}" for i in range(4000)]
    held = [i for i in ids if in_holdout(i, 0.05)]
    assert held == [i for i in ids if in_holdout(i, 0.05)]
    assert 0.04 < len(held) / len(ids) < 0.06
    assert not any(in_holdout(i, 0.0) for i in ids)
    assert set(held) <= {i for i in ids if in_holdout(i, 0.2)}  # a larger share keeps them


# --- explanation ----------------------------------------------------------------------


def test_the_explanation_gives_rules_ranking_filtered_and_the_scores_behind_it() -> None:
    versions = {"churn_risk": "churn-v3", "clv_12m": "clv-v2", "p_alive": "btyd-v1"}
    drivers = {"churn_risk": [{"feature": "recency_days", "contribution": 0.3}]}
    member = regular(model_versions=versions, drivers=drivers)
    d = winning(Engine(DEMO), member, Request(at=AFTERNOON), "winback-200")
    why = d.why
    assert why["summary"].startswith(
        "200 bonus beans to come back (winback-200) on email: expected incremental value"
    )
    assert why["priority_class"] == "retention"
    assert why["rules"] == [
        {"rule": "scores.churn_risk > 0.5", "passed": True},
        {"rule": "member.purchase_count >= 2", "passed": True},
    ]
    ranked = [r["action"] for r in why["ranking"]]
    assert set(ranked) == {"winback-200", "do-nothing"}
    scores = [r["score"] for r in why["ranking"]]
    assert scores == sorted(scores, reverse=True)
    assert sum(r["propensity"] for r in why["ranking"]) == pytest.approx(1.0)
    filtered = why["filtered"]
    assert "winback-200" not in filtered and "do-nothing" not in filtered
    assert filtered["cross-sell-lunch"] == ["rule not met: context.hour < 12"]
    assert filtered["tier-progress"] == ["outranked: a retention action is due"]
    assert filtered["birthday-treat"] == ["rule not met: has(member.birthday)"]
    # winback reads churn_risk (rule, baseline) and clv_12m (value), not p_alive
    assert why["scores"] == {
        "churn_risk": {"value": 0.7, "model_version": "churn-v3", "drivers": drivers["churn_risk"]},
        "clv_12m": {"value": 600.0, "model_version": "clv-v2", "drivers": None},
    }
    assert why["learner"] == {"version": 0, "propensity": d.propensity}
    assert d.model_versions == versions
    assert d.policy_version == f"{DEMO.version}.l0"


def test_do_nothing_explains_itself() -> None:
    member = facts({"open_tickets": 0}, {}, {})
    d = Engine(DEMO).decide(member, Request(at=AFTERNOON), {})
    assert d.action.id == "do-nothing" and d.propensity == 1.0
    assert d.why["summary"] == (
        "do nothing: no action with a better expected value was due (class MARKETING)"
    )
    assert d.why["scores"] == {}
    assert set(d.why["filtered"]) == {a.id for a in DEMO.actions} - {"do-nothing"}


# --- races and learning ---------------------------------------------------------------

TWO_CHANNELS = catalogue(message("promo", "email, push"))


def test_exclude_removes_the_action_channel_pair_that_lost_a_race() -> None:
    engine = Engine(TWO_CHANNELS)
    member = facts(engagement=ENGAGED)
    d = engine.decide(member, Request(at=AFTERNOON), {})
    assert candidate(d, "promo").channel == "email"
    lost = Request(at=AFTERNOON, exclude=frozenset({("promo", "email")}))
    promo = candidate(engine.decide(member, lost, {}), "promo")
    assert promo.channel == "push"
    assert {"channel": "email: its last slot went to a concurrent decision", "passed": False} in (
        promo.rules
    )
    both = replace(lost, exclude=frozenset({("promo", "email"), ("promo", "push")}))
    d = engine.decide(member, both, {})
    assert d.action.id == "do-nothing"
    assert candidate(d, "promo").reasons == [
        "email: its last slot went to a concurrent decision",
        "push: its last slot went to a concurrent decision",
    ]


def test_exclude_of_another_action_changes_nothing() -> None:
    engine = Engine(TWO_CHANNELS)
    member = facts(engagement=ENGAGED)
    plain = engine.decide(member, Request(at=AFTERNOON), {})
    other = engine.decide(member, Request(at=AFTERNOON, exclude=frozenset({("tip", "email")})), {})
    assert [c.as_dict() for c in other.candidates] == [c.as_dict() for c in plain.candidates]


def test_positive_outcomes_raise_an_actions_propensity() -> None:
    # Treated and untreated respond alike: the prior sees no uplift, a coin flip with nothing.
    cat = catalogue(message("tip", "email", value=10, response=0.2, baseline=0.2))
    engine = Engine(cat, Learner(prior_strength=cat.learning.prior_strength))
    member = facts(engagement=ENGAGED, churn_risk=0.4, days_since_purchase=30.0)
    request = Request(at=AFTERNOON, seed=3)
    before = candidate(engine.decide(member, request, {}), "tip")
    assert 0.3 < before.propensity < 0.7
    for _ in range(300):
        engine.learner.learn("tip", before.features, 0.3)
    after = candidate(engine.decide(member, request, {}), "tip")
    assert engine.learner.version == 300
    assert after.p_treated > before.p_treated + 0.2
    assert after.score > before.score
    assert after.score_sd < before.score_sd  # the posterior is surer
    assert after.propensity > before.propensity
    assert after.propensity == pytest.approx(1 - 0.05 / 2)  # always wins but the floor
    assert engine.policy_version.endswith(".l300")
