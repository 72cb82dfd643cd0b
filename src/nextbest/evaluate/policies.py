"""The six policies of the maturity evaluation, from no marketing to the oracle."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from nextbest.analytics.rfm import score_rfm
from nextbest.decide.actions import Action
from nextbest.decide.catalogue import parse_catalogue
from nextbest.decide.engine import Engine as DecisionEngine
from nextbest.decide.engine import MemberFacts, Request
from nextbest.decide.outcomes import teach_outcome
from nextbest.evaluate.config import CHANNELS, MENU, Channel, Economics
from nextbest.evaluate.observed import Observed, Propensity
from nextbest.sim import Simulation
from nextbest.sim.behaviour import EFFECT_DAYS, strength

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
