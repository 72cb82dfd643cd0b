"""Which identifiers each source system records for a person's event.

POS: the loyalty card when shown, else nothing (guest). App: device + loyalty id. Web:
email (sometimes a typo'd variant), sometimes a phone. Kiosk: card or a typed phone. Call
centre: a phone in whatever format the agent typed. Email and SMS: the address messaged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nextbest.sim.blocks import Column, join, pick
from nextbest.sim.catalogue import REGIONS, STORES_PER_REGION, Catalogue, build_catalogue
from nextbest.sim.config import SimConfig
from nextbest.sim.draws import Rng
from nextbest.sim.identities import Identities, draw_identities
from nextbest.sim.population import Population, draw_population


@dataclass(frozen=True, slots=True)
class World:
    """Everything fixed for a run: config, persons, their identifiers, the catalogue."""

    config: SimConfig
    pop: Population
    ids: Identities
    catalogue: Catalogue
    store_ids: pa.StringArray
    phone_e164: pa.StringArray

    @classmethod
    def build(cls, config: SimConfig) -> World:
        rng = np.random.default_rng([config.seed, 0])
        pop = draw_population(config, rng)
        ids = draw_identities(pop, rng)
        stores = pa.array([f"S{i:03d}" for i in range(len(REGIONS) * STORES_PER_REGION)])
        e164 = join("+1", ids.phone_digits)
        return cls(config, pop, ids, build_catalogue(), stores, e164)


def _take(values: pa.Array, person: np.ndarray) -> pa.Array:
    return values.take(pa.array(person, pa.int64()))


def phone_formats(digits: pa.Array, variant: np.ndarray) -> pa.Array:
    """The same US numbers written the ways people and agents type them.

    >>> phone_formats(pa.array(["4155550134"] * 3), np.array([1, 2, 3])).to_pylist()
    ['(415) 555-0134', '415.555.0134', '+1 415 555 0134']
    """
    a = pc.utf8_slice_codeunits(digits, 0, 3)
    e = pc.utf8_slice_codeunits(digits, 3, 6)
    line = pc.utf8_slice_codeunits(digits, 6, 10)
    options = [
        join("+1", digits),
        join("(", a, ") ", e, "-", line),
        join(a, ".", e, ".", line),
        join("+1 ", a, " ", e, " ", line),
        join(a, "-", e, "-", line),
        join("1", digits),
    ]
    return pc.choose(pa.array(variant.astype(np.int8)), *options)


def merge(n: int, parts: list[tuple[np.ndarray, dict[str, Column]]]) -> dict[str, Column]:
    """Scatter per-source columns, each computed on its own rows, into columns of length n.

    >>> cols = merge(3, [(np.array([2]), {"x": pa.array(["b"])}),
    ...                  (np.array([0]), {"x": pa.array(["a"])})])
    >>> cols["x"].to_pylist()
    ['a', None, 'b']
    """
    covered = np.zeros(n, dtype=bool)
    for rows, _ in parts:
        covered[rows] = True
    rest = np.flatnonzero(~covered)
    order = np.concatenate([rows for rows, _ in parts] + [rest]).astype(np.int64)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n, dtype=np.int64)
    names = sorted({name for _, cols in parts for name in cols})
    out: dict[str, Column] = {}
    for name in names:
        chunks: list[pa.Array] = []
        for rows, cols in parts:
            value = cols.get(name)
            if isinstance(value, pa.ChunkedArray):
                value = value.combine_chunks()
            if isinstance(value, str):
                value = pa.array(np.full(len(rows), value), pa.string())
            chunks.append(value if value is not None else pa.nulls(len(rows), pa.string()))
        chunks.append(pa.nulls(len(rest), pa.string()))
        out[name] = pa.concat_arrays([c.cast(pa.string()) for c in chunks]).take(pa.array(inverse))
    return out


ACCOUNTS = ("loyalty", "card")
"""The points accounts the simulator follows per person: the one their signup made and, for
persons who did not sign up with it, the account their first card runs on its own."""


def accounts(
    world: World, person: np.ndarray, idents: dict[str, Column], card_registered: np.ndarray
) -> np.ndarray:
    """Which account each event reaches: 0 loyalty, 1 the first card alone, -1 another.

    The loyalty account holds what the signup linked: the loyalty id, the real email (every
    signup states it), the first card of an in-store signup, a second card once registered,
    the phone of an app signup. The first card of anyone else is a member of its own, which
    earns and redeems at the till. Events with only a typo'd email, an unregistered second
    card or a phone never linked reach yet another member (-1, not followed; identity
    resolution may merge it in later, which only adds points), as do guest events.
    """
    ids, kind = world.ids, world.pop.signup_kind[person]

    def holds(column: str, values: pa.Array) -> np.ndarray:
        col = idents.get(column)
        if not isinstance(col, pa.Array | pa.ChunkedArray):
            return np.zeros(len(person), dtype=bool)
        return np.asarray(pc.fill_null(pc.equal(col, _take(values, person)), False))

    first_card = holds("identifiers.pos_card", ids.pos_card)
    loyalty = holds("identifiers.loyalty_id", ids.loyalty_id) | holds(
        "identifiers.email", ids.email
    )
    loyalty |= (first_card & (kind == 2)) | (
        holds("identifiers.pos_card", ids.pos_card2) & card_registered
    )
    phone = idents.get("identifiers.phone")
    if isinstance(phone, pa.Array | pa.ChunkedArray):
        loyalty |= np.asarray(phone.is_valid()) & (kind == 1)
    loyalty &= kind > 0
    out: np.ndarray = np.where(loyalty, 0, np.where(first_card, 1, -1)).astype(np.int8)
    return out


def pos(world: World, rng: Rng, person: np.ndarray) -> dict[str, Column]:
    shown = rng.random(len(person)) < world.pop.card_show[person]
    card2 = _take(world.ids.pos_card2, person)
    use2 = (rng.random(len(person)) < 0.35) & np.asarray(card2.is_valid())
    card = pc.if_else(pa.array(use2), card2, _take(world.ids.pos_card, person))
    return {"identifiers.pos_card": pick(shown, card)}


def app(world: World, person: np.ndarray) -> dict[str, Column]:
    return {
        "identifiers.device_id": _take(world.ids.device_id, person),
        "identifiers.loyalty_id": _take(world.ids.loyalty_id, person),
    }


def web(world: World, rng: Rng, person: np.ndarray) -> dict[str, Column]:
    n = len(person)
    typo = _take(world.ids.email_typo, person)
    use_typo = (rng.random(n) < 0.5) & np.asarray(typo.is_valid())
    email = pc.if_else(pa.array(use_typo), typo, _take(world.ids.email, person))
    phone = phone_formats(_take(world.ids.phone_digits, person), rng.integers(0, 6, n))
    return {
        "identifiers.email": email,
        "identifiers.phone": pick(rng.random(n) < 0.25, phone),
    }


def kiosk(world: World, rng: Rng, person: np.ndarray) -> dict[str, Column]:
    n = len(person)
    digits = _take(world.ids.phone_digits, person)
    typed = (rng.random(n) < 0.4) & np.asarray(digits.is_valid())
    phone = phone_formats(digits, rng.integers(0, 6, n))
    card = _take(world.ids.pos_card, person)
    return {"identifiers.phone": pick(typed, phone), "identifiers.pos_card": pick(~typed, card)}


def call_centre(world: World, rng: np.random.Generator, person: np.ndarray) -> dict[str, Column]:
    """A phone as typed by the agent; members without one give their loyalty number."""
    digits = _take(world.ids.phone_digits, person)
    has = np.asarray(digits.is_valid())
    phone = phone_formats(digits, rng.integers(0, 6, len(person)))
    return {
        "identifiers.phone": phone,
        "identifiers.loyalty_id": pick(~has, _take(world.ids.loyalty_id, person)),
    }


def email(world: World, person: np.ndarray) -> dict[str, Column]:
    return {"identifiers.email": _take(world.ids.email, person)}


def sms(world: World, person: np.ndarray) -> dict[str, Column]:
    return {"identifiers.phone": _take(world.phone_e164, person)}


def push(world: World, person: np.ndarray) -> dict[str, Column]:
    return {"identifiers.device_id": _take(world.ids.device_id, person)}
