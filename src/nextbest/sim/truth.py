"""Ground truth per person, for evaluating identity resolution, CLV and uplift models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from nextbest.sim.behaviour import Engine
from nextbest.sim.blocks import pick
from nextbest.sim.catalogue import CATEGORIES
from nextbest.sim.population import INCENTIVE_TYPES, SIGNUP_KINDS
from nextbest.sim.rewards import REWARD_IDS
from nextbest.sim.writer import person_ids


def persons_table(engine: Engine) -> pa.Table:
    """One row per person: latent traits, dropout, incentive type and true identifiers.

    ``points_loyalty_end`` and ``points_card_end`` are the simulator's (conservative)
    estimates of the spendable points on the person's two accounts at the end.
    """
    world = engine.world
    pop, ids, start = world.pop, world.ids, world.config.start
    base = np.datetime64(start, "D")
    joined = base + pop.joined_day.astype("timedelta64[D]")
    dropout = base + engine.dropout_day.astype("timedelta64[D]")
    cols: dict[str, pa.Array] = {
        "person_id": person_ids(pa.array(np.arange(pop.n))),
        "joined_at": pa.array(joined, pa.date32()),
        "lambda": pa.array(pop.lam),
        "lambda_end": pa.array(engine.lam),
        "p_dropout": pa.array(pop.p_dropout),
        "dropout_at": pa.array(dropout, pa.date32(), mask=engine.alive),
    }
    for c, name in enumerate(CATEGORIES):
        cols[f"pref_{name}"] = pa.array(pop.pref[:, c])
    cols |= {
        "price_sensitivity": pa.array(pop.price_sensitivity),
        "basket_mean": pa.array(pop.basket_mean),
        "resp_email": pa.array(pop.responsiveness[:, 0]),
        "resp_sms": pa.array(pop.responsiveness[:, 1]),
        "resp_push": pa.array(pop.responsiveness[:, 2]),
        "click_rate": pa.array(pop.click_rate),
        "app_user": pa.array(pop.app_user),
        "web_user": pa.array(pop.web_user),
        "signup_kind": pa.array(np.array(SIGNUP_KINDS)[pop.signup_kind]),
        "incentive_type": pa.array(np.array(INCENTIVE_TYPES)[pop.incentive_type]),
        "uplift": pa.array(pop.uplift),
        "unsub_on_contact": pa.array(pop.unsub_on_contact),
        "redeem_propensity": pa.array(pop.redeem_propensity),
        "reward_goal": pa.array(np.array(REWARD_IDS)[pop.reward_goal]),
        "points_loyalty_end": pa.array(engine.wallets.balance(np.arange(pop.n))),
        "points_card_end": pa.array(engine.wallets.balance(pop.n + np.arange(pop.n))),
        "consent_email_end": pa.array(engine.consent[:, 0]),
        "consent_sms_end": pa.array(engine.consent[:, 1]),
        "consent_push_end": pa.array(engine.consent[:, 2]),
        "email": ids.email,
        "email_typo": ids.email_typo,
        "phone": world.phone_e164,
        "device_id": ids.device_id,
        "loyalty_id": ids.loyalty_id,
        "pos_card": ids.pos_card,
        "pos_card2": ids.pos_card2,
    }
    shared = ids.shared_device_with >= 0
    owners = person_ids(pa.array(np.maximum(ids.shared_device_with, 0)))
    cols["shared_device_with"] = pick(shared, owners)
    return pa.table(cols)


def write_persons(engine: Engine, path: Path) -> None:
    pq.write_table(persons_table(engine), path, compression="zstd")
