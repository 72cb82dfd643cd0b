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

This module runs the loop and does the accounting; the policies are in ``policies``, what
they may observe in ``observed``, the offer menu, the money and the run's size in ``config``.

>>> interval([1.0, 2.0, 3.0])[0]
2.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from nextbest.evaluate.config import (
    CHANNELS,
    LABELS,
    MENU,
    POLICIES,
    Economics,
    Floats,
    MaturityConfig,
)
from nextbest.evaluate.observed import Observed, dollars, identified
from nextbest.evaluate.policies import (
    EnginePolicy,
    Mass,
    NoMarketing,
    Oracle,
    Policy,
    Predictive,
    Proposal,
    RfmRules,
)
from nextbest.sim import Simulation, Treatment
from nextbest.sim.behaviour import EFFECT_DAYS

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
        total = dollars(buys["total"])
        np.add.at(self.revenue, buys["_person"].to_numpy(), total)
        np.add.at(self.purchases, buys["_person"].to_numpy(), 1.0)
        np.add.at(self.discounts, buys["_person"].to_numpy(), dollars(buys["discount"]))
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
        np.subtract.at(self.revenue, refunds["_person"].to_numpy(), dollars(refunds["amount"]))
        redeemed = table.filter(
            pc.and_(pc.equal(kind, "offer_redeemed"), pc.not_equal(table["offer_id"], "BDAY"))
        )
        self.offer_discounts += float(dollars(redeemed["value"]).sum())
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
