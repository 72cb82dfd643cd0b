"""The maturity evaluation's configuration: the offer menu, the money, the run's size."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from nextbest.sim import SimConfig
from nextbest.sim.behaviour import EFFECT_DAYS

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
