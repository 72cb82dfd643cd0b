"""Returns: a small share of orders comes back days later, refunded whole or one line.

A returned order is refunded 1 to 21 days after it was bought, at a shop hour, with the
purchase's identifiers, source and ``order_id``. Most refunds are of the whole order (its
total); in an order of several lines one line often comes back alone (that line's
quantity times unit price, the line given in ``lines``), unless the order's discount makes
the line worth as much as the whole order, when the refund is whole. Returns that would
fall after the simulated period are not generated; a refund never exceeds the order total.
The points the refund takes back leave the person's estimated balance on the return day.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from nextbest.sim import draws
from nextbest.sim.blocks import Block, Column, join, money, pick
from nextbest.sim.draws import Rng
from nextbest.sim.purchases import Orders
from nextbest.sim.redemptions import wallet_of
from nextbest.sim.rewards import clawback_points
from nextbest.sim.sources import World
from nextbest.sim.timing import times
from nextbest.sim.wallets import Wallets

RETURN_SHARE = 0.02
"""Share of orders returned (before dropping returns past the period's end)."""
LATEST_DAYS = 21
"""A return comes 1 to ``LATEST_DAYS`` days after its purchase."""
ONE_LINE_SHARE = 0.75
"""Of returned orders with several lines, the share refunding one line only.

About 40% of orders have several lines, so about 30% of refunds are of one line."""
REASONS: tuple[str, ...] = ("wrong_order", "quality", "damaged", "changed_mind", "charged_twice")
REASON_WEIGHTS = np.array([0.32, 0.26, 0.14, 0.18, 0.10])


def returns(world: World, rng: Rng, *, day: int, orders: Orders, wallets: Wallets) -> list[Block]:
    """``purchase_returned`` events for today's ``orders`` (dated later); schedules clawbacks."""
    n = len(orders.person)
    if n == 0:
        return []
    returned = rng.random(n) < RETURN_SHARE
    later = rng.integers(1, LATEST_DAYS + 1, n)
    one_line = rng.random(n) < ONE_LINE_SHARE
    which = (rng.random(n) * orders.n_lines).astype(np.int64)
    reason = rng.choice(len(REASONS), n, p=REASON_WEIGHTS)
    rows = np.flatnonzero(returned & (day + later < world.config.days) & (orders.total > 0))
    if len(rows) == 0:
        return []
    line = orders.line_start[rows] + which[rows]
    total = orders.total[rows]
    partial = one_line[rows] & (orders.n_lines[rows] > 1) & (orders.line_cents[line] < total)
    amount = np.where(partial, orders.line_cents[line], total)

    person = orders.person[rows]
    when = later[rows] + day
    ts = times(world, draws.take(rng, rows), person, when, "weekday")
    bought = orders.purchase.take(rows)
    cols: dict[str, Column] = {
        k: v for k, v in bought.cols.items() if k.startswith("identifiers.") or k == "source"
    }
    cols |= {
        "order_id": bought.cols["order_id"],
        "amount": money(amount),
        "lines": pick(partial, join("[", orders.line_text.take(pa.array(line)), "]")),
        "currency": "USD",
        "reason": pa.array(REASONS).take(pa.array(reason[rows])),
    }
    earned = orders.account[rows] >= 0
    wallets.schedule_clawback(
        day=when[earned],
        row=wallet_of(world, orders)[rows][earned],
        earned_day=day,
        points=clawback_points(total[earned], amount[earned]),
    )
    return [Block("purchase_returned", person, ts, cols)]
