"""A points lot and what became of it: the input of breakage and liability estimates.

A lot is the points one earn entry credited; FIFO burns, expiry and clawbacks draw it down.
Transfers between accounts (merge, unmerge) move a lot without ending any of its points.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

OutflowKind = Literal["burn", "expire", "clawback"]


@dataclass(frozen=True, slots=True)
class Outflow:
    """Points that left a lot: redeemed (burn), expired, or clawed back by a return."""

    at: datetime
    points: int
    kind: OutflowKind


@dataclass(frozen=True, slots=True)
class LotFlow:
    """One lot with its whole history, as of the moment it was read.

    >>> from datetime import UTC
    >>> lot = LotFlow("l1", "m1", "gold", datetime(2026, 1, 5, tzinfo=UTC), None, 120,
    ...               (Outflow(datetime(2026, 2, 1, tzinfo=UTC), 100, "burn"),))
    >>> lot.remaining
    20
    """

    lot_id: str
    member_id: str
    tier: str | None  # the member's tier when read (None: no tiers, or below the first)
    earned_at: datetime
    expires_at: datetime | None  # None: no per-lot expiry date (inactivity or never)
    points: int
    outflows: tuple[Outflow, ...] = ()

    @property
    def remaining(self) -> int:
        return self.points - sum(o.points for o in self.outflows)

    def remaining_at(self, at: datetime) -> int:
        """Points still in the lot at ``at`` (outflows after ``at`` not yet happened)."""
        return self.points - sum(o.points for o in self.outflows if o.at <= at)
