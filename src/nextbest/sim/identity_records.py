"""Person records as several systems would hold them: one person, one to three records.

Each record copies its person's name, birthday, postcode, email and phone from the
simulated world, then adds the mess real files have: missing values, typos (a swapped or
dropped letter), upper-case names, birthdays with day and month swapped, a typo'd email
address (the world's own typo variants, e.g. ``gmial.com``), a postcode from an older
address, and phones written the ways people type them. ``person_id`` is the truth.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nextbest.sim.catalogue import FIRST_NAMES, LAST_NAMES
from nextbest.sim.config import SimConfig
from nextbest.sim.identities import digits
from nextbest.sim.sources import World, phone_formats

RECORDS_PER_PERSON = (1, 2, 3)
RECORDS_PER_PERSON_P = (0.45, 0.35, 0.20)


def identity_records(records: int, *, seed: int = 7) -> pa.Table:
    """``records`` noisy person records: ``record_id, person_id, first_name, last_name,
    birthday (ISO text), postcode, email, phone``.

    >>> t = identity_records(50, seed=1)
    >>> t.num_rows, t.column_names[:3], len(set(t["record_id"].to_pylist()))
    (50, ['record_id', 'person_id', 'first_name'], 50)
    """
    if records < 1:
        raise ValueError(f"records must be at least 1, got {records}")
    mean = float(np.dot(RECORDS_PER_PERSON, RECORDS_PER_PERSON_P))
    rng = np.random.default_rng([seed, 31])
    persons = int(records / mean * 1.05) + 10
    copies = rng.choice(RECORDS_PER_PERSON, size=persons, p=RECORDS_PER_PERSON_P)
    while copies.sum() < records:  # rare, for tiny samples: add persons
        persons *= 2
        copies = rng.choice(RECORDS_PER_PERSON, size=persons, p=RECORDS_PER_PERSON_P)
    world = World.build(SimConfig(members=persons, seed=seed))
    person = np.repeat(np.arange(persons), copies)[:records]
    rng.shuffle(person)
    n = len(person)
    pop, ids = world.pop, world.ids
    take = pa.array(person, pa.int64())

    first = pa.array(FIRST_NAMES).take(pa.array(pop.first_name)).take(take)
    last = pa.array(LAST_NAMES).take(pa.array(pop.last_name)).take(take)
    first = _missing(_typos(_case(first, rng), rng, 0.03), rng, 0.04)
    last = _missing(_typos(_case(last, rng), rng, 0.03), rng, 0.03)

    birthday = pc.strftime(pa.array(pop.birthday[person]), format="%Y-%m-%d")
    swap = rng.random(n) < 0.02
    day_month = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(birthday, 0, 4),
        pc.utf8_slice_codeunits(birthday, 8, 10),
        pc.utf8_slice_codeunits(birthday, 5, 7),
        "-",
    )
    valid = pc.is_valid(pc.strptime(day_month, format="%Y-%m-%d", unit="s", error_is_null=True))
    birthday = pc.if_else(pc.and_(pa.array(swap), valid), day_month, birthday)
    birthday = _missing(birthday, rng, 0.08)

    home = pop.postcode[person].astype(np.int64)
    moved = rng.random(n) < 0.05
    older = pop.postcode[rng.integers(0, persons, n)].astype(np.int64)
    postcode = _missing(_typos(digits(np.where(moved, older, home), 5), rng, 0.01), rng, 0.06)

    email = ids.email.take(take)
    typo = ids.email_typo.take(take)
    use_typo = pc.and_(pa.array(rng.random(n) < 0.3), pc.is_valid(typo))
    email = pc.if_else(use_typo, typo, email)
    email = _missing(_case(email, rng, upper=0.02), rng, 0.35)

    phone = ids.phone_digits.take(take)
    phone = _typos(pc.fill_null(phone, ""), rng, 0.01)
    phone = phone_formats(phone, rng.integers(0, 6, n))
    phone = pc.if_else(pc.is_valid(ids.phone_digits.take(take)), phone, None)
    phone = _missing(phone, rng, 0.35)

    return pa.table(
        {
            "record_id": pa.array([f"R{i:08d}" for i in range(n)]),
            "person_id": pa.array([f"P{p:07d}" for p in person]),
            "first_name": first,
            "last_name": last,
            "birthday": birthday,
            "postcode": postcode,
            "email": email,
            "phone": phone,
        }
    )


def _missing(values: pa.Array, rng: np.random.Generator, share: float) -> pa.Array:
    gone = pa.array(rng.random(len(values)) < share)
    return pc.if_else(gone, pa.nulls(len(values), pa.string()), values)


def _case(values: pa.Array, rng: np.random.Generator, *, upper: float = 0.1) -> pa.Array:
    shout = pa.array(rng.random(len(values)) < upper)
    return pc.if_else(shout, pc.utf8_upper(values), values)


def _typos(values: pa.Array, rng: np.random.Generator, share: float) -> pa.Array:
    """A share of values with two adjacent characters swapped or one dropped."""
    chosen = np.flatnonzero(rng.random(len(values)) < share)
    if len(chosen) == 0:
        return values
    texts = values.take(pa.array(chosen)).to_pylist()
    where = rng.random(len(chosen))
    drop = rng.random(len(chosen)) < 0.3
    changed: list[str | None] = []
    for text, at, dropping in zip(texts, where, drop, strict=True):
        if not text or len(text) < 3:
            changed.append(text)
            continue
        k = int(at * (len(text) - 1))
        if dropping:
            changed.append(text[:k] + text[k + 1 :])
        else:
            changed.append(text[:k] + text[k + 1] + text[k] + text[k + 2 :])
    mask = np.zeros(len(values), dtype=bool)
    mask[chosen] = True
    replacement = np.empty(len(values), dtype=object)
    replacement[chosen] = changed
    full = pa.array(replacement, pa.string())
    return pc.if_else(pa.array(mask), full, values)
