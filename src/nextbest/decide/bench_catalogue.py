"""A synthetic action catalogue for benchmarks: the demo policy and hundreds of actions.

``generate_catalogue`` writes YAML text that ``parse_catalogue`` loads, with the demo file's
contact policy (caps per channel per day and week, quiet hours, cool-down, its two
suppressions) and arbitration, and ``actions`` actions over the demo data's fields. Rule
thresholds are drawn so that about half the actions are eligible for ``typical_member``
(an active, happy, low-risk member): a benchmark then spends its time scoring candidates,
not only filtering them. Retention and service actions target members at risk or with a
problem, so for that member the marketing class competes (a higher class present would
outrank it and leave little to score).

>>> from nextbest.decide.catalogue import parse_catalogue
>>> cat = parse_catalogue(generate_catalogue())
>>> len(cat.actions), {len(a.channels) for a in cat.actions}
(201, {5})
>>> generate_catalogue(seed=3) == generate_catalogue(seed=3)
True
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import yaml

from nextbest.decide.actions import CHANNELS, OUTBOUND

DEFAULT_CHANNELS = ("email", "sms", "push", "in_app", "app")
QUIET_CHANNELS = ("sms", "push", "phone")  # the demo keeps these quiet at night
RULE_PASS = 0.8  # chance a marketing rule holds for the typical member: ~half of actions pass
RETENTION_SHARE = 0.15  # of offers and messages
UPSELL_SHARE = {"offer": 0.35, "message": 0.15, "service": 0.0}

# (rule, thresholds the typical member meets, thresholds they miss); "{}" takes a threshold.
Template = tuple[str, tuple[Any, ...], tuple[Any, ...]]
MARKETING_RULES: tuple[Template, ...] = (
    ("member.purchase_count >= {}", (1, 2, 3, 5), (12, 20)),
    ("member.days_since_purchase <= {}", (14, 30, 60, 90), (2, 4)),
    ("!has(member.average_rating) || member.average_rating >= {}", (3, 3.5, 4), (4.8,)),
    ("member.app_opens >= {}", (1, 5, 10), (40, 60)),
    ("member.offers_redeemed >= {}", (1, 2), (5, 10)),
    ("member.open_tickets == {}", (0,), ()),
    ("member.category_affinity.coffee >= {}", (0.2, 0.3, 0.5), (0.7, 0.8)),
    (
        "!has(member.category_affinity.lunch) || member.category_affinity.lunch < {}",
        (0.2, 0.3),
        (0.05, 0.1),
    ),
    ("scores.churn_risk < {}", (0.4, 0.5, 0.6, 0.7), (0.1, 0.15)),
    ("scores.p_alive > {}", (0.3, 0.5, 0.7), (0.95, 0.97)),
    ("scores.clv_12m >= {}", (25, 50, 75, 100), (150, 250)),
    ("scores.propensity_bakery > {}", (0.1, 0.2, 0.3), (0.5, 0.6)),
    ("scores.propensity_lunch > {}", (0.1, 0.2, 0.25), (0.45, 0.6)),
    ("scores.propensity_beans > {}", (0.1, 0.15, 0.2), (0.4, 0.5)),
    ("scores.propensity_cold_drinks > {}", (0.1, 0.2, 0.3), (0.5, 0.7)),
    ("ledger.balance >= {}", (50, 100, 200, 300), (500, 900)),
    ("ledger.tier in {}", ("['green', 'gold']", "['gold', 'reserve']"), ("['reserve']",)),
    ("ledger.points_to_next_tier <= {}", (200, 300, 500), (60, 100)),
    ("ledger.points_expiring_30d >= {}", (10, 25), (50, 100)),
    ("context.hour < {}", (12, 14, 18), (9, 10)),
    ("context.hour >= {}", (6, 7, 8), (11, 15, 17)),
    ("context.weekday < {}", (5,), (1,)),
)
# The first rule of a retention or service action: the typical member never meets it.
RETENTION_RULES = (
    "scores.churn_risk > {}",
    "scores.p_alive < {}",
    "member.days_since_purchase >= {}",
)
RETENTION_THRESHOLDS = {"scores.churn_risk": (0.4, 0.5, 0.6), "scores.p_alive": (0.4, 0.6, 0.7)}
SERVICE_RULES = (
    "member.open_tickets > 0",
    "member.average_rating <= 2",
    "member.open_tickets > 0 || member.average_rating <= 2",
    "member.carts_abandoned > 0 && member.open_tickets > 0",
)
VALUES = (
    "has(scores.clv_12m) ? scores.clv_12m * {f} : {d}",
    "has(scores.expected_order_value) ? scores.expected_order_value * {m} : {d}",
)
TAGS = (
    "cross-sell", "promotion", "loyalty", "new-product", "seasonal", "coffee", "bakery",
    "lunch", "beans", "tier", "expiry",
)  # fmt: skip
CATEGORIES = ("coffee", "a pastry", "lunch", "a bag of beans", "a cold drink", "breakfast")
POLICY: dict[str, Any] = {
    "cooldown_hours": 12.0,
    "service_bypasses_caps": True,
    "default_timezone": "America/New_York",
    "suppressions": [
        {
            "name": "open service ticket",
            "when": "member.open_tickets > 0",
            "priorities": ["marketing", "retention"],
            "tags": ["upsell"],
        },
        {"name": "unhappy member", "when": "member.average_rating <= 2", "tags": ["upsell"]},
    ],
}


def typical_member() -> dict[str, Any]:
    """The facts (``member``, ``scores``, ``ledger``) the rule thresholds are drawn against:
    an active gold member, not at risk, no open ticket. Add ``context`` to evaluate rules."""
    return {
        "member": {
            "event_count": 40,
            "purchase_count": 8,
            "spend": 96.0,
            "average_order_value": 12.0,
            "days_since_purchase": 6.0,
            "days_since_signup": 200.0,
            "app_opens": 25,
            "offers_redeemed": 2,
            "carts_abandoned": 0,
            "open_tickets": 0,
            "average_rating": 4.5,
            "category_affinity": {"coffee": 0.55, "bakery": 0.25, "lunch": 0.12, "beans": 0.08},
        },
        "scores": {
            "churn_risk": 0.18,
            "p_alive": 0.92,
            "clv_12m": 110.0,
            "expected_order_value": 12.0,
            "propensity_bakery": 0.35,
            "propensity_lunch": 0.3,
            "propensity_beans": 0.22,
            "propensity_cold_drinks": 0.4,
        },
        "ledger": {
            "balance": 320,
            "tier": "gold",
            "points_expiring_30d": 40,
            "points_to_next_tier": 180,
            "next_tier": "reserve",
        },
    }


def generate_catalogue(
    actions: int = 200, channels: Sequence[str] = DEFAULT_CHANNELS, seed: int = 0
) -> str:
    """YAML text of a catalogue with ``actions`` actions (plus a do-nothing), each on every
    one of ``channels``; the same seed gives the same text."""
    if actions < 0:
        raise ValueError("actions must be >= 0")
    chans = list(channels)
    unknown = [c for c in chans if c not in CHANNELS]
    if not chans or unknown or len(set(chans)) != len(chans):
        raise ValueError(f"channels must be distinct known channels, got {chans!r}")
    rng = random.Random(seed)
    # Exact shares of kinds (stable across seeds); their order is shuffled.
    offers, services = round(actions * 0.6), round(actions * 0.05)
    kinds = ["offer"] * offers + ["service"] * services
    kinds += ["message"] * (actions - len(kinds))
    rng.shuffle(kinds)
    doc: dict[str, Any] = {
        "catalogue": f"bench-{actions}-s{seed}",
        "cost_per_point": 0.02,
        "breakage": 0.3,
        "policy": _policy(chans),
        "arbitration": {
            "formula": "uplift * value * lever * levers.season - cost",
            "levers": {"season": 1.0},
        },
        "learning": {
            "holdout_share": 0.05,
            "exploration": 0.05,
            "outcome_window_hours": 72.0,
            "prior_strength": 20.0,
        },
        "actions": [_action(rng, i, kind, chans) for i, kind in enumerate(kinds)],
    }
    doc["actions"].append(
        {"id": "do-nothing", "kind": "nothing", "name": "Do nothing", "channels": chans}
    )
    head = f"# Synthetic benchmark catalogue: nextbest.decide.bench_catalogue, seed {seed}.\n"
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=None, width=100)
    return head + body


class _Block(list[str]):
    """A list written one item a line (rules read badly wrapped in a flow list)."""


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # no &id001 anchors for the channel list every action repeats


_Dumper.add_representer(
    _Block, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=False)
)


def _policy(channels: list[str]) -> dict[str, Any]:
    outbound = [c for c in channels if c in OUTBOUND]  # inbound placements take no caps
    caps: list[dict[str, Any]] = []
    for c in outbound:
        caps += [
            {"limit": 1, "period": "day", "channel": c},
            {"limit": 3, "period": "week", "channel": c},
        ]
    caps.append({"limit": 4, "period": "week"})  # every outbound channel together
    quiet = [c for c in channels if c in QUIET_CHANNELS]
    hours = {"start": 21, "end": 8, "channels": quiet} if quiet else None
    return {"caps": caps, "quiet_hours": hours, **POLICY}


def _action(rng: random.Random, i: int, kind: str, channels: list[str]) -> dict[str, Any]:
    if kind == "service":
        priority = "service"
    else:
        priority = "retention" if rng.random() < RETENTION_SHARE else "marketing"
    points = rng.choice((0, 25, 40, 50, 75, 100, 150, 200, 300)) if kind == "offer" else 0
    if kind == "service" and rng.random() < 0.5:
        points = rng.choice((50, 150))
    category = rng.choice(CATEGORIES)
    name = {
        "offer": f"{points} bonus beans on {category}" if points else f"A treat with {category}",
        "message": f"News about {category}",
        "service": "A word from the care team",
    }[kind]
    response = round(rng.uniform(0.03, 0.4), 3)
    out: dict[str, Any] = {
        "id": f"{kind}-{i:04d}",
        "kind": kind,
        "name": f"{name} (#{i})",
        "priority": priority,
        "channels": channels,
        "purpose": _purpose(rng, kind),
        "eligibility": _Block(_rules(rng, priority)),
        "value": _value(rng),
        "response": response,
        "baseline": round(response * rng.uniform(0.3, 0.85), 3),
    }
    if kind != "message" and rng.random() < 0.5:
        out["cost"] = round(rng.uniform(0.05, 2.0), 2)
    if points:
        out["points"] = points
    if kind != "message":
        out["offer_id"] = f"BENCH-{i:04d}"
    if kind == "offer" and rng.random() < 0.3:
        out["budget"] = rng.choice((1000, 5000, 20000, 50000))
    if rng.random() < 0.25:
        out["member_cap"] = rng.choice((1, 2, 3))
    if rng.random() < 0.1:
        # Some campaigns run in a window; a few ended long ago and are left in the file.
        ended = rng.random() < 0.3
        out["valid"] = {
            "from": "2020-01-01T00:00:00Z" if ended else "2024-01-01T00:00:00Z",
            "until": "2021-01-01T00:00:00Z" if ended else "2100-01-01T00:00:00Z",
        }
    tags = rng.sample(TAGS, rng.randint(1, 3))
    if rng.random() < UPSELL_SHARE[kind]:
        tags.append("upsell")
    if priority == "retention":
        tags.append("winback")
    out["tags"] = tags
    if rng.random() < 0.1:
        out["weight"] = round(rng.uniform(0.8, 1.5), 2)
    return out


def _purpose(rng: random.Random, kind: str) -> str:
    if kind == "service":
        return "service"
    loyalty = 0.2 if kind == "offer" else 0.5
    return "loyalty" if rng.random() < loyalty else "marketing"


def _rules(rng: random.Random, priority: str) -> list[str]:
    """1-3 rules; a marketing rule holds for the typical member with chance ``RULE_PASS``."""
    count = rng.randint(1, 3)
    first: list[str] = []
    if priority == "service":
        first = [rng.choice(SERVICE_RULES)]
    elif priority == "retention":
        rule = rng.choice(RETENTION_RULES)
        field = rule.split(" ", 1)[0]
        first = [rule.format(rng.choice(RETENTION_THRESHOLDS.get(field, (30, 45, 60))))]
    rules = first
    for text, meets, misses in rng.sample(MARKETING_RULES, count - len(first)):
        hold = rng.random() < RULE_PASS or not misses
        rules.append(text.format(rng.choice(meets if hold else misses)))
    return rules


def _value(rng: random.Random) -> float | str:
    if rng.random() < 0.4:
        return round(rng.uniform(2.0, 15.0), 2)
    return rng.choice(VALUES).format(
        f=rng.choice((0.02, 0.05, 0.1, 0.2)),
        m=rng.choice((0.5, 0.75, 1.5)),
        d=rng.choice((3, 5, 8)),
    )
