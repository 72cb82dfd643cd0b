"""The maturity model measured: the same members, six policies, the simulator's closed loop.

Every policy runs on the same simulated population (same seed) for the same days, and the
no-marketing run of a seed is the baseline of every policy on it. The runs use common
random numbers (``SimConfig.paired_draws``): a member's random draws depend on the seed, the
day and the member only, so the first ``warmup_days`` (observation only) are identical for
every policy, and afterwards a member no policy contacts has exactly the same purchases in
every run. The incremental figures carry the noise of the treated members' responses only,
not that of two independent runs; the seeds (populations) give the intervals.
From ``warmup_days`` on a policy is asked every ``decide_every`` days whom to treat with what:

* ``none``: no marketing (the baseline every figure is measured against);
* ``mass``: a 20% discount to everyone it may contact;
* ``stage1``: RFM rules (``analytics.rfm`` segments to a fixed offer each);
* ``stage2``: predictive targeting: a purchase-propensity model fitted on the events seen so
  far, and the churn risk it implies (win-back discount to valuable churners, a smaller
  discount to the likeliest buyers);
* ``stage3``: nextbest's ``DecisionEngine`` over a small catalogue of the same offers, its
  Thompson learner taught from the outcomes it observes (purchase within 14 days);
* ``oracle``: knows each person's true uplift, purchase rate, open rate and dropout
  probability and sends the offer with the best expected net profit (a myopic upper bound).

Policies see only what events reveal (signups, consents, purchases carrying an identifier,
message opens), except the oracle. Identity resolution is taken as solved: an event's
member is the simulator's person. The same governance applies to all: marketing consent as
observed on the channel, at most one contact per member every ``contact_gap_days``.

Money: ``profit = margin * (revenue + discounts) - discounts - bonus points - contacts``,
revenue being purchase totals less refunds, all purchases counted (identified or not).
Bonus points cost ``(multiplier - 1)`` points a dollar on the purchases of members who
opened the offer, within its 14 days, at ``cost_per_point * (1 - breakage)``.

>>> interval([1.0, 2.0, 3.0])[0]
2.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from nextbest.analytics.rfm import score_rfm
from nextbest.decide.actions import Action
from nextbest.decide.catalogue import parse_catalogue
from nextbest.decide.engine import Engine as DecisionEngine
from nextbest.decide.engine import MemberFacts, Request
from nextbest.decide.outcomes import teach_outcome
from nextbest.sim import SimConfig, Simulation, Treatment
from nextbest.sim.behaviour import EFFECT_DAYS, strength

Floats = npt.NDArray[np.float64]
Channel = Literal["email", "sms", "push"]
CHANNELS: tuple[Channel, ...] = ("email", "sms", "push")
IDENTIFIERS = ("email", "phone", "device_id", "loyalty_id", "pos_card")
POLICIES = ("none", "mass", "stage1", "stage2", "stage3", "oracle")
LABELS = {
    "none": "no marketing",
    "mass": "mass promotion",
    "stage1": "stage 1: RFM rules",
    "stage2": "stage 2: predictive",
    "stage3": "stage 3: decision engine",
    "oracle": "oracle (true uplift)",
}


@dataclass(frozen=True, slots=True)
class Offer:
    """One treatment of the shared menu: what the simulator is sent."""

    id: str
    action: Literal["discount", "points", "message"]
    value: float = 0.0  # discount percent or points multiplier


MENU: dict[str, Offer] = {
    o.id: o
    for o in (
        Offer("discount-20", "discount", 20.0),
        Offer("discount-10", "discount", 10.0),
        Offer("points-3x", "points", 3.0),
        Offer("message", "message"),
    )
}


@dataclass(frozen=True, slots=True)
class Economics:
    """The money assumptions shared by the accounting and the policies that price offers."""

    margin: float = 0.6  # gross margin on list price
    contact_cost: float = 0.01  # per contact sent
    cost_per_point: float = 0.02  # as the demo catalogue
    breakage: float = 0.3

    def point_cost(self) -> float:
        return self.cost_per_point * (1.0 - self.breakage)

    def incentive_rate(self, offer: Offer) -> float:
        """Cost of the incentive per dollar spent while it runs."""
        if offer.action == "discount":
            return offer.value / 100.0
        if offer.action == "points":
            return (offer.value - 1.0) * self.point_cost()
        return 0.0


@dataclass(frozen=True, slots=True)
class MaturityConfig:
    members: int = 3000
    days: int = 84
    seeds: tuple[int, ...] = (1, 2, 3)
    warmup_days: int = 28
    decide_every: int = 7
    contact_gap_days: int = EFFECT_DAYS
    economics: Economics = field(default_factory=Economics)
    paired: bool = True
    """Common random numbers across the policies of a seed (``SimConfig.paired_draws``);
    off, the simulator's default one stream a day, which parts ways after a treatment."""

    def __post_init__(self) -> None:
        if self.days <= self.warmup_days:
            raise ValueError(f"days ({self.days}) must exceed warmup_days ({self.warmup_days})")
        if not self.seeds:
            raise ValueError("at least one seed is needed")

    def sim(self, seed: int) -> SimConfig:
        return SimConfig(
            members=self.members,
            months=math.ceil(self.days / 28),
            seed=seed,
            paired_draws=self.paired,
        )


# -- what the events reveal -------------------------------------------------------------


def marketing_consent(text: str | None, cache: dict[str, tuple[bool, ...]]) -> tuple[bool, ...]:
    """Marketing consent per channel (email, sms, push) from a ``consents`` cell; () if none.

    >>> marketing_consent('[{"channel": "sms", "purpose": "marketing", "granted": true}]', {})
    (False, True, False)
    """
    if text is None:
        return ()
    got = cache.get(text)
    if got is None:
        granted = {
            c["channel"]: bool(c["granted"])
            for c in orjson.loads(text)
            if c.get("purpose") == "marketing"
        }
        got = cache[text] = tuple(granted.get(ch, False) for ch in CHANNELS)
    return got


class Observed:
    """Per-person facts built from the events a policy would see (index: the person)."""

    def __init__(self, n: int, days: int, epoch0: int) -> None:
        self.n, self.days, self.epoch0 = n, days, epoch0
        self.member = np.zeros(n, dtype=bool)
        self.key: list[str | None] = [None] * n
        self.timezone: list[str | None] = [None] * n
        self.consent = np.zeros((n, 3), dtype=bool)
        self.orders = np.zeros(n)
        self.spend = np.zeros(n)
        self.last_day = np.full(n, np.nan)
        self.delivered = np.zeros((n, 3))
        self.opened = np.zeros((n, 3))
        self.bought = np.zeros((days + EFFECT_DAYS, n), dtype=bool)
        self._cache: dict[str, tuple[bool, ...]] = {}

    def day_of(self, ts: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.int64]:
        out: npt.NDArray[np.int64] = (np.asarray(ts) - self.epoch0) // 86_400
        return out

    def update(self, table: pa.Table) -> None:
        kind = table["type"]
        for name in ("signup", "profile_update"):
            rows = table.filter(pc.equal(kind, name))
            person = rows["_person"].to_pylist()
            for p, loyalty, tz, consents in zip(
                person,
                rows["identifiers.loyalty_id"].to_pylist(),
                rows["timezone"].to_pylist(),
                rows["consents"].to_pylist(),
                strict=True,
            ):
                if name == "signup":
                    if self.member[p]:
                        continue  # a second account: we keep addressing the first
                    self.member[p] = True
                    self.key[p] = f"loyalty_id:{loyalty}" if loyalty else None
                if tz:
                    self.timezone[p] = tz
                granted = marketing_consent(consents, self._cache)
                if granted:
                    self.consent[p] = granted
        for name, counts in (
            ("message_delivered", self.delivered),
            ("message_opened", self.opened),
        ):
            rows = table.filter(pc.equal(kind, name))
            ch = np.array([CHANNELS.index(c) for c in rows["channel"].to_pylist()], dtype=np.int64)
            np.add.at(counts, (rows["_person"].to_numpy(), ch), 1.0)
        rows = table.filter(pc.equal(kind, "message_unsubscribed"))
        for p, c in zip(rows["_person"].to_pylist(), rows["channel"].to_pylist(), strict=True):
            self.consent[p, CHANNELS.index(c)] = False
        buys = table.filter(pc.and_(pc.equal(kind, "purchase"), identified(table)))
        person = buys["_person"].to_numpy()
        day = np.clip(self.day_of(buys["_ts"]), 0, self.days - 1)
        np.add.at(self.orders, person, 1.0)
        np.add.at(self.spend, person, _dollars(buys["total"]))
        self.last_day[person] = np.fmax(self.last_day[person], day)
        self.bought[day, person] = True

    def features(self, day: int) -> Floats:
        """Model features as of the start of ``day`` (rows: persons)."""
        seen = self.orders > 0
        recency = np.where(seen, np.minimum(day - np.nan_to_num(self.last_day), 120.0), 120.0)
        aov = np.where(seen, self.spend / np.maximum(self.orders, 1.0), 0.0)
        opens = (self.opened.sum(axis=1) + 1.0) / (self.delivered.sum(axis=1) + 4.0)
        return np.column_stack(
            [
                np.ones(self.n),
                np.log1p(self.orders),
                self.orders / max(day, 7),
                recency / 120.0,
                (~seen).astype(np.float64),
                np.log1p(aov) / 3.0,
                opens,
            ]
        )

    def aov(self) -> Floats:
        """Mean order value, shrunk towards the members' mean (3 pseudo orders)."""
        mean = float(self.spend.sum() / max(self.orders.sum(), 1.0)) or 10.0
        out: Floats = (self.spend + 3.0 * mean) / (self.orders + 3.0)
        return out


def identified(t: pa.Table) -> pa.ChunkedArray:
    """Rows carrying at least one identifier (anonymous purchases reach no member)."""
    out = pc.is_valid(t[f"identifiers.{IDENTIFIERS[0]}"])
    for name in IDENTIFIERS[1:]:
        out = pc.or_(out, pc.is_valid(t[f"identifiers.{name}"]))
    return out


def _dollars(col: pa.ChunkedArray | pa.Array) -> Floats:
    out: Floats = pc.cast(pc.fill_null(col, "0"), pa.float64()).to_numpy(zero_copy_only=False)
    return out


def fit_logistic(x: Floats, y: npt.NDArray[np.bool_], *, ridge: float = 1.0) -> Floats:
    """Ridge logistic regression by Newton steps; the weights.

    >>> x = np.column_stack([np.ones(6), [0, 0, 0, 1, 1, 1]])
    >>> w = fit_logistic(x, np.array([0, 0, 1, 1, 1, 0], dtype=bool), ridge=0.1)
    >>> bool(w[1] > 0)
    True
    """
    w = np.zeros(x.shape[1])
    target = y.astype(np.float64)
    for _ in range(25):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - target) + ridge * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + ridge * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return w


class Propensity:
    """P(an identified purchase within 14 days), refitted on each decision day from
    feature snapshots taken 14 days before and what followed them."""

    def __init__(self) -> None:
        self.snapshots: dict[int, Floats] = {}
        self.w: Floats | None = None

    def observe(self, day: int, obs: Observed) -> None:
        """Keep the features as of the start of tomorrow (the last 14 days of them)."""
        self.snapshots[day + 1] = obs.features(day + 1)
        self.snapshots.pop(day + 1 - EFFECT_DAYS - 1, None)

    def refit(self, day: int, obs: Observed) -> Floats:
        x = self.snapshots[day] = obs.features(day)
        past = day - EFFECT_DAYS
        if past in self.snapshots:
            label: npt.NDArray[np.bool_] = np.asarray(obs.bought[past:day].any(axis=0))
            self.w = fit_logistic(self.snapshots[past][obs.member], label[obs.member])
        if self.w is None:
            ever: npt.NDArray[np.bool_] = np.asarray(obs.bought[:day].any(axis=0))
            return np.full(obs.n, float(ever[obs.member].mean()) if day else 0.5)
        out: Floats = 1.0 / (1.0 + np.exp(-(x @ self.w)))
        return out


# -- policies -----------------------------------------------------------------------------

Proposal = tuple[int, str, Channel]  # person, offer id, channel


class Policy(Protocol):
    def act(self, day: int, obs: Observed, eligible: npt.NDArray[np.bool_]) -> list[Proposal]:
        """Whom to treat today (governance filters the result)."""
        ...

    def observe(self, day: int, obs: Observed) -> None:
        """The day's events are in ``obs``: learn what can be learned."""
        ...


def best_channel(obs: Observed, person: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The consented channel with the best smoothed open rate (-1: none)."""
    rate = (obs.opened[person] + 1.0) / (obs.delivered[person] + 4.0)
    rate = np.where(obs.consent[person], rate, -1.0)
    out: npt.NDArray[np.int64] = np.where(rate.max(axis=1) > 0, rate.argmax(axis=1), -1)
    return out


def _proposals(
    person: npt.NDArray[np.int64], offers: Sequence[str], ch: npt.NDArray[np.int64]
) -> list[Proposal]:
    return [
        (int(p), o, CHANNELS[int(c)])
        for p, o, c in zip(person, offers, ch, strict=True)
        if c >= 0 and o
    ]


class NoMarketing:
    def act(self, day: int, obs: Observed, eligible: npt.NDArray[np.bool_]) -> list[Proposal]:
        return []

    def observe(self, day: int, obs: Observed) -> None:
        return None


class Mass(NoMarketing):
    """A 20% discount to everyone who may be contacted, on email first."""

    def act(self, day: int, obs: Observed, eligible: npt.NDArray[np.bool_]) -> list[Proposal]:
        person = np.flatnonzero(eligible)
        ch = np.where(obs.consent[person].any(axis=1), obs.consent[person].argmax(axis=1), -1)
        return _proposals(person, ["discount-20"] * len(person), ch)


RFM_OFFERS = {
    "champions": "points-3x",
    "loyal": "points-3x",
    "potential loyalists": "discount-10",
    "new": "message",
    "promising": "message",
    "need attention": "discount-10",
    "about to sleep": "discount-20",
    "at risk": "discount-20",
    "can't lose": "discount-20",
}


class RfmRules(NoMarketing):
    """Stage 1: segment by RFM, one fixed offer per segment, email first."""

    def act(self, day: int, obs: Observed, eligible: npt.NDArray[np.bool_]) -> list[Proposal]:
        person = np.flatnonzero(eligible)
        seen = obs.orders[person] > 0
        res = score_rfm(
            recency_days=np.where(seen, day - np.nan_to_num(obs.last_day[person]), np.nan),
            frequency=obs.orders[person],
            monetary=np.where(seen, obs.spend[person] / np.maximum(obs.orders[person], 1), np.nan),
        )
        offers = [RFM_OFFERS.get(str(s), "") for s in res.segments]
        c = obs.consent[person]
        return _proposals(person, offers, np.where(c.any(axis=1), c.argmax(axis=1), -1))


class Predictive(NoMarketing):
    """Stage 2: a propensity model; churn risk ``(1 - p14)^2`` (no purchase in 28 days).

    Valuable members at risk (two orders or more, churn risk above 0.6) get the win-back
    discount; the top 30% by propensity get 10% off; the best-opened channel carries it.
    """

    def __init__(self) -> None:
        self.model = Propensity()

    def act(self, day: int, obs: Observed, eligible: npt.NDArray[np.bool_]) -> list[Proposal]:
        p = self.model.refit(day, obs)
        person = np.flatnonzero(eligible)
        churn = (1.0 - p[person]) ** 2
        top = p[person] >= np.quantile(p[obs.member], 0.7)
        winback = (churn > 0.6) & (obs.orders[person] >= 2)
        offers = np.where(winback, "discount-20", np.where(top, "discount-10", ""))
        return _proposals(person, [str(o) for o in offers], best_channel(obs, person))

    def observe(self, day: int, obs: Observed) -> None:
        self.model.observe(day, obs)


class Oracle(NoMarketing):
    """Knows each person's uplift, purchase rate, open rate and dropout: picks the offer and
    channel of the best expected net profit over the offer's 14 days, if positive.

    Expected purchases in the window are ``L = lambda * 15`` untreated and ``L * (1 + u)``
    treated (``u = uplift * strength``, seen with the channel's open rate ``r``); each extra
    purchase also risks the dropout that follows a purchase (the lost remaining baseline).
    It is the best myopic choice given the truth, not a proven optimum of the whole period,
    so it bounds the others only in expectation and roughly: a run may see a policy beat it.
    """

    def __init__(self, sim: Simulation, economics: Economics, days: int) -> None:
        self.sim, self.econ, self.days = sim, economics, days

    def act(self, day: int, obs: Observed, eligible: npt.NDArray[np.bool_]) -> list[Proposal]:
        pop, engine, econ = self.sim.world.pop, self.sim.engine, self.econ
        person = np.flatnonzero(eligible & engine.alive)
        lam = engine.lam[person]
        basket = obs.aov()[person]
        window = EFFECT_DAYS + 1
        base = lam * window
        rest = max(self.days - day - window, 0) * lam * basket * econ.margin
        best = np.zeros(len(person))
        pick = np.full(len(person), "", dtype=object)
        chan = np.full(len(person), -1, dtype=np.int64)
        for offer in MENU.values():
            u = np.maximum(pop.uplift[person] * strength(offer.action, offer.value), -0.9)
            extra = base * u
            net = (
                extra * basket * econ.margin
                - base * (1.0 + u) * basket * econ.incentive_rate(offer)
                - extra * pop.p_dropout[person] * rest
            )
            # No offer for a response <= 0: it only costs purchases (and a sleeping dog may
            # quit); fewer purchases also mean fewer dropouts, which is no reason to send.
            net = np.where(u > 0, net, -np.inf)
            for c in range(3):
                value = pop.responsiveness[person, c] * net - econ.contact_cost
                value = np.where(obs.consent[person, c], value, -np.inf)
                better = value > best
                best = np.where(better, value, best)
                pick[better] = offer.id
                chan[better] = c
        return _proposals(person, [str(o) for o in pick], chan)


CATALOGUE_HEAD = """catalogue: maturity-evaluation
policy:
  quiet_hours: null
  default_timezone: America/New_York
arbitration:
  # discounts and bonus points cost their rate (the action's lever) on what an opener spends
  formula: "uplift * value - cost - context_weight * propensity * scores.spend_if_buy * lever"
learning: {holdout_share: 0.05, exploration: 0.05, outcome_window_hours: 336, prior_strength: 20}
actions:
"""
PRIOR_LIFT = {"discount-20": 0.1, "discount-10": 0.05, "points-3x": 0.1, "message": 0.02}
"""Prior lift of P(purchase within 14 days) when treated: a marketer's guess the learner
corrects."""


def engine_catalogue(economics: Economics) -> str:
    """The stage-3 catalogue: the shared menu priced by ``economics``.

    >>> from nextbest.decide.catalogue import parse_catalogue
    >>> [a.id for a in parse_catalogue(engine_catalogue(Economics())).actions]
    ['discount-20', 'discount-10', 'points-3x', 'message', 'do-nothing']
    """
    parts = [CATALOGUE_HEAD]
    for offer in MENU.values():
        parts.append(
            f"""  - id: {offer.id}
    kind: {"message" if offer.action == "message" else "offer"}
    channels: [email, sms, push]
    purpose: marketing
    value: "scores.margin_if_buy"
    response: "scores.p_buy + {PRIOR_LIFT[offer.id]} * (1 - scores.p_buy)"
    baseline: "scores.p_buy"
    cost: {economics.contact_cost}
    weight: {economics.incentive_rate(offer)}
"""
        )
    parts.append("  - id: do-nothing\n    kind: nothing\n")
    return "".join(parts)


@dataclass(slots=True)
class _Pending:
    person: int
    day: int
    action: Action
    record: dict[str, Any]  # what the decision log keeps: features, facts, candidates


class EnginePolicy(NoMarketing):
    """Stage 3: the real ``DecisionEngine``, one decision per eligible member and decision
    day, and its learner taught each decision's outcome once its 14 days have passed
    (reward 1 when the member made an identified purchase) by ``decide.outcomes``' own
    ``teach_outcome``, from the record the decision log would keep."""

    def __init__(self, economics: Economics, *, seed: int, start: datetime) -> None:
        self.catalogue = parse_catalogue(engine_catalogue(economics), source="maturity")
        self.engine = DecisionEngine(self.catalogue)
        self.model = Propensity()
        self.econ, self.seed, self.start = economics, seed, start
        self.pending: list[_Pending] = []
        self.decisions = 0

    def facts(self, person: int, day: int, obs: Observed, scores: dict[str, float]) -> MemberFacts:
        seen = obs.orders[person] > 0
        engagement: dict[str, int] = {}
        for c, ch in enumerate(CHANNELS):
            engagement[f"{ch}.delivered"] = int(obs.delivered[person, c])
            engagement[f"{ch}.opened"] = int(obs.opened[person, c])
        return MemberFacts(
            member_id=f"P{person:07d}",
            env={"member": {"purchase_count": int(obs.orders[person])}, "scores": scores},
            consent={
                f"{ch}/marketing": bool(obs.consent[person, c]) for c, ch in enumerate(CHANNELS)
            },
            timezone=obs.timezone[person],
            engagement=engagement,
            churn_risk=(1.0 - scores["p_buy"]) ** 2,
            days_since_purchase=float(day - obs.last_day[person]) if seen else None,
            purchases=int(obs.orders[person]),
        )

    def act(self, day: int, obs: Observed, eligible: npt.NDArray[np.bool_]) -> list[Proposal]:
        p = self.model.refit(day, obs)
        rate = obs.orders / max(day, 7)
        spend_if_buy = obs.aov() * np.maximum(1.0, rate * (EFFECT_DAYS + 1))
        at = self.start + timedelta(days=day, hours=15)
        out: list[Proposal] = []
        for person in np.flatnonzero(eligible).tolist():
            scores = {
                "p_buy": float(p[person]),
                "spend_if_buy": float(spend_if_buy[person]),
                "margin_if_buy": float(spend_if_buy[person] * self.econ.margin),
            }
            facts = self.facts(person, day, obs, scores)
            d = self.engine.decide(facts, Request(at=at, seed=self.seed), {})
            self.decisions += 1
            if d.holdout or not d.features:
                continue
            # What the decision log would hold, taught by ``decide.outcomes`` once settled.
            record = {
                "features": d.features,
                "facts": {"env": facts.env},
                "candidates": [c.as_dict() for c in d.candidates],
            }
            self.pending.append(_Pending(person, day, d.action, record))
            if d.action.kind == "nothing":
                continue
            if d.channel in CHANNELS:
                out.append((person, d.action.id, CHANNELS[CHANNELS.index(d.channel)]))
        return out

    def observe(self, day: int, obs: Observed) -> None:
        """Settle the decisions whose window closed with today's events."""
        self.model.observe(day, obs)
        due = [q for q in self.pending if q.day + EFFECT_DAYS <= day + 1]
        if not due:
            return
        self.pending = [q for q in self.pending if q.day + EFFECT_DAYS > day + 1]
        for q in due:
            reward = float(obs.bought[q.day : q.day + EFFECT_DAYS, q.person].any())
            teach_outcome(self.engine.learner, self.catalogue, q.action, q.record, reward)


# -- the loop and its accounting ----------------------------------------------------------


@dataclass(slots=True)
class Tally:
    """What a run cost and earned, from its events, in dollars (revenue, discounts,
    contacts and purchases per person)."""

    n: int
    revenue: Floats = field(init=False)
    discounts: Floats = field(init=False)
    contacted: Floats = field(init=False)
    purchases: Floats = field(init=False)
    offer_discounts: float = 0.0  # of the treatments' offers (birthday treats excluded)
    bonus_points: float = 0.0
    contacts: int = 0
    incentive_contacts: int = 0
    delivered: int = 0
    unsubscribes: int = 0
    used: int = 0  # incentive contacts whose discount or bonus was used at least once
    churn: float = 0.0
    sim_cost: float = 0.0  # what the simulator charged for the treatments it could address
    by_offer: dict[str, int] = field(default_factory=dict)
    _bonus_until: dict[int, tuple[int, float, str]] = field(default_factory=dict)
    _used: set[tuple[int, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.revenue, self.discounts, self.contacted, self.purchases = (
            np.zeros(self.n) for _ in range(4)
        )

    def update(self, table: pa.Table, obs: Observed) -> None:
        kind = table["type"]
        own = pc.is_valid(table["action_id"])
        self.delivered += int(
            pc.sum(pc.and_(pc.equal(kind, "message_delivered"), own)).as_py() or 0
        )
        self.unsubscribes += int(
            pc.sum(pc.and_(pc.equal(kind, "message_unsubscribed"), own)).as_py() or 0
        )
        opens = table.filter(pc.and_(pc.equal(kind, "message_opened"), own))
        for p, action_id in zip(
            opens["_person"].to_pylist(), opens["action_id"].to_pylist(), strict=True
        ):
            offer_id, _, day = str(action_id).rpartition(".d")
            offer = MENU.get(offer_id)
            if offer is not None and offer.action == "points":
                self._bonus_until[p] = (int(day) + EFFECT_DAYS, offer.value, str(action_id))
        buys = table.filter(pc.equal(kind, "purchase"))
        total = _dollars(buys["total"])
        np.add.at(self.revenue, buys["_person"].to_numpy(), total)
        np.add.at(self.purchases, buys["_person"].to_numpy(), 1.0)
        np.add.at(self.discounts, buys["_person"].to_numpy(), _dollars(buys["discount"]))
        known = np.asarray(identified(buys))
        for p, d, spent in zip(
            buys["_person"].to_numpy()[known].tolist(),
            obs.day_of(buys["_ts"])[known].tolist(),
            total[known].tolist(),
            strict=True,
        ):
            bonus = self._bonus_until.get(p)
            if bonus is not None and d <= bonus[0]:
                self.bonus_points += (bonus[1] - 1.0) * math.floor(spent)
                self._use(p, bonus[2])
        refunds = table.filter(pc.equal(kind, "purchase_returned"))
        np.subtract.at(self.revenue, refunds["_person"].to_numpy(), _dollars(refunds["amount"]))
        redeemed = table.filter(
            pc.and_(pc.equal(kind, "offer_redeemed"), pc.not_equal(table["offer_id"], "BDAY"))
        )
        self.offer_discounts += float(_dollars(redeemed["value"]).sum())
        for p, offer_id in zip(
            redeemed["_person"].to_pylist(), redeemed["offer_id"].to_pylist(), strict=True
        ):
            self._use(p, str(offer_id))

    def _use(self, person: int, action_id: str) -> None:
        if (person, action_id) not in self._used:
            self._used.add((person, action_id))
            self.used += 1

    def figures(self, econ: Economics) -> dict[str, float]:
        bonus_cost = self.bonus_points * econ.point_cost()
        revenue, discounts = float(self.revenue.sum()), float(self.discounts.sum())
        profit = (
            econ.margin * (revenue + discounts)
            - discounts
            - bonus_cost
            - float(self.contacted.sum()) * econ.contact_cost
        )
        return {
            "revenue": revenue,
            "profit": profit,
            "reward_cost": self.offer_discounts + bonus_cost,
            "contacts": float(self.contacts),
            "delivered": float(self.delivered),
            "unsubscribes": float(self.unsubscribes),
            "churn": self.churn,
            "redemption_rate": self.used / self.incentive_contacts
            if self.incentive_contacts
            else 0.0,
        }


def make_policy(name: str, sim: Simulation, config: MaturityConfig, seed: int) -> Policy:
    econ = config.economics
    start = sim.world.config.start
    makers: dict[str, Callable[[], Policy]] = {
        "none": NoMarketing,
        "mass": Mass,
        "stage1": RfmRules,
        "stage2": Predictive,
        "stage3": lambda: EnginePolicy(
            econ, seed=seed, start=datetime(start.year, start.month, start.day, tzinfo=UTC)
        ),
        "oracle": lambda: Oracle(sim, econ, config.days),
    }
    if name not in makers:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICIES)}")
    return makers[name]()


def run_policy(
    policy: str | Callable[[Simulation], Policy], *, seed: int, config: MaturityConfig
) -> Tally:
    """One closed-loop run of one policy (a name of ``POLICIES`` or a factory); the same
    seed gives the same population."""
    sim = Simulation(config.sim(seed))
    days = min(config.days, sim.days)
    obs = Observed(sim.world.pop.n, days, sim.world.config.epoch0)
    obs.update(sim.engine.prelude())
    chosen = make_policy(policy, sim, config, seed) if isinstance(policy, str) else policy(sim)
    tally = Tally(obs.n)
    last_contact = np.full(obs.n, -(10**6), dtype=np.int64)
    cost = config.economics.contact_cost
    for day in range(days):
        treatments: list[Treatment] = []
        if day >= config.warmup_days and (day - config.warmup_days) % config.decide_every == 0:
            free = day - last_contact >= config.contact_gap_days
            keyed = np.array([k is not None for k in obs.key])
            eligible = obs.member & keyed & free & obs.consent.any(axis=1)
            governed = govern(chosen.act(day, obs, eligible), obs, eligible, day, cost)
            for person, t in governed:
                last_contact[person] = day
                tally.contacted[person] += 1
                offer_id = t.action_id.rpartition(".d")[0]
                tally.by_offer[offer_id] = tally.by_offer.get(offer_id, 0) + 1
            treatments = [t for _p, t in governed]
            tally.contacts += len(treatments)
            tally.incentive_contacts += sum(t.action != "message" for t in treatments)
        table = sim.step_table(day, treatments)
        obs.update(table)
        tally.update(table, obs)
        chosen.observe(day, obs)
    tally.sim_cost = sim.cost
    pop = sim.world.pop
    members = (pop.signup_kind > 0) & (pop.joined_day < days)
    tally.churn = float(1.0 - sim.engine.alive[members].mean())
    return tally


def govern(
    proposals: list[Proposal],
    obs: Observed,
    eligible: npt.NDArray[np.bool_],
    day: int,
    contact_cost: float,
) -> list[tuple[int, Treatment]]:
    """The treatments (with their persons) governance lets through: eligible members on a
    consented channel, one each, offers of the menu only."""
    out: list[tuple[int, Treatment]] = []
    taken: set[int] = set()
    for person, offer_id, channel in proposals:
        offer = MENU.get(offer_id)
        key = obs.key[person]
        if offer is None or key is None or person in taken or not eligible[person]:
            continue
        if not obs.consent[person, CHANNELS.index(channel)]:
            continue
        taken.add(person)
        treatment = Treatment(
            key=key,
            action=offer.action,
            channel=channel,
            value=offer.value,
            cost=contact_cost,
            action_id=f"{offer.id}.d{day}",
        )
        out.append((person, treatment))
    return out


# -- over seeds ---------------------------------------------------------------------------

METRICS = (
    "incremental_revenue",
    "net_incremental_profit",
    "reward_cost",
    "contacts",
    "unsubscribes",
    "churn",
    "redemption_rate",
)
UNITS = {
    "incremental_revenue": "USD over the run, policy minus no marketing (same seed)",
    "net_incremental_profit": "USD over the run, policy minus no marketing (same seed)",
    "reward_cost": "USD of treatment discounts redeemed plus bonus points at their expected cost",
    "contacts": "treatments sent",
    "unsubscribes": "unsubscribes from treatment messages",
    "churn": "share of members who dropped out by the end (simulator truth)",
    "redemption_rate": "share of discount and bonus-point contacts used at least once",
    "seconds": "s",
    "oracle_share": "stage 3 net incremental profit over the oracle's",
    "vs_stage1": "stage 3 net incremental profit over stage 1's",
    "contacts_vs_stage1": "stage 3 contacts over stage 1's",
}


def interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and a Student-t interval over seeds (no width from a single seed).

    >>> [round(v, 2) for v in interval([1.0, 2.0, 3.0])]
    [2.0, -0.48, 4.48]
    """
    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    if len(x) < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return mean, mean - half, mean + half


def against(tally: Tally, base: Tally, econ: Economics) -> dict[str, float]:
    """One run's metrics, revenue and profit incremental against no marketing (same seed).

    Summed over every person: with paired draws the members no policy touched add exactly
    nothing; what a treatment changes in others (a member it made buy or drop out is seen,
    and contacted, differently later) is counted where it happens.
    """
    f, b = tally.figures(econ), base.figures(econ)
    return {
        "incremental_revenue": f["revenue"] - b["revenue"],
        "net_incremental_profit": f["profit"] - b["profit"],
        **{k: f[k] for k in METRICS[2:]},
    }


def targets(rows: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    """The issue's targets from the seed means: stage 3 at least 80% of the oracle's net
    incremental profit, at least 25% more than stage 1, with at least 30% fewer contacts."""
    need = {"stage1", "stage3", "oracle"}
    if not need <= rows.keys():
        return {}

    def mean(name: str, metric: str) -> float:
        return float(np.mean([r[metric] for r in rows[name]]))

    s1, s3, orc = (mean(n, "net_incremental_profit") for n in ("stage1", "stage3", "oracle"))
    c1, c3 = mean("stage1", "contacts"), mean("stage3", "contacts")
    share = s3 / orc if orc > 0 else math.nan
    vs1 = s3 >= s1 + 0.25 * abs(s1)
    fewer = c3 <= 0.7 * c1
    return {
        "oracle_share": share,
        "vs_stage1": s3 / s1 if s1 != 0 else math.nan,
        "contacts_vs_stage1": c3 / c1 if c1 else math.nan,
        "met": {
            "oracle_80pct": bool(share >= 0.8),
            "stage1_plus_25pct": bool(vs1),
            "contacts_30pct_fewer": bool(fewer),
        },
    }


def run_maturity(config: MaturityConfig, policies: Sequence[str] = POLICIES) -> dict[str, Any]:
    """Every policy on every seed; figures as plain data (means and intervals)."""
    names = ["none", *[p for p in policies if p != "none"]]
    rows: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    by_offer: dict[str, dict[str, int]] = {n: {} for n in names}
    for seed in config.seeds:
        base = run_policy("none", seed=seed, config=config)
        for name in names:
            tally = base if name == "none" else run_policy(name, seed=seed, config=config)
            rows[name].append(against(tally, base, config.economics))
            for k, v in tally.by_offer.items():
                by_offer[name][k] = by_offer[name].get(k, 0) + v
    summary = []
    for name in names:
        metrics: dict[str, dict[str, float]] = {}
        for metric in METRICS:
            mean, low, high = interval([r[metric] for r in rows[name]])
            metrics[metric] = {"mean": mean, "low": low, "high": high}
        summary.append(
            {"policy": name, "label": LABELS[name], "metrics": metrics, "offers": by_offer[name]}
        )
    return {
        "members": config.members,
        "days": config.days,
        "warmup_days": config.warmup_days,
        "seeds": list(config.seeds),
        "economics": {
            "margin": config.economics.margin,
            "contact_cost": config.economics.contact_cost,
            "cost_per_point": config.economics.cost_per_point,
            "breakage": config.economics.breakage,
        },
        "policies": summary,
        "per_seed": rows,
        "targets": targets(rows),
    }
