"""Closed loop: treatments move purchases in the direction of the incentive type."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc

from nextbest.sim import SimConfig, Simulation, Treatment
from nextbest.sim.population import PERSUADABLE, SLEEPING_DOG

CONFIG = SimConfig(members=3000, months=1, seed=11, initial_share=1.0)
DAYS = 28


def _purchases(treat_type: int | None) -> tuple[float, float]:
    sim = Simulation(CONFIG)
    pop = sim.world.pop
    group = np.flatnonzero(pop.incentive_type == (treat_type if treat_type is not None else 0))
    keys = [f"loyalty_id:{sim.world.ids.loyalty_id[int(i)].as_py()}" for i in group]
    keys = [k for k in keys if k != "loyalty_id:None"]
    persons = np.array([sim.person_of(k) for k in keys])
    counts = np.zeros(pop.n)
    for day in range(DAYS):
        treatments = []
        if treat_type is not None and day in (0, 7, 14):
            treatments = [
                Treatment(key=k, action="discount", channel="email", value=25, action_id=f"A{day}")
                for k in keys
            ]
        table = sim.step_table(day, treatments)
        buys = table.filter(pc.equal(table["type"], "purchase"))
        np.add.at(counts, buys["_person"].to_numpy(), 1)
    return float(counts[persons].sum()), float(len(persons))


def test_persuadables_buy_more_when_treated() -> None:
    sim = Simulation(CONFIG)
    assert sim.person_of("loyalty_id:nope") is None
    control = _control_counts(PERSUADABLE)
    treated, _ = _purchases(PERSUADABLE)
    assert treated > control * 1.1


def test_sleeping_dogs_buy_less_when_treated() -> None:
    control = _control_counts(SLEEPING_DOG)
    treated, _ = _purchases(SLEEPING_DOG)
    assert treated < control * 0.95


def _control_counts(kind: int) -> float:
    sim = Simulation(CONFIG)
    pop = sim.world.pop
    valid = np.asarray(sim.world.ids.loyalty_id.is_valid())
    persons = np.flatnonzero((pop.incentive_type == kind) & valid)
    counts = np.zeros(pop.n)
    for day in range(DAYS):
        table = sim.step_table(day, [])
        buys = table.filter(pc.equal(table["type"], "purchase"))
        np.add.at(counts, buys["_person"].to_numpy(), 1)
    return float(counts[persons].sum())
