"""Estimated points balances of accounts, as the simulator tracks them to decide redemptions.

One row per account (the engine keeps two a person, see ``sources.accounts``). Points are
held in lots of ``BUCKET_DAYS`` days (a ring of ``EXPIRY_DAYS / BUCKET_DAYS`` columns, so
memory stays 18 int32 an account). A lot expires as soon as its *first* day is
``EXPIRY_DAYS`` old, a few days before the ledger would expire its newest points;
redemptions draw the oldest lots first, as the ledger's FIFO burns do; a return takes its
points from the lot its purchase went into, and what that lot no longer holds becomes a
debt paid from the next points earned. Each of these choices errs low, so the estimate
stays at or below the ledger's balance and a redemption the simulator thinks affordable is
one the ledger accepts.

>>> w = Wallets(2)
>>> w.start_day(0)
>>> w.earn(np.array([0, 1]), np.array([100, 30]))
>>> w.spend(np.array([0]), np.array([80]))
>>> w.balance(np.array([0, 1])).tolist()
[20, 30]
>>> for day in range(1, EXPIRY_DAYS + 1):
...     w.start_day(day)
>>> w.balance(np.array([0, 1])).tolist()
[0, 0]
"""

from __future__ import annotations

import numpy as np

from nextbest.sim.rewards import EXPIRY_DAYS

BUCKET_DAYS = 10
SLOTS = EXPIRY_DAYS // BUCKET_DAYS
assert SLOTS * BUCKET_DAYS == EXPIRY_DAYS, "BUCKET_DAYS must divide EXPIRY_DAYS"


class Wallets:
    """Estimated spendable points per account row; days advance one at a time (``start_day``)."""

    def __init__(self, n: int) -> None:
        self.lots = np.zeros((n, SLOTS), dtype=np.int32)
        self.debt = np.zeros(n, dtype=np.int32)
        self.day = -1
        self._due: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}

    @property
    def bucket(self) -> int:
        return self.day // BUCKET_DAYS

    def start_day(self, day: int) -> None:
        """Expire lots that reach ``EXPIRY_DAYS``, then apply the returns dated ``day``."""
        if day != self.day + 1:
            raise ValueError(f"expected day {self.day + 1}, got {day}")
        self.day = day
        if day % BUCKET_DAYS == 0 and day >= EXPIRY_DAYS:
            self.lots[:, self.bucket % SLOTS] = 0  # the lot of bucket - SLOTS expires
        for row, bucket, points in self._due.pop(day, []):
            self._clawback(row, bucket, points)

    def balance(self, row: np.ndarray) -> np.ndarray:
        """Points each account can spend now (negative while a debt exceeds the lots)."""
        out: np.ndarray = self.lots[row].sum(axis=1, dtype=np.int64) - self.debt[row]
        return out

    def earn(self, row: np.ndarray, points: np.ndarray) -> None:
        """Credit today's lot; a debt is paid first. ``row`` may repeat."""
        who, inverse = np.unique(row, return_inverse=True)
        owed = np.bincount(inverse, weights=points, minlength=len(who)).astype(np.int64)
        paid = np.minimum(self.debt[who], owed)
        self.debt[who] -= paid.astype(np.int32)
        self.lots[who, self.bucket % SLOTS] += (owed - paid).astype(np.int32)

    def spend(self, row: np.ndarray, points: np.ndarray) -> None:
        """Draw ``points`` from each (distinct) account's oldest lots first; balances cover them."""
        order = (self.bucket + 1 + np.arange(SLOTS)) % SLOTS  # oldest live lot first
        held = self.lots[row][:, order].astype(np.int64)
        older = np.cumsum(held, axis=1) - held
        take = np.clip(np.asarray(points, dtype=np.int64)[:, None] - older, 0, held)
        self.lots[row[:, None], order[None, :]] = (held - take).astype(np.int32)

    def schedule_clawback(
        self, *, day: int | np.ndarray, row: np.ndarray, earned_day: int, points: np.ndarray
    ) -> None:
        """Take ``points`` back on ``day`` (a return) from the lot of ``earned_day``."""
        days = np.broadcast_to(np.asarray(day), row.shape)
        keep = points > 0
        bucket = np.full(len(row), earned_day // BUCKET_DAYS, dtype=np.int64)
        for d in np.unique(days[keep]):
            at = np.flatnonzero(keep & (days == d))
            self._due.setdefault(int(d), []).append((row[at], bucket[at], points[at]))

    def _clawback(self, row: np.ndarray, bucket: np.ndarray, points: np.ndarray) -> None:
        live = bucket > self.bucket - SLOTS  # always, for returns within EXPIRY_DAYS
        np.add.at(self.debt, row[~live], points[~live].astype(np.int32))
        key, inverse = np.unique(row[live] * SLOTS + bucket[live] % SLOTS, return_inverse=True)
        total = np.bincount(inverse, weights=points[live], minlength=len(key)).astype(np.int64)
        who, slot = key // SLOTS, key % SLOTS
        taken = np.minimum(self.lots[who, slot], total)
        self.lots[who, slot] -= taken.astype(np.int32)
        np.add.at(self.debt, who, (total - taken).astype(np.int32))
