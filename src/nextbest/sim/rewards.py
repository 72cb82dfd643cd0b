"""The demo loyalty program as the simulator sees it: earning, expiry, the rewards catalogue.

KEEP IN STEP WITH THE DEMO PROGRAM FILE, ``src/nextbest/ledger/programs/bean_and_bake.yaml``.
The ledger prices burns and posts earns from that file; the simulator only estimates
balances to decide when a person asks for a reward. If the two disagree (points per unit,
expiry, a reward's price), the ledger refuses redemptions the simulator thought
affordable, or breakage drifts. Change the program file and these constants together.

Earn: ``POINTS_PER_UNIT`` point per whole currency unit of a purchase's total (floored).
A return claws back the order's points in proportion to the money refunded (rounded up).
Points expire ``EXPIRY_DAYS`` days after they were earned (the program says 6 months, never
fewer days). The program's extras (category and channel multipliers, tier multipliers,
promotions) only add points, so the simulator ignores them and its balances err low.

How a person chooses (``choose_reward``): each person has a latent *goal* reward (mostly
a cheap one; a few save up for the beans or the mug) and a redemption *propensity* (30%
of persons never redeem). At a purchase, with probability equal to the propensity, they
redeem the goal if their balance covers it; when it does not, they give in to the dearest
affordable reward with probability ``IMPULSE`` (high for everyday goals, low for savers)
and otherwise keep saving.

At 1 point a dollar, a drip coffee costs $80 of purchases within 6 months, which most
persons do not spend on one account: even if everyone redeemed at every chance, about
45% of the points would be redeemed in a year. With these settings about 30% are (of the
points on the accounts the simulator follows; 20k persons, 12 months).
"""

from __future__ import annotations

import numpy as np

POINTS_PER_UNIT = 1
"""Points per whole currency unit of a purchase's total (the total after discounts)."""
EXPIRY_DAYS = 180
"""Spendable points expire this many days after they were earned."""
EARN_CAP_PER_DAY = 400
"""At most this many points a member earns in a day."""

# (reward_id, points), cheapest first.
REWARDS: tuple[tuple[str, int], ...] = (
    ("drip-coffee", 80),
    ("pastry", 120),
    ("latte", 150),
    ("bag-of-beans", 450),
    ("mug", 900),
)
REWARD_IDS: tuple[str, ...] = tuple(r[0] for r in REWARDS)
REWARD_POINTS = np.array([r[1] for r in REWARDS], dtype=np.int64)

# The behaviour around the program (simulator only; the program file does not hold these).
NEVER_REDEEM_SHARE = 0.3
"""Persons who never redeem at all (their points all end as breakage)."""
PROPENSITY_BETA = (4.0, 1.5)
"""Beta(a, b) of the others' probability of redeeming at a purchase they can afford."""
GOAL_WEIGHTS = np.array([0.60, 0.20, 0.12, 0.05, 0.03])
"""How often each reward is the one a person works towards (order of ``REWARDS``)."""
IMPULSE = np.array([0.6, 0.6, 0.6, 0.05, 0.05])
"""P(take a cheaper affordable reward | in the mood, goal not yet affordable), by goal:
savers (working towards the beans or the mug) rarely give in."""


def points_earned(total_cents: np.ndarray) -> np.ndarray:
    """Points a purchase earns: one per whole currency unit of its total.

    >>> points_earned(np.array([0, 99, 100, 1999])).tolist()
    [0, 0, 1, 19]
    """
    out: np.ndarray = (np.asarray(total_cents, dtype=np.int64) // 100) * POINTS_PER_UNIT
    return out


def clawback_points(total_cents: np.ndarray, amount_cents: np.ndarray) -> np.ndarray:
    """Points a refund of ``amount`` takes back: the order's points in proportion, rounded up.

    The program's ``returns: {clawback: proportional}``; rounding up errs against the
    member, as the ledger does. Never more than the order earned.

    >>> clawback_points(np.array([1250, 1250, 1000]), np.array([1250, 425, 500])).tolist()
    [12, 5, 5]
    """
    total = np.asarray(total_cents, dtype=np.int64)
    amount = np.minimum(np.asarray(amount_cents, dtype=np.int64), total)
    earned = points_earned(total)
    out: np.ndarray = -((-earned * amount) // np.maximum(total, 1))
    return out


def choose_reward(balance: np.ndarray, goal: np.ndarray, impulse: np.ndarray) -> np.ndarray:
    """Reward index each person redeems now, or -1 to keep saving.

    The goal when the balance covers it; otherwise, on an ``impulse``, the dearest reward
    the balance covers (always cheaper than the goal); otherwise nothing.

    >>> choose_reward(np.array([100, 100, 100, 40]), np.array([0, 3, 3, 0]),
    ...               np.array([False, True, False, True])).tolist()
    [0, 0, -1, -1]
    """
    balance = np.asarray(balance, dtype=np.int64)
    dearest = np.searchsorted(REWARD_POINTS, balance, side="right") - 1
    out: np.ndarray = np.where(
        balance >= REWARD_POINTS[goal], goal, np.where(impulse, dearest, -1)
    ).astype(np.int64)
    return out
