"""Latent traits of every simulated person, drawn once, as arrays over persons.

The purchase process is BG/NBD-like: a person buys at rate ``lam`` (per day, Gamma
distributed) until they drop out, which happens after each purchase with probability
``p_dropout`` (Beta distributed). The response to incentives is drawn from its own latent
factors, only weakly correlated with ``lam``, so that it cannot be read off RFM. How a
person burns points (a redemption propensity, zero for the 30% who never redeem, and the
reward they work towards) is drawn apart, see ``rewards``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nextbest.sim.catalogue import CATEGORIES, CATEGORY_PRIOR, REGIONS, STORES_PER_REGION
from nextbest.sim.config import SimConfig
from nextbest.sim.rewards import GOAL_WEIGHTS, NEVER_REDEEM_SHARE, PROPENSITY_BETA

INCENTIVE_TYPES: tuple[str, ...] = ("persuadable", "sure_thing", "lost_cause", "sleeping_dog")
PERSUADABLE, SURE_THING, LOST_CAUSE, SLEEPING_DOG = range(4)

SIGNUP_KINDS: tuple[str, ...] = ("none", "app", "in_store", "web")
CHANNELS: tuple[str, ...] = ("email", "sms", "push")
# Purchase channels: index into (source, Purchase.channel)
PURCHASE_CHANNELS: tuple[tuple[str, str], ...] = (
    ("pos", "store"),
    ("app", "app"),
    ("web", "web"),
    ("kiosk", "kiosk"),
)

# BG/NBD priors (daily rate): lambda ~ Gamma(r, 1/alpha), p ~ Beta(a, b)
GAMMA_R, GAMMA_ALPHA = 1.3, 18.0
BETA_A, BETA_B = 1.1, 22.0


@dataclass(slots=True)
class Population:
    """Per-person latent traits; index ``i`` is person ``P{i:07d}``."""

    n: int
    joined_day: np.ndarray  # int32, days from start (negative: before start)
    lam: np.ndarray  # purchases per day while alive
    p_dropout: np.ndarray
    pref: np.ndarray  # (n, categories) Dirichlet
    price_sensitivity: np.ndarray
    basket_mean: np.ndarray  # mean number of lines
    region: np.ndarray  # int8
    home_store: np.ndarray  # int16
    utc_offset_h: np.ndarray  # int8
    responsiveness: np.ndarray  # (n, 3): open probability per channel email, sms, push
    click_rate: np.ndarray
    app_user: np.ndarray  # bool
    web_user: np.ndarray  # bool
    app_rate: np.ndarray  # app opens per day
    channel_cum: np.ndarray  # (n, 4) cumulative purchase channel mix
    card_show: np.ndarray  # P(card shown | POS purchase)
    signup_kind: np.ndarray  # int8 index into SIGNUP_KINDS
    has_phone: np.ndarray  # bool
    consent: np.ndarray  # (n, 3) bool marketing consent email, sms, push at signup
    incentive_type: np.ndarray  # int8 index into INCENTIVE_TYPES
    uplift: np.ndarray  # relative change of lam when treated (strength 1, message seen)
    unsub_on_contact: np.ndarray  # P(unsubscribe | treatment message seen)
    ticket_rate: np.ndarray  # service tickets per day
    update_rate: np.ndarray  # profile updates per day
    birthday: np.ndarray  # datetime64[D]
    milk: np.ndarray  # int8 preference index
    first_name: np.ndarray  # int16 index
    last_name: np.ndarray  # int16 index
    postcode: np.ndarray  # int32 (5 digits, region prefixed)
    redeem_propensity: np.ndarray  # P(redeem at a purchase the balance allows); 0: never
    reward_goal: np.ndarray  # int8 index into rewards.REWARDS: the reward worked towards

    @property
    def person_ids(self) -> list[str]:
        return [f"P{i:07d}" for i in range(self.n)]


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    out: np.ndarray = (x - x.mean()) / (sd if sd > 0 else 1.0)
    return out


def draw_population(config: SimConfig, rng: np.random.Generator) -> Population:
    """Draw every person's latent traits (vectorised; deterministic given ``rng``)."""
    from nextbest.sim.catalogue import FIRST_NAMES, LAST_NAMES, MILK_OPTIONS

    n, days = config.members, config.days
    initial = rng.random(n) < config.initial_share
    joined = np.where(
        initial, -rng.integers(1, 3 * 365, n), rng.integers(0, max(days, 1), n)
    ).astype(np.int32)

    lam = rng.gamma(GAMMA_R, 1.0 / GAMMA_ALPHA, n)
    p_drop = rng.beta(BETA_A, BETA_B, n)
    pref = rng.dirichlet(CATEGORY_PRIOR * 3.0, n)
    price_sens = rng.beta(2.0, 3.0, n)
    basket = 1.0 + rng.gamma(1.5, 0.35, n)

    region = rng.integers(0, len(REGIONS), n).astype(np.int8)
    home_store = (
        region.astype(np.int16) * STORES_PER_REGION + rng.integers(0, STORES_PER_REGION, n)
    ).astype(np.int16)
    offsets = np.array([r[1] for r in REGIONS], dtype=np.int8)[region]

    app_user = rng.random(n) < 0.42
    web_user = rng.random(n) < np.where(app_user, 0.15, 0.3)
    app_rate = np.where(app_user, rng.gamma(1.2, 0.15, n), 0.0)
    mix = np.column_stack(
        [
            np.full(n, 1.0),
            np.where(app_user, rng.gamma(2.0, 0.35, n), 0.0),
            np.where(web_user, rng.gamma(1.0, 0.12, n), 0.0),
            rng.gamma(1.0, 0.08, n),
        ]
    )
    channel_cum = np.cumsum(mix / mix.sum(axis=1, keepdims=True), axis=1)
    channel_cum[:, -1] = 1.0
    card_show = rng.beta(4.0, 1.5, n)

    u = rng.random(n)
    signup = np.where(
        app_user,
        np.where(u < 0.88, 1, np.where(u < 0.95, 2, 0)),
        np.where(web_user & (u < 0.55), 3, np.where(u < 0.7, 2, 0)),
    ).astype(np.int8)
    has_phone = rng.random(n) < 0.78
    responsiveness = np.column_stack(
        [rng.beta(2.0, 6.0, n), rng.beta(2.5, 5.0, n), rng.beta(1.5, 6.0, n)]
    )
    click_rate = rng.beta(2.0, 8.0, n)
    consent = np.column_stack(
        [rng.random(n) < 0.72, (rng.random(n) < 0.35) & has_phone, app_user & (rng.random(n) < 0.6)]
    )

    # Incentive response: own latent factors, weakly tied to the purchase rate.
    z_lam = _standardise(np.log(lam + 1e-9))
    z_resp = 0.2 * z_lam + np.sqrt(1 - 0.04) * rng.standard_normal(n)
    z_aversion = -0.1 * z_lam + rng.standard_normal(n)
    z_habit = 0.3 * z_lam + np.sqrt(1 - 0.09) * rng.standard_normal(n)
    itype = np.full(n, LOST_CAUSE, dtype=np.int8)
    itype[z_habit > 0.1] = SURE_THING
    itype[z_resp > 0.65] = PERSUADABLE
    itype[z_aversion > 1.2] = SLEEPING_DOG
    uplift = np.zeros(n)
    pers = itype == PERSUADABLE
    uplift[pers] = rng.uniform(0.4, 1.6, int(pers.sum()))
    dogs = itype == SLEEPING_DOG
    uplift[dogs] = -rng.uniform(0.3, 0.8, int(dogs.sum()))
    unsub = np.where(dogs, rng.uniform(0.15, 0.4, n), rng.uniform(0.0, 0.03, n))

    ticket_rate = rng.gamma(0.8, 0.6 / 365 / 0.8, n)
    update_rate = rng.gamma(1.0, 0.25 / 365, n)
    ages_days = rng.integers(18 * 365, 75 * 365, n)
    birthday = np.datetime64(config.start, "D") - ages_days.astype("timedelta64[D]")
    prefixes = np.array([int(r[2]) for r in REGIONS], dtype=np.int32)[region]
    postcode = prefixes * 1000 + rng.integers(1, 1000, n).astype(np.int32)
    propensity, goal = _redemption_traits(config)
    return Population(
        n=n,
        joined_day=joined,
        lam=lam,
        p_dropout=p_drop,
        pref=pref,
        price_sensitivity=price_sens,
        basket_mean=basket,
        region=region,
        home_store=home_store,
        utc_offset_h=offsets,
        responsiveness=responsiveness,
        click_rate=click_rate,
        app_user=app_user,
        web_user=web_user,
        app_rate=app_rate,
        channel_cum=channel_cum,
        card_show=card_show,
        signup_kind=signup,
        has_phone=has_phone,
        consent=consent,
        incentive_type=itype,
        uplift=uplift,
        unsub_on_contact=unsub,
        ticket_rate=ticket_rate,
        update_rate=update_rate,
        birthday=birthday,
        milk=rng.integers(0, len(MILK_OPTIONS), n).astype(np.int8),
        first_name=rng.integers(0, len(FIRST_NAMES), n).astype(np.int16),
        last_name=rng.integers(0, len(LAST_NAMES), n).astype(np.int16),
        postcode=postcode,
        redeem_propensity=propensity,
        reward_goal=goal,
    )


def _redemption_traits(config: SimConfig) -> tuple[np.ndarray, np.ndarray]:
    """Redemption propensity and goal reward, from their own stream (other traits unmoved)."""
    rng = np.random.default_rng([config.seed, 6])
    n = config.members
    never = rng.random(n) < NEVER_REDEEM_SHARE
    propensity = np.where(never, 0.0, rng.beta(*PROPENSITY_BETA, n))
    goal = rng.choice(len(GOAL_WEIGHTS), n, p=GOAL_WEIGHTS).astype(np.int8)
    return propensity, goal


__all__ = ["CATEGORIES", "INCENTIVE_TYPES", "Population", "draw_population"]
