"""Returns and reward redemptions: dated and priced like the orders they follow, by seed."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from nextbest.events.identifiers import parse_key
from nextbest.sim import SimConfig, Simulation
from nextbest.sim.behaviour import Engine
from nextbest.sim.rewards import EXPIRY_DAYS, REWARDS
from nextbest.sim.sources import World
from nextbest.sim.truth import persons_table
from nextbest.sim.wallets import BUCKET_DAYS, Wallets

CONFIG = SimConfig(members=1500, months=8, seed=5)
POINTS = dict(REWARDS)


def _run(config: SimConfig) -> tuple[Engine, pa.Table]:
    engine = Engine(World.build(config))
    tables = [engine.prelude()] + [engine.step(day) for day in range(config.days)]
    tables.append(engine.finish())
    return engine, pa.concat_tables(tables)


@pytest.fixture(scope="module")
def run() -> tuple[Engine, pa.Table]:
    return _run(CONFIG)


def _of(table: pa.Table, kind: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = table.filter(pc.equal(table["type"], kind)).to_pylist()
    return rows


def _idents(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k.startswith("identifiers.") or k == "source"}


def _cents(text: str) -> int:
    return round(float(text) * 100)


def test_returns_follow_their_purchase_and_never_exceed_its_total(
    run: tuple[Engine, pa.Table],
) -> None:
    _, table = run
    orders = {row["order_id"]: row for row in _of(table, "purchase")}
    returns = _of(table, "purchase_returned")
    assert 0.01 < len(returns) / len(orders) < 0.03
    end = CONFIG.epoch0 + CONFIG.days * 86_400 + 8 * 3600
    partial = 0
    for ret in returns:
        bought = orders[ret["order_id"]]
        assert ret["_person"] == bought["_person"]
        assert _idents(ret) == _idents(bought)
        assert bought["_ts"] + 3600 < ret["_ts"] <= bought["_ts"] + 22 * 86_400
        assert ret["_ts"] < end
        assert 0 < _cents(ret["amount"]) <= _cents(bought["total"])
        assert ret["reason"] and ret["currency"] == "USD"
        assert ret["total"] is None and ret["store_id"] is None
        if ret["lines"] is None:
            assert ret["amount"] == bought["total"]
        else:
            partial += 1
            (line,) = orjson.loads(ret["lines"])
            assert line in orjson.loads(bought["lines"])
            assert _cents(ret["amount"]) == line["quantity"] * _cents(str(line["unit_price"]))
    assert 0.15 < partial / len(returns) < 0.45


def test_redemptions_follow_a_purchase_of_the_same_person(run: tuple[Engine, pa.Table]) -> None:
    engine, table = run
    orders = {row["order_id"]: row for row in _of(table, "purchase")}
    redeemed = _of(table, "reward_redeemed")
    assert len(redeemed) > 50
    for red in redeemed:
        bought = orders[red["order_id"]]
        assert red["_person"] == bought["_person"]
        assert _idents(red) == _idents(bought)
        assert any(v for k, v in red.items() if k.startswith("identifiers."))
        assert bought["_ts"] < red["_ts"] < bought["_ts"] + 60
        assert red["reward_id"] in POINTS
    propensity = engine.world.pop.redeem_propensity
    who = np.array([red["_person"] for red in redeemed])
    assert (propensity[who] > 0).all()
    never = propensity == 0
    assert 0.25 < never.mean() < 0.35


def _members(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Identifier key -> member: identifiers seen together in an event are one member."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for row in rows:
        keys = _keys(row)
        for key in keys:
            parent[find(key)] = find(keys[0])
    return {key: find(key) for key in parent}


def _keys(row: dict[str, Any]) -> list[str]:
    return [
        parse_key(f"{column[12:]}:{value}")
        for column, value in row.items()
        if column.startswith("identifiers.") and value
    ]


def test_a_ledger_of_members_accepts_every_redemption(run: tuple[Engine, pa.Table]) -> None:
    """Replay as the demo program would: members from the identifiers, earn 1 point a whole
    dollar into lots that expire after 180 days, proportional clawbacks (rounded up) from
    the order's lot first and never below zero, FIFO burns. No burn may be unaffordable."""
    _, table = run
    rows = table.to_pylist()
    member = _members(rows)
    lots: dict[str, list[list[Any]]] = defaultdict(list)  # [expires, points, order_id]
    orders: dict[str, tuple[int, int]] = {}  # order -> (points, total cents)
    earned = burned = 0
    for row in rows:
        keys = _keys(row)
        if not keys or row["type"] not in {"purchase", "purchase_returned", "reward_redeemed"}:
            continue
        who, now = member[keys[0]], row["_ts"]
        live = lots[who] = [lot for lot in lots[who] if lot[0] > now]
        if row["type"] == "purchase":
            total = _cents(row["total"])
            orders[row["order_id"]] = (total // 100, total)
            earned += total // 100
            live.append([now + EXPIRY_DAYS * 86_400, total // 100, row["order_id"]])
            continue
        if row["type"] == "purchase_returned":
            points, total = orders[row["order_id"]]
            need = -(-points * _cents(row["amount"]) // total)
            live.sort(key=lambda lot: lot[2] != row["order_id"])  # its own lot first
        else:
            need = POINTS[row["reward_id"]]
            assert sum(lot[1] for lot in live) >= need, row
            burned += need
        for lot in live:
            take = min(lot[1], need)
            lot[1] -= take
            need -= take
        live.sort(key=lambda lot: lot[0])
    assert 0.15 < burned / earned < 0.6


def test_same_seed_same_events_in_batch_and_closed_loop() -> None:
    config = SimConfig(members=250, months=2, seed=9)
    engine, batch = _run(config)
    sim = Simulation(config)
    loop = [sim.engine.prelude()] + [sim.step_table(day, []) for day in range(sim.days)]
    assert pa.concat_tables(loop).equals(batch)
    assert persons_table(sim.engine).equals(persons_table(engine))
    new = pc.is_in(batch["type"], value_set=pa.array(["purchase_returned", "reward_redeemed"]))
    assert pc.sum(new).as_py() > 0
    _, other = _run(SimConfig(members=250, months=2, seed=10))
    assert not other.equals(batch)


def test_truth_holds_the_redemption_traits(run: tuple[Engine, pa.Table]) -> None:
    engine, _ = run
    persons = persons_table(engine)
    propensity = persons["redeem_propensity"].to_numpy()
    assert ((propensity >= 0) & (propensity < 1)).all()
    assert set(persons["reward_goal"].to_pylist()) <= set(POINTS)
    for column in ("points_loyalty_end", "points_card_end"):
        assert pc.min(persons[column]).as_py() >= -100


def test_wallet_burns_oldest_first_and_expires_whole_lots() -> None:
    w = Wallets(1)
    one = np.array([0])
    w.start_day(0)
    w.earn(one, np.array([100]))
    for day in range(1, BUCKET_DAYS + 1):
        w.start_day(day)
    w.earn(one, np.array([50]))
    w.spend(one, np.array([80]))  # from the first lot: 20 left there, 50 in the second
    for day in range(BUCKET_DAYS + 1, EXPIRY_DAYS + 1):
        w.start_day(day)
    assert w.balance(one).tolist() == [50]  # the first lot expired at day 180
    with pytest.raises(ValueError, match="expected day"):
        w.start_day(EXPIRY_DAYS + 5)


def test_wallet_clawback_beyond_the_lot_becomes_a_debt() -> None:
    w = Wallets(2)
    both = np.array([0, 1])
    w.start_day(0)
    w.earn(both, np.array([30, 30]))
    w.schedule_clawback(day=np.array([2, 2]), row=both, earned_day=0, points=np.array([20, 50]))
    w.start_day(1)
    assert w.balance(both).tolist() == [30, 30]  # not yet: the returns are dated day 2
    w.start_day(2)
    assert w.balance(both).tolist() == [10, -20]
    w.earn(np.array([1, 1]), np.array([15, 15]))  # a person may repeat
    assert w.balance(both).tolist() == [10, 10]
    assert w.debt.tolist() == [0, 0]


def test_dates_are_utc_iso(run: tuple[Engine, pa.Table]) -> None:
    _, table = run
    for row in _of(table, "purchase_returned")[:20]:
        at = datetime.fromisoformat(row["occurred_at"].replace("Z", "+00:00"))
        assert at.tzinfo == UTC and int(at.timestamp()) == row["_ts"]
