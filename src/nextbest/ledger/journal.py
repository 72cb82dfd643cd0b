"""The ledger's records: lots, postings, entries, a member's account, outbox messages.

Plain data shared by the book (which makes them), the repository (which stores them) and
the readers. Entries are named by their idempotency key, so a retry finds the same entry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nextbest.ledger.tiers import TierStatus

KINDS = ("earn", "burn", "expire", "clawback", "adjust", "reverse", "transfer", "refused")


def program_account(currency: str, side: str) -> str:
    return f"program:{currency}:{side}"


def member_account(member_id: str, currency: str) -> str:
    return f"member:{member_id}:{currency}"


@dataclass(slots=True)
class Lot:
    lot_id: str
    member_id: str  # current owner
    origin_member_id: str  # whose earn created it: unmerge gives it back to them
    currency: str
    entry_id: str
    earned_at: datetime
    expires_at: datetime | None
    points: int
    remaining: int


@dataclass(frozen=True, slots=True)
class Posting:
    account: str
    member_id: str | None
    currency: str
    amount: int
    lot_id: str | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    entry_id: str
    idempotency_key: str
    kind: str
    member_id: str
    at: datetime
    postings: tuple[Posting, ...]
    program_version: str | None = None
    reference: str | None = None  # order id, reward id, reversed entry…
    reverses: str | None = None
    actor: str = "system"
    reason: str = ""
    day: str | None = None  # cap day of an earn
    detail: dict[str, Any] = field(default_factory=dict)
    request_hash: str = ""

    def points(self, currency: str) -> int:
        """Net change of the member's balance in ``currency``."""
        return sum(
            p.amount
            for p in self.postings
            if p.member_id == self.member_id and p.currency == currency
        )


@dataclass(slots=True)
class Account:
    """One member's ledger state: balances, open lots (oldest first), tier."""

    member_id: str
    balances: dict[str, int] = field(default_factory=dict)
    lots: list[Lot] = field(default_factory=list)
    tier: TierStatus = field(default_factory=lambda: TierStatus(None))
    last_activity: datetime | None = None
    tier_changed: bool = False

    def open_lots(self, currency: str, at: datetime | None = None) -> list[Lot]:
        return [
            lot
            for lot in self.lots
            if lot.currency == currency
            and lot.remaining > 0
            and (at is None or lot.expires_at is None or lot.expires_at > at)
        ]

    def balance(self, currency: str) -> int:
        return self.balances.get(currency, 0)


@dataclass(frozen=True, slots=True)
class Message:
    """An outbox message: committed with the change it announces, published later."""

    topic: str
    member_id: str
    at: datetime
    payload: dict[str, Any]


def entry_id_for(key: str) -> str:
    """Entries are named by their idempotency key, so a retry finds the same entry.

    >>> entry_id_for("earn:e1")
    'le_07faf1695ea7e4227822eeab'
    """
    return "le_" + hashlib.sha256(key.encode()).hexdigest()[:24]
