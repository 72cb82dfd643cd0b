"""Paired draws: default output pinned; untreated persons unmoved by others' treatments."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any, Literal

import numpy as np
import orjson
import pyarrow.compute as pc
import pytest

from nextbest.sim import SimConfig, Simulation, Treatment
from nextbest.sim.draws import KeyedDraws, capped_poisson

# Computed from the code before paired draws existed (one stream a day): the default mode
# must keep producing exactly these events, treatments included.
DEFAULT_DIGEST = "fa2f61a1b953db088cbaae7537592fe0a23117fd84cda8e0f88953bedfff5af1"
POSITIONAL = {"event_id", "order_id", "message_id", "ticket_id", "cart_id"}
"""Ids numbered by position in the day's blocks: they move when others' events do."""
OFFERS: list[tuple[Literal["discount", "points", "message"], float]] = [
    ("discount", 20.0),
    ("points", 3.0),
    ("message", 0.0),
]


def _keys(sim: Simulation, every: int, count: int | None = None) -> list[str]:
    ids = sim.world.ids.loyalty_id.to_pylist()
    return [f"loyalty_id:{v}" for v in ids if v][::every][:count]


def _treatments(keys: list[str], day: int) -> list[Treatment]:
    return [
        Treatment(key=k, action=a, channel="email", value=v, action_id=f"{a}.d{day}")
        for k, (a, v) in zip(keys, OFFERS * len(keys), strict=False)
    ]


def test_default_mode_is_byte_for_byte_as_before() -> None:
    sim = Simulation(SimConfig(members=400, months=1, seed=5))
    digest = hashlib.sha256()
    digest.update(orjson.dumps(sim.engine.prelude().to_pylist()))
    keys = _keys(sim, 1, 120)
    for day in range(sim.days):
        treatments = _treatments(keys, day) if day in (5, 12, 19) else []
        digest.update(orjson.dumps(sim.step_table(day, treatments).to_pylist()))
    assert digest.hexdigest() == DEFAULT_DIGEST


def _events(config: SimConfig, treat: bool) -> tuple[dict[int, list[Any]], set[int]]:
    """Each person's events (positional ids left out), and who was treated."""
    sim = Simulation(config)
    keys = _keys(sim, 3) if treat else []
    treated = {p for p in (sim.person_of(k) for k in keys) if p is not None}
    rows: dict[int, list[Any]] = defaultdict(list)
    for day in range(sim.days):
        treatments = _treatments(keys, day) if day % 7 == 2 else []
        for row in sim.step_table(day, treatments).to_pylist():
            rows[row["_person"]].append(
                sorted((k, v) for k, v in row.items() if k not in POSITIONAL)
            )
    return {p: sorted(r) for p, r in rows.items()}, treated


@pytest.mark.parametrize("paired", [True, False])
def test_untreated_persons_get_the_same_events_only_when_paired(paired: bool) -> None:
    config = SimConfig(members=1500, months=2, seed=4, paired_draws=paired)
    base, _ = _events(config, treat=False)
    other, treated = _events(config, treat=True)
    untreated = [p for p in range(config.members) if p not in treated]
    assert len(treated) > 300
    same = [base.get(p, []) == other.get(p, []) for p in untreated]
    if paired:
        assert all(same)
        # The treatments did move the treated.
        assert sum(base.get(p, []) != other.get(p, []) for p in treated) > 0.5 * len(treated)
    else:
        assert np.mean(same) < 0.5  # the one stream a day parts ways after a treatment


def test_paired_draws_keep_the_response_model() -> None:
    """Same rates and probabilities, other numbers: totals agree within sampling noise."""
    counts = {}
    for paired in (False, True):
        sim = Simulation(SimConfig(members=3000, months=1, seed=2, paired_draws=paired))
        kinds: dict[str, int] = defaultdict(int)
        for day in range(sim.days):
            table = sim.step_table(day, [])
            for kind, n in zip(
                *pc.value_counts(table["type"]).flatten(), strict=True
            ):  # values, counts
                kinds[kind.as_py()] += n.as_py()
        counts[paired] = kinds
    for kind in ("purchase", "app_open", "product_view", "message_opened", "service_ticket_opened"):
        a, b = counts[False][kind], counts[True][kind]
        assert abs(a - b) < 4 * np.sqrt(a) + 0.02 * a, (kind, a, b)


def test_keyed_draws_are_per_row_and_well_spread() -> None:
    person = np.arange(20_000)
    draws = KeyedDraws.of(seed=1, phase=1, day=0, person=person, occurrence=np.zeros(20_000))
    u = draws.random(20_000)
    assert u.min() > 0.0 and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.01
    again = KeyedDraws.of(seed=1, phase=1, day=0, person=person[::-1], occurrence=np.zeros(20_000))
    assert np.array_equal(again.random(20_000), u[::-1])
    with pytest.raises(ValueError, match="one number per row"):
        draws.random(3)
    k = draws.poisson(np.full(20_000, 2.0))
    assert abs(k.mean() - 2.0) < 0.05 and abs(k.var() - 2.0) < 0.1


def test_capped_poisson_is_the_capped_inverse_cdf_and_monotone_in_the_rate() -> None:
    from scipy import stats

    u = np.random.default_rng(0).random(5000)
    rate = np.random.default_rng(1).random(5000) * 3
    assert np.array_equal(capped_poisson(u, rate, 4), np.minimum(stats.poisson.ppf(u, rate), 4))
    assert np.all(capped_poisson(u, rate * 1.5, 4) >= capped_poisson(u, rate, 4))
