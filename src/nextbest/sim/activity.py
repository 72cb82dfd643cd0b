"""Everything but purchases: signups, profile updates, app and web use, messages, tickets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson
import pyarrow as pa

from nextbest.sim import draws, sources
from nextbest.sim.blocks import Block, Column, join, money, pick, serial
from nextbest.sim.catalogue import (
    CATEGORIES,
    FIRST_NAMES,
    LAST_NAMES,
    MILK_OPTIONS,
    NEGATIVE_FEEDBACK,
    NEUTRAL_FEEDBACK,
    REGIONS,
    TICKET_TOPICS,
)
from nextbest.sim.draws import Rng
from nextbest.sim.identities import digits
from nextbest.sim.purchases import draw_skus
from nextbest.sim.sources import World
from nextbest.sim.timing import times

CHANNEL_NAMES = ("email", "sms", "push")


def _consent_json(email: bool, sms: bool, push: bool) -> str:
    return orjson.dumps(
        [
            {"channel": "email", "purpose": "service", "granted": True},
            {"channel": "email", "purpose": "marketing", "granted": email},
            {"channel": "sms", "purpose": "marketing", "granted": sms},
            {"channel": "push", "purpose": "marketing", "granted": push},
        ]
    ).decode()


CONSENTS = pa.array([_consent_json(bool(b & 1), bool(b & 2), bool(b & 4)) for b in range(8)])
PREFERENCES = pa.array(
    [
        orjson.dumps({"milk": milk, "favourite": cat}).decode()
        for milk in MILK_OPTIONS
        for cat in CATEGORIES
    ]
)


def consent_codes(consent: np.ndarray) -> pa.Array:
    bits = consent[:, 0].astype(np.int64) + 2 * consent[:, 1] + 4 * consent[:, 2]
    return CONSENTS.take(pa.array(bits))


def _profile_cols(world: World, rng: np.random.Generator, person: np.ndarray) -> dict[str, Column]:
    pop = world.pop
    n = len(person)
    birthday = pa.array(np.datetime_as_string(pop.birthday[person], unit="D"))
    fav = pop.pref[person].argmax(axis=1)
    return {
        "first_name": pa.array(FIRST_NAMES).take(pa.array(pop.first_name[person])),
        "last_name": pa.array(LAST_NAMES).take(pa.array(pop.last_name[person])),
        "birthday": pick(rng.random(n) < 0.6, birthday),
        "postcode": digits(pop.postcode[person], 5),
        "timezone": pa.array([r[0] for r in REGIONS]).take(pa.array(pop.region[person])),
        "preferences": PREFERENCES.take(pa.array(pop.milk[person] * len(CATEGORIES) + fav)),
    }


def signups(world: World, rng: np.random.Generator, person: np.ndarray, ts: np.ndarray) -> Block:
    """Signups link identifiers: app (device, loyalty, email, phone), store, web."""
    kind = world.pop.signup_kind[person]
    n = len(person)
    phone = sources.phone_formats(
        sources._take(world.ids.phone_digits, person), rng.integers(0, 6, n)
    )
    mail = sources.email(world, person)["identifiers.email"]
    loyalty = sources._take(world.ids.loyalty_id, person)
    cols: dict[str, Column] = {
        "identifiers.email": mail,
        "identifiers.loyalty_id": loyalty,
        "identifiers.phone": pick((kind == 1) | ((kind == 3) & (rng.random(n) < 0.5)), phone),
        "identifiers.device_id": pick(kind == 1, sources._take(world.ids.device_id, person)),
        "identifiers.pos_card": pick(kind == 2, sources._take(world.ids.pos_card, person)),
    }
    source = pa.array(np.array(["", "app", "pos", "web"])[kind])
    cols |= _profile_cols(world, rng, person)
    cols |= {"source": source, "consents": consent_codes(world.pop.consent[person])}
    return Block("signup", person, ts, cols)


def profile_updates(
    world: World, rng: np.random.Generator, person: np.ndarray, day: int, consent: np.ndarray
) -> Block:
    """Members restate preferences and consents; some refuse marketing on the way."""
    n = len(person)
    ts = times(world, rng, person, day, "evening")
    via_app = world.pop.app_user[person] & (rng.random(n) < 0.8)
    a, w = np.flatnonzero(via_app), np.flatnonzero(~via_app)
    idents = sources.merge(
        n, [(a, sources.app(world, person[a])), (w, sources.email(world, person[w]))]
    )
    cols = idents | _profile_cols(world, rng, person)
    keep = rng.random(n) < 0.5
    for name in ("first_name", "last_name", "birthday", "timezone"):
        value = cols[name]
        assert isinstance(value, pa.Array)
        cols[name] = pick(keep, value)
    cols |= {
        "source": pa.array(np.where(via_app, "app", "web")),
        "consents": consent_codes(consent[person]),
    }
    return Block("profile_update", person, ts, cols)


def misspell(word: str, how: float, where: float) -> str:
    """One keying slip: a dropped, doubled or swapped letter.

    >>> misspell("Johnson", 0.1, 0.5), misspell("Johnson", 0.5, 0.5), misspell("Johnson", 0.9, 0.5)
    ('Johson', 'Johnnson', 'Johsnon')
    """
    if len(word) < 3:
        return word
    k = 1 + int(where * (len(word) - 2))
    if how < 0.34:
        return word[:k] + word[k + 1 :]
    if how < 0.67:
        return word[:k] + word[k] + word[k:]
    return word[:k] + word[k + 1] + word[k] + word[k + 2 :] if k + 1 < len(word) else word


def duplicate_signups(
    world: World, rng: np.random.Generator, person: np.ndarray, ts: np.ndarray
) -> Block:
    """Members who forget their account and register again at a kiosk or on the web.

    The second account has a new loyalty number and the email as typed that day (a typo'd
    variant when the person has one); name, birthday and postcode are stated again, now and
    then with a slip. No identifier ties it to the first account: only probabilistic
    linking can.
    """
    n = len(person)
    ids = world.ids
    typo = sources._take(ids.email_typo, person)
    real = sources._take(ids.email, person).to_pylist()
    typed: list[str | None] = []
    for i, variant in enumerate(typo.to_pylist()):
        if variant is not None:
            typed.append(variant)
        else:
            local, _, domain = str(real[i]).partition("@")
            typed.append(f"{misspell(local, float(rng.random()), float(rng.random()))}@{domain}")
    cols = _profile_cols(world, rng, person)
    slips = rng.random(n) < 0.15
    which = rng.random(n) < 0.5
    how, where = rng.random(n), rng.random(n)
    for column, chosen in (("first_name", which), ("last_name", ~which)):
        names = cols[column]
        assert isinstance(names, pa.Array)
        values = names.to_pylist()
        for j in np.flatnonzero(slips & chosen):
            values[j] = misspell(str(values[j]), float(how[j]), float(where[j]))
        cols[column] = pa.array(values, pa.string())
    postcode = cols["postcode"]
    assert isinstance(postcode, pa.Array)
    cols["postcode"] = pick(rng.random(n) < 0.9, postcode)
    cols |= {
        "identifiers.email": pa.array(typed, pa.string()),
        "identifiers.loyalty_id": join("L", digits(950_000_000 + person.astype(np.int64), 9)),
        "source": pa.array(np.where(rng.random(n) < 0.5, "kiosk", "web")),
        "consents": consent_codes(world.pop.consent[person]),
    }
    return Block("signup", person, ts, cols)


def card_registrations(world: World, person: np.ndarray, ts: np.ndarray) -> Block:
    """A second card registered to the loyalty account at the till."""
    cols: dict[str, Column] = {
        "identifiers.loyalty_id": sources._take(world.ids.loyalty_id, person),
        "identifiers.pos_card": sources._take(world.ids.pos_card2, person),
        "source": "pos",
    }
    return Block("profile_update", person, ts, cols)


def app_activity(world: World, rng: Rng, day: int, person: np.ndarray) -> list[Block]:
    """App opens with product views and carts (some abandoned) for ``person`` (one per open)."""
    n = len(person)
    if n == 0:
        return []
    seed = world.config.seed
    ts = times(world, rng, person, day, "evening")
    idents = sources.app(world, person)
    version = pa.array(np.array(["4.2.0", "4.3.1", "4.4.0"])[rng.choice(3, n, p=[0.1, 0.3, 0.6])])
    blocks = [Block("app_open", person, ts, idents | {"source": "app", "app_version": version})]
    views = rng.poisson(1.3, n)
    vp = np.repeat(np.arange(n), views)
    view_rng = draws.repeat(rng, views)  # rng itself unless paired
    sku = draw_skus(world, view_rng, person[vp])
    blocks.append(
        _item_block(
            world,
            "product_view",
            person[vp],
            ts[vp] + 20 + view_rng.integers(0, 240, len(vp)),
            sku,
            "app",
            {k: _t(v, vp) for k, v in idents.items()},
        )
    )
    carts = np.flatnonzero(rng.random(n) < 0.22)
    if len(carts):
        cart_rng = draws.take(rng, carts)
        sku = draw_skus(world, cart_rng, person[carts])
        cart_id = serial(f"C{seed}-{day}-", len(carts))
        cidents = {k: _t(v, carts) for k, v in idents.items()}
        add = _item_block(world, "cart_add", person[carts], ts[carts] + 300, sku, "app", cidents)
        add.cols |= {
            "cart_id": cart_id,
            "quantity": "1",
            "unit_price": money(world.catalogue.price_cents[sku]),
        }
        blocks.append(add)
        ab = np.flatnonzero(cart_rng.random(len(carts)) < 0.45)
        if len(ab):
            skus = join('["', pa.array(world.catalogue.skus).take(pa.array(sku[ab])), '"]')
            cols: dict[str, Column] = {k: _t(v, ab) for k, v in cidents.items()}
            cols |= {
                "source": "app",
                "cart_id": cart_id.take(pa.array(ab)),
                "value": money(world.catalogue.price_cents[sku[ab]]),
                "skus": skus,
            }
            blocks.append(
                Block(
                    "cart_abandoned",
                    person[carts][ab],
                    ts[carts][ab] + 3600 + draws.take(cart_rng, ab).integers(0, 7200, len(ab)),
                    cols,
                )
            )
    return blocks


def web_views(world: World, rng: Rng, day: int, person: np.ndarray) -> list[Block]:
    if len(person) == 0:
        return []
    ts = times(world, rng, person, day, "evening")
    sku = draw_skus(world, rng, person)
    return [
        _item_block(world, "product_view", person, ts, sku, "web", sources.web(world, rng, person))
    ]


def _t(value: Column, rows: np.ndarray) -> Column:
    return (
        value.take(pa.array(rows, pa.int64()))
        if isinstance(value, pa.Array | pa.ChunkedArray)
        else value
    )


def _item_block(
    world: World,
    kind: str,
    person: np.ndarray,
    ts: np.ndarray,
    sku: np.ndarray,
    source: str,
    idents: dict[str, Column],
) -> Block:
    cat = world.catalogue
    cols: dict[str, Column] = dict(idents)
    cols |= {
        "source": source,
        "sku": pa.array(cat.skus).take(pa.array(sku)),
        "category": pa.array(CATEGORIES).take(pa.array(cat.categories[sku].astype(np.int64))),
    }
    return Block(kind, person, ts, cols)


@dataclass(slots=True)
class Sent:
    """Who was messaged, who saw it, who clicked, who unsubscribed (person arrays)."""

    blocks: list[Block]
    delivered: np.ndarray
    opened: np.ndarray
    clicked: np.ndarray
    unsubscribed: np.ndarray


def messages(
    world: World,
    rng: Rng,
    *,
    day: int,
    person: np.ndarray,
    channel: int,
    campaign_id: str,
    action_id: str | None = None,
    unsub_prob: np.ndarray | None = None,
    open_mult: np.ndarray | None = None,
) -> Sent:
    """One message to each ``person`` on ``channel`` (0 email, 1 sms, 2 push) and reactions."""
    n = len(person)
    name = CHANNEL_NAMES[channel]
    hour = np.full(n, 10 if channel == 0 else 12, dtype=np.int64)
    ts = (
        world.config.epoch0
        + day * 86_400
        + hour * 3600
        - world.pop.utc_offset_h[person].astype(np.int64) * 3600
    )
    idents = [sources.email, sources.sms, sources.push][channel](world, person)
    message_id = serial(f"M{world.config.seed}-{day}-{campaign_id}-", n)
    base: dict[str, Column] = idents | {"source": name, "channel": name, "campaign_id": campaign_id}
    if action_id is not None:
        base["action_id"] = action_id
    base["message_id"] = message_id
    p_open = world.pop.responsiveness[person, channel] * (1.0 if open_mult is None else open_mult)
    opened = rng.random(n) < p_open
    clicked = opened & (rng.random(n) < world.pop.click_rate[person])
    p_unsub = world.pop.unsub_on_contact[person] * 0.2 if unsub_prob is None else unsub_prob
    unsub = opened & (rng.random(n) < p_unsub)
    delays = rng.exponential(4 * 3600, n).astype(np.int64) + 60
    blocks = [Block("message_delivered", person, ts + rng.integers(5, 120, n), base)]
    for kind, mask, extra in (
        ("message_opened", opened, 0),
        ("message_clicked", clicked, 40),
        ("message_unsubscribed", unsub, 90),
    ):
        rows = np.flatnonzero(mask)
        cols = {k: _t(v, rows) for k, v in base.items()}
        if kind == "message_clicked":
            cols["url"] = f"https://example.com/c/{campaign_id}"
        blocks.append(Block(kind, person[rows], ts[rows] + delays[rows] + extra, cols))
    return Sent(blocks, person, person[opened], person[clicked], person[unsub])


def tickets(
    world: World, rng: np.random.Generator, day: int, person: np.ndarray
) -> tuple[list[Block], np.ndarray]:
    """Tickets opened (call centre, web, app), closed later or left open; feedback after.

    Returns the blocks and the persons who had a bad experience.
    """
    n = len(person)
    if n == 0:
        return [], person
    seed = world.config.seed
    ts = times(world, rng, person, day, "weekday")
    route = rng.choice(3, n, p=[0.55, 0.25, 0.2])
    route[(route == 2) & ~world.pop.app_user[person]] = 0
    r0, r1, r2 = (np.flatnonzero(route == k) for k in range(3))
    idents = sources.merge(
        n,
        [
            (r0, sources.call_centre(world, rng, person[r0])),
            (r1, sources.web(world, rng, person[r1])),
            (r2, sources.app(world, person[r2])),
        ],
    )
    source = pa.array(np.array(["call_centre", "web", "app"])[route])
    ticket_id = serial(f"T{seed}-{day}-", n)
    topic = pa.array(TICKET_TOPICS).take(pa.array(rng.integers(0, len(TICKET_TOPICS), n)))
    priority = pa.array(
        np.array(["low", "normal", "high", "urgent"])[rng.choice(4, n, p=[0.25, 0.55, 0.15, 0.05])]
    )
    base = idents | {"source": source, "ticket_id": ticket_id}
    blocks = [
        Block("service_ticket_opened", person, ts, base | {"topic": topic, "priority": priority})
    ]
    delay = rng.lognormal(np.log(20 * 3600), 1.1, n).astype(np.int64)
    never = rng.random(n) < 0.1
    closed = np.flatnonzero(~never)
    resolution = pa.array(
        np.array(["resolved", "refunded", "points_credited", "no_fault_found"])[
            rng.integers(0, 4, len(closed))
        ]
    )
    cols = {k: _t(v, closed) for k, v in base.items()} | {"resolution": resolution}
    blocks.append(Block("service_ticket_closed", person[closed], ts[closed] + delay[closed], cols))
    bad = never | (delay > 72 * 3600) | (rng.random(n) < 0.15)
    says = rng.random(n) < np.where(bad, 0.5, 0.15)
    rows = np.flatnonzero(says)
    if len(rows):
        texts = np.where(
            bad[rows],
            rng.integers(0, len(NEGATIVE_FEEDBACK), len(rows)),
            len(NEGATIVE_FEEDBACK) + rng.integers(0, len(NEUTRAL_FEEDBACK), len(rows)),
        )
        text = pa.array(NEGATIVE_FEEDBACK + NEUTRAL_FEEDBACK).take(pa.array(texts))
        rating = np.where(bad[rows], rng.integers(1, 3, len(rows)), rng.integers(3, 5, len(rows)))
        when = (
            ts[rows]
            + np.minimum(np.where(never[rows], 3 * 86_400, delay[rows]), 30 * 86_400)
            + 3600
        )
        fcols = {k: _t(v, rows) for k, v in idents.items()} | {
            "source": _t(source, rows),
            "text": text,
            "rating": pa.array(rating.astype(str)),
        }
        blocks.append(Block("feedback", person[rows], when, fcols))
    return blocks, person[bad]
