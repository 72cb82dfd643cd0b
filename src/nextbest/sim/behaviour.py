"""The day-by-day behaviour engine shared by the batch history and the closed loop.

Each ``step(day)`` advances every person at once (numpy, vectorised over persons) and
returns that day's events as flat Arrow rows in time order. A batch run is the closed loop
with no treatments.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nextbest.sim import activity
from nextbest.sim.blocks import SCHEMA, Block, sort_by_time, to_table
from nextbest.sim.draws import DayDraws, Rng, occurrence
from nextbest.sim.population import SLEEPING_DOG
from nextbest.sim.purchases import line_table, purchases
from nextbest.sim.redemptions import redemptions
from nextbest.sim.returns import returns
from nextbest.sim.sources import ACCOUNTS, World
from nextbest.sim.timing import WEEKDAY_FACTOR, season, times, weekday
from nextbest.sim.wallets import Wallets

EFFECT_DAYS = 14
DUPLICATE_SHARE = 0.06  # members who register a second account during the period
ACTIONS = ("discount", "points", "message")
_LATEST_OFFSET_S = 8 * 3600  # the westernmost store is UTC-8
_EARLIEST_OFFSET_S = 5 * 3600  # the easternmost is UTC-5
# Steps of a day whose draws are apart in paired mode (``SimConfig.paired_draws``).
SIGNUPS, CARDS, BUYING, ORDERS, RETURNS, POINTS, APP_OPENS, APP, WEB, WEB_VIEWS = range(1, 11)
TICKETS, UPDATES, NEWSLETTER = 11, 12, 13  # NEWSLETTER + channel


def strength(action: str, value: float) -> float:
    """How strongly an action moves a persuadable person (1.0 = a 20% discount).

    >>> strength("discount", 20), strength("points", 3), strength("message", 0)
    (1.0, 1.0, 0.25)
    """
    if action == "discount":
        return value / 20.0
    if action == "points":
        return (value - 1.0) / 2.0
    if action == "message":
        return 0.25
    raise ValueError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")


class Engine:
    """Mutable state of every person plus the day generator."""

    def __init__(self, world: World) -> None:
        self.world = world
        pop, n = world.pop, world.pop.n
        self.alive = np.ones(n, dtype=bool)
        self.dropout_day = np.full(n, -1, dtype=np.int32)
        self.consent = pop.consent.copy()
        self.lam = pop.lam.copy()
        self.effect = np.zeros(n)
        self.effect_until = np.full(n, -1, dtype=np.int32)
        self.offer_pct = np.zeros(n)
        self.offer_until = np.full(n, -1, dtype=np.int32)
        self.offer_code = np.zeros(n, dtype=np.int64)
        self.offer_names: list[str] = ["BDAY"]
        self.pending = SCHEMA.empty_table()
        self.lines_json = line_table(world.catalogue)
        self.wallets = Wallets(n * len(ACCOUNTS))  # row: account * n + person
        rng = np.random.default_rng([world.config.seed, 3])
        has2 = np.asarray(world.ids.pos_card2.is_valid()) & (pop.signup_kind > 0)
        self.card_reg_day = np.where(
            has2 & (rng.random(n) < 0.5), pop.joined_day + rng.integers(1, 150, n), -(10**6)
        )
        # Some members register a second time, forgetting the first account.
        self.dup_day = np.where(
            (pop.signup_kind > 0) & (rng.random(n) < DUPLICATE_SHARE),
            np.maximum(pop.joined_day, 0) + rng.integers(7, 300, n),
            -(10**6),
        )
        bday = pop.birthday.astype("datetime64[D]")
        months = bday.astype("datetime64[M]")
        self.bday_md = (
            (months.astype(np.int64) % 12 + 1) * 100 + (bday - months).astype(np.int64) + 1
        )

    # -- treatments ---------------------------------------------------------------------
    def treat(
        self,
        day: int,
        person: np.ndarray,
        *,
        action: str,
        channel: int,
        value: float,
        action_id: str,
    ) -> list[Block]:
        """Message ``person`` with an incentive; those who see it respond by incentive type."""
        world, pop = self.world, self.world.pop
        rng = np.random.default_rng([world.config.seed, 2, day, len(self.offer_names)])
        reachable = self.consent[person, channel] & (pop.joined_day[person] <= day)
        if channel == 1:
            reachable &= pop.has_phone[person]
        person = person[reachable]
        sent = activity.messages(
            world,
            rng,
            day=day,
            person=person,
            channel=channel,
            campaign_id=action_id,
            action_id=action_id,
            unsub_prob=pop.unsub_on_contact[person],
        )
        seen = sent.opened
        s = strength(action, value)
        self.effect[seen] = np.maximum(pop.uplift[seen] * s, -0.9)
        self.effect_until[seen] = day + EFFECT_DAYS
        if action == "discount":
            self.offer_names.append(action_id)
            self.offer_pct[seen] = value
            self.offer_until[seen] = day + EFFECT_DAYS
            self.offer_code[seen] = len(self.offer_names) - 1
        self.consent[sent.unsubscribed, channel] = False
        dogs = seen[pop.incentive_type[seen] == SLEEPING_DOG]
        quit_now = dogs[rng.random(len(dogs)) < 0.1]
        self._drop(quit_now, day)
        return sent.blocks

    def _drop(self, person: np.ndarray, day: int) -> None:
        person = person[self.alive[person]]
        self.alive[person] = False
        self.dropout_day[person] = day

    # -- the day --------------------------------------------------------------------------
    def prelude(self) -> pa.Table:
        """Signups of the members who joined before the period (dated in the past)."""
        pop = self.world.pop
        rng = np.random.default_rng([self.world.config.seed, 4])
        person = np.flatnonzero((pop.joined_day < 0) & (pop.signup_kind > 0))
        ts = times(self.world, rng, person, pop.joined_day[person], "evening")
        block = activity.signups(self.world, rng, person, ts)
        return sort_by_time(to_table([block], seed=self.world.config.seed, tag="pre"))

    def _blocks(self, day: int, src: DayDraws) -> list[Block]:
        # Paired mode (``SimConfig.paired_draws``) changes only which random numbers feed
        # each step, never the response model (rates, effects, probabilities, who responds
        # how): common random numbers for paired policy comparisons. By default every
        # source is the day's one generator, consumed in the order it always was.
        world, pop, config = self.world, self.world.pop, self.world.config
        n = pop.n
        joined = pop.joined_day <= day
        blocks: list[Block] = []
        new = np.flatnonzero((pop.joined_day == day) & (pop.signup_kind > 0))
        if len(new):
            rng = src.stream(SIGNUPS)
            ts = times(world, rng, new, day, "evening")
            blocks.append(activity.signups(world, rng, new, ts))
        reg = np.flatnonzero(self.card_reg_day == day)
        if len(reg):
            ts = times(world, src.stream(CARDS), reg, day)
            blocks.append(activity.card_registrations(world, reg, ts))

        dup = np.flatnonzero(self.dup_day == day)
        if len(dup):
            dup_rng = np.random.default_rng([config.seed, 5, day])
            ts = times(world, dup_rng, dup, day)
            blocks.append(activity.duplicate_signups(world, dup_rng, dup, ts))

        # Purchases (BG/NBD: Poisson while alive, drop out after a purchase with prob p).
        active = np.flatnonzero(joined & self.alive)
        mult = season(world, day) * WEEKDAY_FACTOR[weekday(world, day)]
        treated = self.effect_until[active] >= day
        rate = self.lam[active] * mult * np.where(treated, 1.0 + self.effect[active], 1.0)
        k = src.counts(BUYING, n, active, rate, 4)
        buyers = active[k > 0]
        kb = k[k > 0]
        drop = src.uniform(BUYING, n, buyers) < 1.0 - (1.0 - pop.p_dropout[buyers]) ** kb
        self._drop(buyers[drop], day)
        person = np.repeat(buyers, kb)
        nth = occurrence(kb) if src.paired else None
        today = config.start + timedelta(days=day)
        code = np.where(self.offer_until[person] >= day, self.offer_code[person], 0)
        pct = np.where(self.offer_until[person] >= day, self.offer_pct[person], 0.0)
        bday = self.bday_md[person] == today.month * 100 + today.day
        pct = np.where(bday & (pct == 0), 15.0, pct)
        offer_id = pa.array(self.offer_names).take(pa.array(code))
        orders = purchases(
            world,
            src.keyed(ORDERS, person, nth),
            day=day,
            person=person,
            offer_pct=pct,
            offer_id=offer_id,
            lines_json=self.lines_json,
            card_registered=(self.card_reg_day[person] >= 0) & (self.card_reg_day[person] < day),
        )
        blocks += orders.blocks
        # Returns (dated later) and points, on their own stream: the rest stays as it was.
        self.wallets.start_day(day)
        points_rng: Rng = np.random.default_rng([config.seed, 7, day])
        returns_rng = src.keyed(RETURNS, person, nth) if src.paired else points_rng
        if src.paired:
            points_rng = src.keyed(POINTS, person, nth)
        blocks += returns(world, returns_rng, day=day, orders=orders, wallets=self.wallets)
        blocks += redemptions(world, points_rng, orders=orders, wallets=self.wallets)

        # App and web use; lapsed app users still open the app now and then.
        apps = np.flatnonzero(joined & pop.app_user)
        app_rate = pop.app_rate[apps] * np.where(self.alive[apps], 1.0, 0.1)
        opens = src.counts(APP_OPENS, n, apps, app_rate, 3)
        app_person = np.repeat(apps, opens)
        app_rng = src.keyed(APP, app_person, occurrence(opens) if src.paired else None)
        blocks += activity.app_activity(world, app_rng, day, app_person)
        webs = np.flatnonzero(joined & pop.web_user & self.alive)
        browsing = webs[src.uniform(WEB, n, webs) < 0.03]
        blocks += activity.web_views(world, src.keyed(WEB_VIEWS, browsing), day, browsing)

        # Service: tickets; a bad experience lowers the purchase rate.
        rng = src.stream(TICKETS)
        ticketed = np.flatnonzero(joined & (rng.random(n) < pop.ticket_rate))
        ticket_blocks, bad = activity.tickets(world, rng, day, ticketed)
        blocks += ticket_blocks
        self.lam[bad] *= 0.85

        members = joined & (pop.signup_kind > 0)
        rng = src.stream(UPDATES)
        upd = np.flatnonzero(members & (rng.random(n) < pop.update_rate))
        if len(upd):
            self.consent[upd, 0] &= rng.random(len(upd)) > 0.15
            self.consent[upd, 1] &= rng.random(len(upd)) > 0.1
            blocks.append(activity.profile_updates(world, rng, upd, day, self.consent))

        # Baseline newsletter (email, fortnightly on Tuesdays) and a monthly SMS.
        if weekday(world, day) == 1 and (day // 7) % max(config.newsletter_every_days // 7, 1) == 0:
            blocks += self._baseline(src, day, members, 0, f"NL{today:%Y%m%d}")
        if today.day == 3:
            blocks += self._baseline(src, day, members & pop.has_phone, 1, f"SMS{today:%Y%m}")
        return blocks

    def _baseline(
        self, src: DayDraws, day: int, members: np.ndarray, channel: int, campaign: str
    ) -> list[Block]:
        to = np.flatnonzero(members & self.consent[:, channel])
        open_mult = np.where(self.alive[to], 1.0, 0.4)
        sent = activity.messages(
            self.world, src.keyed(NEWSLETTER + channel, to), day=day, person=to,
            channel=channel, campaign_id=campaign, open_mult=open_mult,
        )  # fmt: skip
        self.consent[sent.unsubscribed, channel] = False
        return sent.blocks

    def step(self, day: int, extra: list[Block] | None = None) -> pa.Table:
        """Advance one day; the events that happened by then (flat rows, time order)."""
        config = self.world.config
        rng = np.random.default_rng([config.seed, 1, day])
        src = DayDraws(config.seed, day, rng, paired=config.paired_draws)
        blocks = list(extra or []) + self._blocks(day, src)
        table = pa.concat_tables([self.pending, to_table(blocks, seed=config.seed, tag=f"d{day}")])
        cutoff = config.epoch0 + (day + 1) * 86_400 + _EARLIEST_OFFSET_S
        due = pc.less(table["_ts"], cutoff)
        self.pending = table.filter(pc.invert(due)).combine_chunks()  # few rows, many chunks
        return sort_by_time(table.filter(due))

    def finish(self) -> pa.Table:
        """Events still pending that fall inside the period; later ones never happen."""
        config = self.world.config
        end = config.epoch0 + config.days * 86_400 + _LATEST_OFFSET_S
        out = sort_by_time(self.pending.filter(pc.less(self.pending["_ts"], end)))
        self.pending = SCHEMA.empty_table()
        return out
