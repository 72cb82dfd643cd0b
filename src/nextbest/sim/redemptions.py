"""Points: orders earn on the loyalty account, and at a purchase some persons burn for a reward.

A person's purchases of the day are taken in time order. Each first earns its points (at
most ``EARN_CAP_PER_DAY`` an account a day); then, with probability equal to their
redemption propensity, the person looks at the rewards and ``rewards.choose_reward`` says
which, if any, the balance buys. The ``reward_redeemed`` event comes a few seconds after
the purchase, with its identifiers, source and ``order_id``, so a ledger posting events in
time order has the purchase's points when it prices the burn.

Each person has up to two accounts (``sources.accounts``): the loyalty account of their
signup and, when it is not linked to it, their first card's. An order earns on the account
its identifiers reach, and a redemption spends from that one, as at a real till. Orders that
reach yet another member (an unregistered second card, a typo'd email, an unlinked phone)
earn there, out of the simulator's sight, and no one redeems at them: those points are
breakage unless identity resolution merges the member in, which only adds points.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from nextbest.sim.blocks import Block, Column
from nextbest.sim.draws import Rng
from nextbest.sim.purchases import Orders
from nextbest.sim.rewards import (
    EARN_CAP_PER_DAY,
    IMPULSE,
    REWARD_IDS,
    REWARD_POINTS,
    choose_reward,
    points_earned,
)
from nextbest.sim.sources import World
from nextbest.sim.wallets import Wallets


def wallet_of(world: World, orders: Orders) -> np.ndarray:
    """Row of ``Wallets`` of each order's account (``account * persons + person``)."""
    out: np.ndarray = orders.account.astype(np.int64) * world.pop.n + orders.person
    return out


def _rank_in_day(person: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """0 for each person's first order of the day, 1 for the second, … (by time).

    >>> _rank_in_day(np.array([5, 3, 5, 5]), np.array([30, 10, 10, 20])).tolist()
    [2, 0, 0, 1]
    """
    n = len(person)
    order = np.lexsort((ts, person))
    sorted_person = person[order]
    starts = np.r_[True, sorted_person[1:] != sorted_person[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - first
    return rank


def redemptions(world: World, rng: Rng, *, orders: Orders, wallets: Wallets) -> list[Block]:
    """Credit every order's points; ``reward_redeemed`` events at some of today's ``orders``."""
    n = len(orders.person)
    if n == 0:
        return []
    person = orders.person
    mood = rng.random(n) < world.pop.redeem_propensity[person]
    impulse = rng.random(n) < IMPULSE[world.pop.reward_goal[person]]
    delay = rng.integers(2, 30, n)
    followed = orders.account >= 0
    wallet = wallet_of(world, orders)
    points = np.where(followed, points_earned(orders.total), 0)
    reward = np.full(n, -1, dtype=np.int64)
    rank = _rank_in_day(person, orders.ts)
    accounts, account_of = np.unique(wallet, return_inverse=True)
    earned_today = np.zeros(len(accounts), dtype=np.int64)
    for r in range(int(rank.max()) + 1):
        rows = np.flatnonzero(rank == r)
        room = np.maximum(EARN_CAP_PER_DAY - earned_today[account_of[rows]], 0)
        credit = np.minimum(points[rows], room)
        earned_today[account_of[rows]] += credit
        earning = credit > 0
        wallets.earn(wallet[rows[earning]], credit[earning])
        asks = rows[mood[rows] & followed[rows]]
        if len(asks):
            chosen = choose_reward(
                wallets.balance(wallet[asks]), world.pop.reward_goal[person[asks]], impulse[asks]
            )
            took = chosen >= 0
            wallets.spend(wallet[asks[took]], REWARD_POINTS[chosen[took]])
            reward[asks[took]] = chosen[took]

    rows = np.flatnonzero(reward >= 0)
    if len(rows) == 0:
        return []
    bought = orders.purchase.take(rows)
    cols: dict[str, Column] = {
        k: v for k, v in bought.cols.items() if k.startswith("identifiers.") or k == "source"
    }
    cols |= {
        "reward_id": pa.array(REWARD_IDS).take(pa.array(reward[rows])),
        "order_id": bought.cols["order_id"],
    }
    return [Block("reward_redeemed", bought.person, bought.ts + delay[rows], cols)]
