"""The double-entry book of one unit of work: accounts in memory, entries out.

Every movement is an ``Entry`` of postings that sum to zero per currency: a member account
on one side, a program account (issued, redeemed, expired, clawed back, adjusted) on the
other, or two member accounts for a transfer. Member-side postings name the points lot they
touch, so a lot's history (FIFO burns, expiry, clawbacks) is read off the postings.

Pure: the repository loads the accounts a unit of work touches into a ``Book``, the
operations below change them and record entries, and the repository writes the result.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from nextbest.errors import Conflict, InsufficientPoints
from nextbest.ledger.journal import (
    Account,
    Entry,
    Lot,
    Message,
    Posting,
    entry_id_for,
    member_account,
    program_account,
)
from nextbest.ledger.program import Program, add_months
from nextbest.ledger.tiers import TierChange, evaluate_tier


class Book:
    """The accounts one unit of work touches, and what it did to them."""

    def __init__(self, program: Program, accounts: dict[str, Account]) -> None:
        self.program = program
        self.accounts = accounts
        self.entries: list[Entry] = []
        self.messages: list[Message] = []
        self.changed_lots: dict[str, Lot] = {}
        self.new_lots: dict[str, Lot] = {}
        self.promotion_spent: dict[str, int] = {}  # this unit of work's use of each budget
        self.stock_used: dict[str, int] = {}
        self.keys: set[str] = set()

    @property
    def spendable(self) -> str:
        return self.program.points.spendable

    @property
    def qualifying(self) -> str:
        return self.program.points.qualifying

    def account(self, member_id: str) -> Account:
        acc = self.accounts.get(member_id)
        if acc is None:
            acc = self.accounts[member_id] = Account(member_id)
        return acc

    # --- building blocks ---------------------------------------------------------------
    def _post(
        self,
        *,
        key: str,
        kind: str,
        member_id: str,
        at: datetime,
        postings: tuple[Posting, ...],
        **fields: Any,
    ) -> Entry:
        """Record an entry named by its key, under the program's current version."""
        entry = Entry(
            entry_id=entry_id_for(key),
            idempotency_key=key,
            kind=kind,
            member_id=member_id,
            at=at,
            postings=postings,
            program_version=self.program.version,
            **fields,
        )
        return self._record(entry)

    def _record(self, entry: Entry) -> Entry:
        if entry.idempotency_key in self.keys:
            raise Conflict(f"idempotency key {entry.idempotency_key!r} used twice in one request")
        self.keys.add(entry.idempotency_key)
        for p in entry.postings:
            if p.member_id is not None:
                acc = self.account(p.member_id)
                acc.balances[p.currency] = acc.balance(p.currency) + p.amount
        self.entries.append(entry)
        return entry

    def _credit_lot(
        self,
        acc: Account,
        *,
        currency: str,
        entry_id: str,
        at: datetime,
        points: int,
        expires_at: datetime | None,
        origin: str | None = None,
    ) -> Lot:
        lot = Lot(
            lot_id=f"{entry_id}:{currency}",
            member_id=acc.member_id,
            origin_member_id=origin or acc.member_id,
            currency=currency,
            entry_id=entry_id,
            earned_at=at,
            expires_at=expires_at,
            points=points,
            remaining=points,
        )
        last = acc.lots[-1] if acc.lots else None
        acc.lots.append(lot)
        if last is not None and (last.earned_at, last.lot_id) > (at, lot.lot_id):
            acc.lots.sort(key=lambda x: (x.earned_at, x.lot_id))  # a late event: keep FIFO order
        self.new_lots[lot.lot_id] = lot
        return lot

    def _draw(
        self,
        acc: Account,
        *,
        currency: str,
        points: int,
        at: datetime,
        first: str | None = None,
    ) -> list[tuple[Lot, int]]:
        """Take ``points`` from open lots, ``first`` lot first, then oldest first (FIFO)."""
        lots = acc.open_lots(currency, at)
        if first is not None:
            lots.sort(key=lambda lot: lot.lot_id != first)
        taken: list[tuple[Lot, int]] = []
        left = points
        for lot in lots:
            if left <= 0:
                break
            take = min(lot.remaining, left)
            lot.remaining -= take
            left -= take
            taken.append((lot, take))
            if lot.lot_id not in self.new_lots:
                self.changed_lots[lot.lot_id] = lot
        return taken

    def _debit_postings(
        self,
        acc: Account,
        *,
        currency: str,
        taken: list[tuple[Lot, int]],
        side: str,
        debt: int = 0,
    ) -> list[Posting]:
        mine = member_account(acc.member_id, currency)
        out = [Posting(mine, acc.member_id, currency, -take, lot.lot_id) for lot, take in taken]
        if debt:
            out.append(Posting(mine, acc.member_id, currency, -debt, None))
        total = sum(take for _, take in taken) + debt
        out.append(Posting(program_account(currency, side), None, currency, total))
        return out

    # --- operations --------------------------------------------------------------------
    def earn(
        self,
        *,
        member_id: str,
        key: str,
        at: datetime,
        points: int,
        qualifying: int,
        reference: str | None,
        detail: dict[str, Any],
        day: str | None = None,
        kind: str = "earn",
        actor: str = "system",
        reason: str = "",
        request_hash: str = "",
    ) -> Entry:
        """Credit spendable and qualifying points as new lots."""
        acc = self.account(member_id)
        entry_id = entry_id_for(key)
        postings: list[Posting] = []
        side = "issued" if kind == "earn" else "adjustments"
        for currency, amount, expires in (
            (self.spendable, points, self.program.lot_expiry(at)),
            (self.qualifying, qualifying, self.program.qualifying_expiry(at)),
        ):
            if amount <= 0:
                continue
            lot = self._credit_lot(
                acc, currency=currency, entry_id=entry_id, at=at, points=amount, expires_at=expires
            )
            postings.append(
                Posting(
                    member_account(member_id, currency), member_id, currency, amount, lot.lot_id
                )
            )
            postings.append(Posting(program_account(currency, side), None, currency, -amount))
        acc.last_activity = _later(acc.last_activity, at)
        entry = self._post(
            key=key,
            kind=kind,
            member_id=member_id,
            at=at,
            postings=tuple(postings),
            reference=reference,
            actor=actor,
            reason=reason,
            day=day,
            detail=detail,
            request_hash=request_hash,
        )
        self.retier(acc, at)
        return entry

    def debit(
        self,
        *,
        member_id: str,
        key: str,
        at: datetime,
        points: int,
        kind: str,
        side: str,
        reference: str | None,
        detail: dict[str, Any],
        allow_negative: bool = False,
        actor: str = "system",
        reason: str = "",
        first_lot: str | None = None,
        qualifying: int = 0,
        cap_at_balance: bool = False,
        request_hash: str = "",
    ) -> Entry:
        """Take spendable points FIFO (burn, negative adjust, clawback)."""
        acc = self.account(member_id)
        currency = self.spendable
        available = acc.balance(currency)
        if points > available and not allow_negative:
            if not cap_at_balance:
                raise InsufficientPoints(
                    member_id=member_id, needed=points, available=available, currency=currency
                )
            points = max(0, available)
        taken = self._draw(acc, currency=currency, points=points, at=at, first=first_lot)
        debt = points - sum(take for _, take in taken)
        postings = self._debit_postings(acc, currency=currency, taken=taken, side=side, debt=debt)
        if qualifying > 0:
            q_first = (
                first_lot.replace(f":{currency}", f":{self.qualifying}") if first_lot else None
            )
            q_taken = self._draw(
                acc,
                currency=self.qualifying,
                points=min(qualifying, acc.balance(self.qualifying)),
                at=at,
                first=q_first,
            )
            if q_taken:
                postings += self._debit_postings(
                    acc, currency=self.qualifying, taken=q_taken, side=side
                )
        if kind == "burn":
            acc.last_activity = _later(acc.last_activity, at)
        entry = self._post(
            key=key,
            kind=kind,
            member_id=member_id,
            at=at,
            postings=tuple(postings),
            reference=reference,
            actor=actor,
            reason=reason,
            detail=detail,
            request_hash=request_hash,
        )
        if qualifying > 0:
            self.retier(acc, at)
        return entry

    def refuse(
        self,
        *,
        member_id: str,
        key: str,
        at: datetime,
        reference: str | None,
        detail: dict[str, Any],
    ) -> Entry:
        """A redemption that could not be honoured, kept in the history with its reason."""
        self.account(member_id)
        entry = self._post(
            key=key,
            kind="refused",
            member_id=member_id,
            at=at,
            postings=(),
            reference=reference,
            detail=detail,
        )
        self.messages.append(Message("redemption_refused", member_id, at, detail))
        return entry

    def expire_due(self, member_id: str, at: datetime) -> list[Entry]:
        """Expire every lot due by ``at``: per-lot dates, inactivity, qualifying window."""
        acc = self.account(member_id)
        expiry = self.program.expiry
        due: dict[tuple[str, datetime], list[Lot]] = {}
        if expiry.kind == "inactivity" and acc.last_activity is not None:
            deadline = add_months(acc.last_activity, expiry.months)
            if deadline <= at:
                for lot in acc.open_lots(self.spendable):
                    due.setdefault((self.spendable, deadline), []).append(lot)
        for lot in acc.lots:
            if lot.remaining > 0 and lot.expires_at is not None and lot.expires_at <= at:
                due.setdefault((lot.currency, lot.expires_at), []).append(lot)
        out = []
        for (currency, when), lots in sorted(due.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            taken = []
            for lot in lots:
                taken.append((lot, lot.remaining))
                lot.remaining = 0
                if lot.lot_id not in self.new_lots:
                    self.changed_lots[lot.lot_id] = lot
            names = ",".join(sorted(lot.lot_id for lot in lots))
            digest = hashlib.sha256(names.encode()).hexdigest()[:12]
            key = f"expire:{member_id}:{currency}:{when.isoformat()}:{digest}"
            side = "expired" if currency == self.spendable else "aged"
            out.append(
                self._post(
                    key=key,
                    kind="expire",
                    member_id=member_id,
                    at=when,
                    postings=tuple(
                        self._debit_postings(acc, currency=currency, taken=taken, side=side)
                    ),
                    detail={"lots": [lot.lot_id for lot in lots], "currency": currency},
                )
            )
        if any(currency == self.qualifying for currency, _ in due):
            self.retier(acc, at)
        return out

    def expiring(self, member_id: str, at: datetime, days: int) -> list[Lot]:
        """Spendable lots that expire within ``days`` after ``at``."""
        horizon = at + timedelta(days=days)
        return [
            lot
            for lot in self.account(member_id).open_lots(self.spendable, at)
            if lot.expires_at is not None and lot.expires_at <= horizon
        ]

    def restore(
        self,
        *,
        original: Entry,
        key: str,
        at: datetime,
        actor: str,
        reason: str,
        request_hash: str = "",
    ) -> Entry:
        """Reverse an entry: debits go back into the lots they came from, credits are taken."""
        postings: list[Posting] = []
        lapsed: dict[tuple[str, str], int] = {}  # points whose lot expired meanwhile
        for p in original.postings:
            if p.member_id is None:
                continue
            acc = self.account(p.member_id)
            if p.amount < 0:  # points left a lot: put them back
                lot_id = p.lot_id
                if lot_id is not None:
                    lot = next((x for x in acc.lots if x.lot_id == lot_id), None)
                    if lot is None:
                        raise Conflict(f"lot {lot_id} of {original.entry_id} is gone")
                    if lot.expires_at is not None and lot.expires_at <= at:
                        # Its lot has expired since: the points come back as a new lot
                        # with a fresh expiry rather than reopening an expired one.
                        lapsed[(p.member_id, p.currency)] = (
                            lapsed.get((p.member_id, p.currency), 0) - p.amount
                        )
                        continue
                    else:
                        lot.remaining -= p.amount
                        if lot.lot_id not in self.new_lots:
                            self.changed_lots[lot.lot_id] = lot
                postings.append(Posting(p.account, p.member_id, p.currency, -p.amount, lot_id))
            elif p.amount > 0:  # points arrived: take them back from that lot first
                lot = next((x for x in acc.lots if x.lot_id == p.lot_id), None)
                have = lot.remaining if lot is not None else 0
                if p.amount > have and acc.balance(p.currency) < p.amount:
                    raise InsufficientPoints(
                        member_id=p.member_id,
                        needed=p.amount,
                        available=acc.balance(p.currency),
                        currency=p.currency,
                    )
                taken = self._draw(acc, currency=p.currency, points=p.amount, at=at, first=p.lot_id)
                for lot_taken, take in taken:
                    postings.append(
                        Posting(p.account, p.member_id, p.currency, -take, lot_taken.lot_id)
                    )
                short = p.amount - sum(take for _, take in taken)
                if short:
                    postings.append(Posting(p.account, p.member_id, p.currency, -short, None))
        for (member, currency), points in sorted(lapsed.items()):
            lot = self._credit_lot(
                self.account(member),
                currency=currency,
                entry_id=entry_id_for(key),
                at=at,
                points=points,
                expires_at=self._expiry_of(currency, at),
            )
            postings.append(
                Posting(member_account(member, currency), member, currency, points, lot.lot_id)
            )
        for p in original.postings:
            if p.member_id is None:
                postings.append(Posting(p.account, None, p.currency, -p.amount, None))
        entry = self._post(
            key=key,
            kind="reverse",
            member_id=original.member_id,
            at=at,
            postings=tuple(postings),
            reference=original.entry_id,
            reverses=original.entry_id,
            actor=actor,
            reason=reason,
            detail={"reversed_kind": original.kind},
            request_hash=request_hash,
        )
        self.retier(self.account(original.member_id), at)
        return entry

    def transfer(
        self,
        *,
        source: str,
        target: str,
        key: str,
        at: datetime,
        lots: list[Lot] | None = None,
        reason: str,
        actor: str = "system",
    ) -> Entry | None:
        """Move lots (default: all open ones, and any debt) from one member to another."""
        src, dst = self.account(source), self.account(target)
        moving = [lot for lot in (lots if lots is not None else src.lots) if lot.remaining > 0]
        postings: list[Posting] = []
        for lot in moving:
            postings.append(
                Posting(
                    member_account(source, lot.currency),
                    source,
                    lot.currency,
                    -lot.remaining,
                    lot.lot_id,
                )
            )
            postings.append(
                Posting(
                    member_account(target, lot.currency),
                    target,
                    lot.currency,
                    lot.remaining,
                    lot.lot_id,
                )
            )
            src.lots.remove(lot)
            lot.member_id = target
            dst.lots.append(lot)
            if lot.lot_id not in self.new_lots:
                self.changed_lots[lot.lot_id] = lot
        if lots is None:
            for currency in list(src.balances):
                debt = src.balance(currency) - sum(
                    lot.remaining for lot in moving if lot.currency == currency
                )
                if debt:
                    postings.append(
                        Posting(member_account(source, currency), source, currency, -debt)
                    )
                    postings.append(
                        Posting(member_account(target, currency), target, currency, debt)
                    )
        if not postings:
            return None
        dst.lots.sort(key=lambda x: (x.earned_at, x.lot_id))
        dst.last_activity = _later(dst.last_activity, src.last_activity)
        entry = self._post(
            key=key,
            kind="transfer",
            member_id=target,
            at=at,
            postings=tuple(postings),
            reference=source,
            actor=actor,
            reason=reason,
            detail={"from": source, "to": target, "lots": [lot.lot_id for lot in moving]},
        )
        self.retier(src, at)
        self.retier(dst, at)
        return entry

    def _expiry_of(self, currency: str, at: datetime) -> datetime | None:
        if currency == self.qualifying:
            return self.program.qualifying_expiry(at)
        return self.program.lot_expiry(at)

    def retier(self, acc: Account, at: datetime) -> TierChange | None:
        status, change = evaluate_tier(
            self.program, status=acc.tier, qualifying=acc.balance(self.qualifying), at=at
        )
        if change is None:
            return None
        acc.tier = status
        acc.tier_changed = True
        if change.before != change.after:
            self.messages.append(
                Message(
                    "tier_changed",
                    acc.member_id,
                    at,
                    {
                        "member_id": acc.member_id,
                        "from": change.before,
                        "to": change.after,
                        "reason": change.reason,
                        "qualifying": change.qualifying,
                        "at": at.isoformat(),
                    },
                )
            )
        return change


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)
