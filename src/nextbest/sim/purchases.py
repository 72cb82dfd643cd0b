"""Purchases: channel, identifiers, basket lines from category preferences, offers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nextbest.sim import draws, sources
from nextbest.sim.blocks import Block, join, money, pick, serial
from nextbest.sim.catalogue import CATEGORIES, POSITIVE_FEEDBACK, STORES_PER_REGION, Catalogue
from nextbest.sim.draws import Rng
from nextbest.sim.population import PURCHASE_CHANNELS
from nextbest.sim.sources import World
from nextbest.sim.timing import times

MAX_QTY = 4


def line_table(cat: Catalogue) -> pa.StringArray:
    """JSON text of every (sku, quantity) line, indexed ``sku * MAX_QTY + quantity - 1``."""
    out = []
    for i, sku in enumerate(cat.skus):
        category = CATEGORIES[int(cat.categories[i])]
        price = f"{int(cat.price_cents[i]) // 100}.{int(cat.price_cents[i]) % 100:02d}"
        for q in range(1, MAX_QTY + 1):
            out.append(
                f'{{"sku":"{sku}","category":"{category}","quantity":{q},"unit_price":{price}}}'
            )
    return pa.array(out, pa.string())


def draw_skus(world: World, rng: Rng, person: np.ndarray) -> np.ndarray:
    """One SKU per row: category by the person's preferences, cheaper if price sensitive."""
    cum = np.cumsum(world.pop.pref[person], axis=1)
    cat = np.minimum((rng.random(len(person))[:, None] > cum).sum(axis=1), len(CATEGORIES) - 1)
    u = rng.random(len(person)) ** (1.0 + 2.0 * world.pop.price_sensitivity[person])
    sku = np.zeros(len(person), dtype=np.int64)
    for c, options in enumerate(world.catalogue.by_category):
        rows = np.flatnonzero(cat == c)
        sku[rows] = options[np.minimum((u[rows] * len(options)).astype(np.int64), len(options) - 1)]
    return sku


@dataclass(slots=True)
class Orders:
    """One day's purchases: their event blocks and, per order, what returns and points need.

    Line ``j`` of order ``i`` is at ``line_start[i] + j`` of the line arrays.
    """

    blocks: list[Block]  # the purchase block first, then offer redemptions and feedback
    person: np.ndarray
    ts: np.ndarray
    total: np.ndarray  # cents, after discount
    account: np.ndarray  # int8 account its points reach (``sources.accounts``), -1 none
    n_lines: np.ndarray
    line_start: np.ndarray
    line_cents: np.ndarray  # quantity * unit price of each line
    line_text: pa.Array  # JSON of each line

    @property
    def purchase(self) -> Block:
        return self.blocks[0]

    @classmethod
    def empty(cls) -> Orders:
        none = np.zeros(0, dtype=np.int64)
        return cls(
            [], none, none, none, none.astype(np.int8), none, none, none, pa.array([], pa.string())
        )


def purchases(
    world: World,
    rng: Rng,
    *,
    day: int,
    person: np.ndarray,
    offer_pct: np.ndarray,
    offer_id: pa.Array,
    lines_json: pa.StringArray,
    card_registered: np.ndarray,
) -> Orders:
    """Purchase events of ``person`` (one row per purchase), plus redemptions and feedback.

    ``card_registered``: per purchase, whether the person's second card is on their account.
    """
    n = len(person)
    if n == 0:
        return Orders.empty()
    pop, seed = world.pop, world.config.seed
    ts = times(world, rng, person, day)
    channel = (rng.random(n)[:, None] > pop.channel_cum[person]).sum(axis=1).clip(0, 3)
    rows = [np.flatnonzero(channel == k) for k in range(4)]
    idents = sources.merge(
        n,
        [
            (rows[0], sources.pos(world, draws.take(rng, rows[0]), person[rows[0]])),
            (rows[1], sources.app(world, person[rows[1]])),
            (rows[2], sources.web(world, draws.take(rng, rows[2]), person[rows[2]])),
            (rows[3], sources.kiosk(world, draws.take(rng, rows[3]), person[rows[3]])),
        ],
    )
    identified = np.zeros(n, dtype=bool)
    for value in idents.values():
        if isinstance(value, pa.Array):
            identified |= np.asarray(value.is_valid())

    n_lines = np.minimum(1 + rng.poisson(pop.basket_mean[person] - 1.0), 6)
    line_person = np.repeat(person, n_lines)
    line_order = np.repeat(np.arange(n), n_lines)
    line_rng = draws.repeat(rng, n_lines)  # rng itself unless paired
    sku = draw_skus(world, line_rng, line_person)
    qty = 1 + (line_rng.random(len(sku)) < 0.14) + (line_rng.random(len(sku)) < 0.04)
    offsets = pa.array(np.concatenate([[0], np.cumsum(n_lines)]).astype(np.int32))
    line_text = lines_json.take(pa.array(sku * MAX_QTY + qty - 1))
    line_cents = qty * world.catalogue.price_cents[sku]
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, line_text), ",")
    lines = join("[", joined, "]")
    subtotal = np.bincount(line_order, weights=line_cents, minlength=n).astype(np.int64)
    redeem = identified & (offer_pct > 0)
    discount = np.where(redeem, np.round(subtotal * offer_pct / 100.0), 0).astype(np.int64)
    total = subtotal - discount

    home = pop.home_store[person].astype(np.int64)
    away = pop.region[person].astype(np.int64) * STORES_PER_REGION + rng.integers(
        0, STORES_PER_REGION, n
    )
    store = np.where(rng.random(n) < 0.85, home, away)
    store_id = pick(channel != 2, world.store_ids.take(pa.array(store)))
    order_id = serial(f"O{seed}-{day}-", n)
    names = np.array([c[0] for c in PURCHASE_CHANNELS]), np.array([c[1] for c in PURCHASE_CHANNELS])
    blocks = [
        Block(
            "purchase",
            person,
            ts,
            {
                **idents,
                "source": pa.array(names[0][channel]),
                "channel": pa.array(names[1][channel]),
                "order_id": order_id,
                "lines": lines,
                "discount": money(discount),
                "total": money(total),
                "currency": "USD",
                "store_id": store_id,
            },
        )
    ]
    red_rows = np.flatnonzero(redeem)
    if len(red_rows):
        red = blocks[0].take(red_rows)
        red.ts = red.ts + 2
        red.cols = {k: v for k, v in red.cols.items() if k.startswith("identifiers.")}
        red.cols |= {
            "source": blocks[0].take(red_rows).cols["source"],
            "offer_id": offer_id.take(pa.array(red_rows)),
            "order_id": order_id.take(pa.array(red_rows)),
            "value": money(discount[red_rows]),
        }
        blocks.append(Block("offer_redeemed", red.person, red.ts, red.cols))
    fb = np.flatnonzero(identified & (rng.random(n) < 0.006))
    if len(fb):
        f = blocks[0].take(fb)
        fb_rng = draws.take(rng, fb)
        text = pa.array(POSITIVE_FEEDBACK).take(
            pa.array(fb_rng.integers(0, len(POSITIVE_FEEDBACK), len(fb)))
        )
        cols = {k: v for k, v in f.cols.items() if k.startswith("identifiers.") or k == "source"}
        cols |= {
            "order_id": f.cols["order_id"],
            "text": text,
            "rating": pa.array(fb_rng.choice(np.array(["4", "5"]), len(fb), p=[0.35, 0.65])),
        }
        delay = fb_rng.integers(1800, 86_400, len(fb))
        blocks.append(Block("feedback", f.person, f.ts + delay, cols))
    return Orders(
        blocks=blocks,
        person=person,
        ts=ts,
        total=total,
        account=sources.accounts(world, person, idents, card_registered),
        n_lines=n_lines,
        line_start=(np.cumsum(n_lines) - n_lines).astype(np.int64),
        line_cents=line_cents,
        line_text=line_text,
    )
