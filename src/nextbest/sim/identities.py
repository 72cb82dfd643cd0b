"""Each person's true identifiers, as Arrow string arrays indexed by person.

Realistic mess for identity resolution: typo'd emails used at some sources, second loyalty
cards, family devices shared by two persons, persons who never link all their identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nextbest.sim.blocks import join
from nextbest.sim.catalogue import (
    DOMAIN_TYPOS,
    EMAIL_DOMAIN_WEIGHTS,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    REGIONS,
)
from nextbest.sim.population import Population


@dataclass(frozen=True, slots=True)
class Identities:
    """Arrow string arrays of length ``n``; null where the person has no such identifier."""

    email: pa.StringArray
    email_typo: pa.StringArray
    phone_digits: pa.StringArray  # 10 national digits
    device_id: pa.StringArray
    loyalty_id: pa.StringArray
    pos_card: pa.StringArray
    pos_card2: pa.StringArray
    shared_device_with: np.ndarray  # int64 person whose device this person uses, or -1


def digits(values: np.ndarray, width: int) -> pa.StringArray:
    """Zero-padded decimal strings.

    >>> digits(np.array([7, 1234]), 3).to_pylist()
    ['007', '1234']
    """
    return pc.utf8_lpad(
        pc.cast(pa.array(values, pa.int64()), pa.string()), width=width, padding="0"
    )


def _with_nulls(values: pa.Array, present: np.ndarray) -> pa.StringArray:
    mask = pa.array(~present)
    return pc.if_else(mask, pa.nulls(len(values), pa.string()), values)


def _uuids(rng: np.random.Generator, n: int) -> pa.StringArray:
    raw = np.frombuffer(rng.bytes(16 * n).hex().encode(), dtype="S32")
    hexes = pc.cast(pa.array(raw, pa.binary()), pa.string())
    parts = [
        pc.utf8_slice_codeunits(hexes, a, b)
        for a, b in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))
    ]
    return join(parts[0], "-", parts[1], "-", parts[2], "-", parts[3], "-", parts[4])


def _unique_numbers(rng: np.random.Generator, n: int, low: int, span: int) -> np.ndarray:
    """``n`` distinct integers in ``[low, low + span)``, in random order."""
    block = span // max(n, 1)
    return low + rng.permutation(n).astype(np.int64) * block + rng.integers(0, max(block, 1), n)


def _emails(pop: Population, rng: np.random.Generator) -> tuple[pa.StringArray, pa.StringArray]:
    n = pop.n
    first = pa.array([f.lower() for f in FIRST_NAMES]).take(pa.array(pop.first_name))
    last = pa.array([s.lower() for s in LAST_NAMES]).take(pa.array(pop.last_name))
    initial = pc.utf8_slice_codeunits(first, 0, 1)
    style = rng.integers(0, 4, n)
    head = pc.choose(pa.array(style), first, first, initial, first)
    sep = pa.array(np.array([".", "", "", "_"])[style])
    domain_idx = rng.choice(len(EMAIL_DOMAINS), n, p=EMAIL_DOMAIN_WEIGHTS)
    domains = pa.array(EMAIL_DOMAINS).take(pa.array(domain_idx))
    base = join(head, sep, last, "@", domains)
    codes = np.asarray(base.dictionary_encode().indices)
    first_seen = np.zeros(n, dtype=bool)
    first_seen[np.unique(codes, return_index=True)[1]] = True
    numbered = ~first_seen | (rng.random(n) < 0.5)
    number = (np.arange(n, dtype=np.int64) * 7919 + 13) % 10_000_000
    suffix = _with_nulls(pc.cast(pa.array(number), pa.string()), numbered)
    suffix = pc.fill_null(suffix, "")
    email = join(head, sep, last, suffix, "@", domains)

    typo = rng.random(n) < 0.08
    typo_values: list[str | None] = [None] * n
    emails = email.to_pylist()
    how = rng.random(n)
    pos = rng.random(n)
    for i in np.flatnonzero(typo):
        local, _, dom = str(emails[i]).partition("@")
        if how[i] < 0.6 and dom in DOMAIN_TYPOS:
            typo_values[i] = f"{local}@{DOMAIN_TYPOS[dom]}"
        else:
            k = int(pos[i] * (len(local) - 1))
            swapped = local[:k] + local[k + 1] + local[k] + local[k + 2 :]
            if swapped != local:
                typo_values[i] = f"{swapped}@{dom}"
    return email, pa.array(typo_values, pa.string())


def _phones(pop: Population, rng: np.random.Generator) -> pa.StringArray:
    n = pop.n
    area_tables = [np.array(r[3]) for r in REGIONS]
    area = np.zeros(n, dtype=np.int64)
    for r, table in enumerate(area_tables):
        idx = np.flatnonzero(pop.region == r)
        area[idx] = table[rng.integers(0, len(table), len(idx))]
    number = np.zeros(n, dtype=np.int64)
    todo = np.arange(n)
    while len(todo):
        exch = rng.integers(201, 1000, len(todo))
        bad = (exch % 100 == 11) | (exch == 555) | (exch == 950) | (exch == 976)
        exch[bad] = 301
        number[todo] = area[todo] * 10_000_000 + exch * 10_000 + rng.integers(0, 10_000, len(todo))
        _, first = np.unique(number, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        todo = np.flatnonzero(dup)
    return _with_nulls(digits(number, 10), pop.has_phone)


def draw_identities(pop: Population, rng: np.random.Generator) -> Identities:
    n = pop.n
    email, typo = _emails(pop, rng)
    phone = _phones(pop, rng)
    loyalty = join("L", digits(_unique_numbers(rng, n, 100_000_000, 800_000_000), 9))
    cards = _unique_numbers(rng, 2 * n, 6_019_000_000_000_000, 900_000_000_000)
    card1 = digits(cards[:n], 16)
    card2 = _with_nulls(digits(cards[n:], 16), rng.random(n) < 0.07)
    devices = _uuids(rng, n)

    # Family devices: some app users use a household member's device instead of their own.
    shared = np.full(n, -1, dtype=np.int64)
    app_users = np.flatnonzero(pop.app_user)
    if len(app_users) > 1:
        borrowers = app_users[rng.random(len(app_users)) < 0.03]
        owners = app_users[rng.integers(0, len(app_users), len(borrowers))]
        ok = (owners != borrowers) & ~np.isin(owners, borrowers)
        shared[borrowers[ok]] = owners[ok]
    device_owner = np.where(shared >= 0, shared, np.arange(n))
    device = _with_nulls(devices.take(pa.array(device_owner)), pop.app_user)
    return Identities(
        email=email,
        email_typo=typo,
        phone_digits=phone,
        device_id=device,
        loyalty_id=_with_nulls(loyalty, pop.signup_kind > 0),
        pos_card=card1,
        pos_card2=card2,
        shared_device_with=shared,
    )
