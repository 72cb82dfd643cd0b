"""The maturity evaluation: common random numbers, accounting, governance, the oracle."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from typer.testing import CliRunner

from nextbest.cli.evaluate import app
from nextbest.evaluate.config import MENU, Economics, MaturityConfig
from nextbest.evaluate.maturity import govern, interval, make_policy, run_policy, targets
from nextbest.evaluate.observed import Observed
from nextbest.evaluate.policies import EnginePolicy, NoMarketing, Oracle, Policy, Proposal
from nextbest.sim import Simulation

CONFIG = MaturityConfig(members=600, days=49, seeds=(5,))


def test_no_marketing_is_the_same_run_every_time() -> None:
    a = run_policy("none", seed=5, config=CONFIG)
    b = run_policy("none", seed=5, config=CONFIG)
    assert np.array_equal(a.revenue, b.revenue)
    assert a.figures(CONFIG.economics) == b.figures(CONFIG.economics)
    assert a.figures(CONFIG.economics)["contacts"] == 0


class _Silent(NoMarketing):
    """Asks for treatments that governance must refuse: unknown offers only."""

    def act(self, day: int, obs: Observed, eligible: npt.NDArray[np.bool_]) -> list[Proposal]:
        return [(int(p), "no-such-offer", "email") for p in np.flatnonzero(eligible)]


def test_a_policy_sending_nothing_equals_no_marketing() -> None:
    base = run_policy("none", seed=5, config=CONFIG)
    silent = run_policy(lambda _sim: _Silent(), seed=5, config=CONFIG)
    assert np.array_equal(base.revenue, silent.revenue)
    assert base.figures(CONFIG.economics) == silent.figures(CONFIG.economics)


class _Snapshot(NoMarketing):
    """Records what it saw on its first decision day, then acts as ``inner``."""

    def __init__(self, inner: Policy) -> None:
        self.inner = inner
        self.first: tuple[int, npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None

    def act(self, day: int, obs: Observed, eligible: npt.NDArray[np.bool_]) -> list[Proposal]:
        if self.first is None:
            self.first = (day, obs.orders.copy(), obs.spend.copy())
        return self.inner.act(day, obs, eligible)


def _first_view(name: str) -> tuple[int, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    made: list[_Snapshot] = []

    def factory(sim: Simulation) -> _Snapshot:
        made.append(_Snapshot(make_policy(name, sim, CONFIG, 5)))
        return made[0]

    run_policy(factory, seed=5, config=CONFIG)
    assert made[0].first is not None
    return made[0].first


def test_every_policy_sees_the_same_warm_up_and_then_parts_from_no_marketing() -> None:
    day, orders, spend = _first_view("none")
    assert day == CONFIG.warmup_days and orders.sum() > 0
    for name in ("mass", "oracle"):
        other_day, other_orders, other_spend = _first_view(name)
        assert other_day == day
        assert np.array_equal(orders, other_orders) and np.array_equal(spend, other_spend)
    base = run_policy("none", seed=5, config=CONFIG)
    mass = run_policy("mass", seed=5, config=CONFIG)
    assert mass.contacts > 0
    assert not np.array_equal(base.revenue, mass.revenue)


@pytest.mark.parametrize("name", ["stage1", "oracle"])
def test_never_contacted_members_buy_exactly_as_without_marketing(name: str) -> None:
    """Paired draws: whoever a policy leaves alone has the no-marketing run's purchases."""
    assert CONFIG.paired
    base = run_policy("none", seed=5, config=CONFIG)
    policy = run_policy(name, seed=5, config=CONFIG)
    untouched = policy.contacted == 0
    assert policy.contacts > 0 and untouched.sum() > 0.3 * CONFIG.members
    assert np.array_equal(policy.purchases[untouched], base.purchases[untouched])
    assert np.array_equal(policy.revenue[untouched], base.revenue[untouched])
    assert base.purchases[untouched].sum() > 0
    assert not np.array_equal(policy.revenue[~untouched], base.revenue[~untouched])


def test_unpaired_runs_part_ways_even_for_never_contacted_members() -> None:
    unpaired = MaturityConfig(members=600, days=49, seeds=(5,), paired=False)
    base = run_policy("none", seed=5, config=unpaired)
    policy = run_policy("oracle", seed=5, config=unpaired)
    untouched = (policy.contacted == 0) & (base.purchases > 0)
    assert np.mean(policy.revenue[untouched] == base.revenue[untouched]) < 0.5


@pytest.mark.parametrize("name", ["mass", "stage1", "stage2", "stage3", "oracle"])
def test_contacts_are_the_treatments_sent(name: str) -> None:
    tally = run_policy(name, seed=5, config=CONFIG)
    assert tally.contacts == sum(tally.by_offer.values()) == int(tally.contacted.sum())
    # Every treatment reached a person the simulator knows, and consent as observed
    # matched the simulator's: each one was delivered.
    assert math.isclose(tally.sim_cost, tally.contacts * CONFIG.economics.contact_cost)
    assert tally.delivered == tally.contacts
    assert tally.unsubscribes <= tally.contacts
    assert 0.0 <= tally.figures(CONFIG.economics)["redemption_rate"] <= 1.0


def test_reward_cost_is_what_was_redeemed_and_earned() -> None:
    mass = run_policy("mass", seed=5, config=CONFIG).figures(CONFIG.economics)
    assert mass["reward_cost"] > 0.0  # 20% off for everyone: some used it
    assert mass["redemption_rate"] > 0.0
    none = run_policy("none", seed=5, config=CONFIG).figures(CONFIG.economics)
    assert none["reward_cost"] == 0.0


class _RecordingOracle(Oracle):
    def __init__(self, sim: Simulation) -> None:
        super().__init__(sim, CONFIG.economics, CONFIG.days)
        self.sent: list[int] = []

    def act(self, day: int, obs: Observed, eligible: npt.NDArray[np.bool_]) -> list[Proposal]:
        out = super().act(day, obs, eligible)
        self.sent.extend(p for p, _o, _c in out)
        return out


def test_the_oracle_contacts_only_persons_it_knows_respond() -> None:
    """A theorem of this oracle: with uplift <= 0 every offer's expected net is below
    minus the contact cost, so it is never chosen."""
    made: list[_RecordingOracle] = []

    def factory(sim: Simulation) -> _RecordingOracle:
        made.append(_RecordingOracle(sim))
        return made[0]

    tally = run_policy(factory, seed=5, config=CONFIG)
    oracle = made[0]
    assert tally.contacts == len(oracle.sent) > 0
    assert np.all(oracle.sim.world.pop.uplift[np.array(oracle.sent)] > 0)


def _observed(n: int) -> Observed:
    obs = Observed(n, 10, 0)
    obs.member[:] = True
    obs.key = [f"loyalty_id:L{i}" for i in range(n)]
    obs.consent[:, 0] = True  # email only
    return obs


def test_governance_keeps_consented_eligible_single_contacts() -> None:
    obs = _observed(4)
    obs.key[3] = None
    eligible = np.array([True, True, False, True])
    proposals: list[Proposal] = [
        (0, "discount-20", "email"),
        (0, "message", "email"),  # a second contact on the same day
        (1, "points-3x", "sms"),  # no sms consent
        (1, "bogus", "email"),  # not on the menu
        (2, "message", "email"),  # not eligible (contacted lately)
        (3, "message", "email"),  # no address
    ]
    got = govern(proposals, obs, eligible, 7, 0.01)
    assert [(p, t.action, t.value, t.action_id) for p, t in got] == [
        (0, "discount", 20.0, "discount-20.d7")
    ]


def test_the_engine_catalogue_prices_offers_by_the_economics() -> None:
    econ = Economics(contact_cost=0.05)
    policy = EnginePolicy(econ, seed=1, start=datetime(2025, 1, 1, tzinfo=UTC))
    weights = {a.id: a.weight for a in policy.catalogue.actions if a.kind != "nothing"}
    assert weights["discount-20"] == pytest.approx(0.2)
    assert weights["points-3x"] == pytest.approx(2 * 0.02 * 0.7)
    assert weights["message"] == 0.0
    assert all(a.cost == 0.05 for a in policy.catalogue.actions if a.kind != "nothing")
    assert set(MENU) <= {a.id for a in policy.catalogue.actions}


def test_stage3_learns_from_what_it_observes() -> None:
    sim = Simulation(CONFIG.sim(5))
    policy = make_policy("stage3", sim, CONFIG, 5)
    assert isinstance(policy, EnginePolicy)
    run_policy(lambda _sim: policy, seed=5, config=CONFIG)
    assert policy.decisions > 0
    assert policy.engine.learner.version > 0  # outcomes settled after their 14 days


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([2.0], (2.0, 2.0, 2.0)),
        ([1.0, 1.0, 1.0], (1.0, 1.0, 1.0)),
        ([0.0, 2.0], (1.0, -11.71, 13.71)),
    ],
)
def test_interval(values: list[float], expected: tuple[float, float, float]) -> None:
    assert [round(v, 2) for v in interval(values)] == list(expected)


def _rows(
    s1: float, s3: float, oracle: float, c1: float, c3: float
) -> dict[str, list[dict[str, float]]]:
    def row(p: float, c: float) -> list[dict[str, float]]:
        return [{"net_incremental_profit": p, "contacts": c}]

    return {"stage1": row(s1, c1), "stage3": row(s3, c3), "oracle": row(oracle, 100.0)}


@pytest.mark.parametrize(
    ("args", "met"),
    [
        ((100.0, 125.0, 150.0, 100.0, 70.0), (True, True, True)),
        ((100.0, 124.0, 160.0, 100.0, 71.0), (False, False, False)),
        ((-100.0, -75.0, 100.0, 100.0, 10.0), (False, True, True)),
    ],
)
def test_targets(args: tuple[float, ...], met: tuple[bool, bool, bool]) -> None:
    got = targets(_rows(*args))["met"]
    assert (got["oracle_80pct"], got["stage1_plus_25pct"], got["contacts_30pct_fewer"]) == met


def test_cli_prints_json_with_units_and_writes_the_chart(tmp_path: Path) -> None:
    chart = tmp_path / "maturity.png"
    result = CliRunner().invoke(
        app,
        [
            "maturity",
            "--members",
            "200",
            "--days",
            "35",
            "--seeds",
            "2",
            "--json",
            "--chart",
            str(chart),
        ],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert [p["policy"] for p in figures["policies"]] == [
        "none", "mass", "stage1", "stage2", "stage3", "oracle",
    ]  # fmt: skip
    none = figures["policies"][0]["metrics"]
    assert none["net_incremental_profit"] == {"mean": 0.0, "low": 0.0, "high": 0.0}
    assert {"net_incremental_profit", "contacts", "churn"} <= figures["units"].keys()
    assert chart.stat().st_size > 1000
