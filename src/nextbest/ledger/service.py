"""Ledger use cases, each one transaction: redeem, adjust, reverse, expire, read.

A write takes an idempotency key: the same key with the same request returns the entry the
first call made and writes nothing; the same key with a different request is a conflict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError

from nextbest.errors import Conflict, InvalidRequest, NotFound
from nextbest.ledger import repository as repo
from nextbest.ledger.book import Book
from nextbest.ledger.check import check_ledger
from nextbest.ledger.journal import Entry, Message
from nextbest.ledger.program import Program
from nextbest.ledger.rewards import redeem_reward
from nextbest.ledger.tiers import progress
from nextbest.store import audit
from nextbest.store import tables as t
from nextbest.store.engine import write_transaction

REVERSIBLE = ("earn", "burn", "adjust", "clawback")


def _no_nul(field: str, value: str) -> None:
    # PostgreSQL text cannot hold NUL: refused here, not as a driver error mid-transaction.
    if "\x00" in value:
        raise InvalidRequest(f"{field}: contains a NUL character (\\x00)")


# Callers' idempotency keys live in a namespace of their own: a till cannot pre-empt the
# keys the ledger derives itself (``earn:<event id>``, ``expire:…``, ``merge:…``).
CLIENT = "request:"


def request_hash(**fields: Any) -> str:
    return hashlib.sha256(
        orjson.dumps(fields, option=orjson.OPT_SORT_KEYS, default=str)
    ).hexdigest()


class NoProgram(NotFound):
    """No loyalty program was applied yet (``nextbest program apply FILE``)."""


class Ledger:
    """The points ledger over one database."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))

    # --- helpers -----------------------------------------------------------------------
    def _program(self, conn: Connection) -> Program:
        program = repo.active_program(conn)
        if program is None:
            raise NoProgram("no loyalty program is active; apply one with `nextbest program apply`")
        return program

    def _replay(self, conn: Connection, key: str, digest: str) -> dict[str, Any] | None:
        found = repo.existing_keys(conn, [key]).get(key)
        if found is None:
            return None
        entry_id, first_hash = found
        if first_hash != digest:
            raise Conflict(
                f"idempotency key {key.removeprefix(CLIENT)!r} was used for a different request"
            )
        entry = repo.load_entry(conn, entry_id)
        assert entry is not None
        return {**entry_view(entry, self._program(conn)), "replayed": True}

    # --- writes ------------------------------------------------------------------------
    def _write(
        self,
        idempotency_key: str,
        digest: str,
        act: Callable[[Connection, Program, str, datetime], tuple[Book, Entry]],
    ) -> dict[str, Any]:
        """One write use case: replay a known key, else ``act`` and commit what it booked.

        Two first calls with one key at once: the loser's insert fails on the unique key,
        and it answers with the winner's entry.
        """
        _no_nul("idempotency key", idempotency_key)
        now = self.clock()
        key = CLIENT + idempotency_key

        def work() -> dict[str, Any]:
            with write_transaction(self.engine) as conn:
                if (done := self._replay(conn, key, digest)) is not None:
                    return done
                program = self._program(conn)
                book, entry = act(conn, program, key, now)
                repo.save_book(conn, book, now=now)
                return {**entry_view(entry, book.program), "replayed": False}

        try:
            return work()
        except IntegrityError:
            with self.engine.connect() as conn:
                done = self._replay(conn, key, digest)
            if done is None:
                raise
            return done

    @staticmethod
    def _member_book(conn: Connection, program: Program, member_id: str, now: datetime) -> Book:
        """The member's account, locked, with lots due by now expired first."""
        book = repo.load_book(conn, program, [member_id], now=now)
        book.expire_due(member_id, now)
        return book

    def redeem(
        self,
        *,
        member_id: str,
        reward_id: str,
        idempotency_key: str,
        quantity: int = 1,
        actor: str = "api",
    ) -> dict[str, Any]:
        """Burn the points of a reward; its postings, balance, stock and outbox commit together."""
        digest = request_hash(op="redeem", member=member_id, reward=reward_id, quantity=quantity)

        def act(conn: Connection, program: Program, key: str, now: datetime) -> tuple[Book, Entry]:
            book = self._member_book(conn, program, member_id, now)
            reward = program.reward(reward_id)
            # Only rewards with a stock lock a row: others must not queue redemptions.
            stocked = reward is not None and reward.stock is not None
            taken = repo.reward_taken(conn, [reward_id]) if stocked else {}
            entry = redeem_reward(
                book,
                member_id=member_id,
                reward_id=reward_id,
                quantity=quantity,
                key=key,
                at=now,
                taken=taken,
                actor=actor,
                request=digest,
            )
            return book, entry

        return self._write(idempotency_key, digest, act)

    def adjust(
        self, *, member_id: str, points: int, reason: str, idempotency_key: str, actor: str
    ) -> dict[str, Any]:
        """A manual credit or debit: needs a reason, lands in the audit log."""
        if not reason.strip():
            raise InvalidRequest("an adjustment needs a reason")
        _no_nul("reason", reason)
        if points == 0:
            raise InvalidRequest("an adjustment of 0 points changes nothing")
        digest = request_hash(op="adjust", member=member_id, points=points, reason=reason)

        def act(conn: Connection, program: Program, key: str, now: datetime) -> tuple[Book, Entry]:
            book = self._member_book(conn, program, member_id, now)
            if points > 0:
                entry = book.earn(
                    member_id=member_id,
                    key=key,
                    at=now,
                    points=points,
                    qualifying=0,
                    reference=None,
                    kind="adjust",
                    request_hash=digest,
                    detail={"reason": reason},
                    actor=actor,
                    reason=reason,
                )
            else:
                entry = book.debit(
                    member_id=member_id,
                    key=key,
                    at=now,
                    points=-points,
                    kind="adjust",
                    side="adjustments",
                    reference=None,
                    allow_negative=program.returns.allow_negative,
                    request_hash=digest,
                    detail={"reason": reason},
                    actor=actor,
                    reason=reason,
                )
            audit.record(
                conn,
                actor=actor,
                action="ledger_adjust",
                subject=member_id,
                detail={"points": points, "reason": reason, "entry_id": entry.entry_id},
                at=now,
            )
            return book, entry

        return self._write(idempotency_key, digest, act)

    def reverse(
        self, *, entry_id: str, reason: str, idempotency_key: str, actor: str
    ) -> dict[str, Any]:
        """Undo an earn, burn, adjustment or clawback with a mirror entry (never a delete)."""
        if not reason.strip():
            raise InvalidRequest("a reversal needs a reason")
        _no_nul("reason", reason)
        _no_nul("entry_id", entry_id)
        digest = request_hash(op="reverse", entry=entry_id, reason=reason)

        def act(conn: Connection, program: Program, key: str, now: datetime) -> tuple[Book, Entry]:
            original = repo.load_entry(conn, entry_id)
            if original is None:
                raise NotFound(f"ledger entry {entry_id!r} does not exist")
            if original.kind not in REVERSIBLE:
                known = ", ".join(REVERSIBLE)
                raise Conflict(f"a {original.kind} entry cannot be reversed; reversible: {known}")
            if (by := repo.is_reversed(conn, entry_id)) is not None:
                raise Conflict(f"entry {entry_id} was already reversed by {by}")
            members = {p.member_id for p in original.postings if p.member_id}
            lots = {p.lot_id for p in original.postings if p.lot_id}
            book = repo.load_book(conn, program, members | {original.member_id}, now=now, lots=lots)
            entry = book.restore(
                original=original,
                key=key,
                at=now,
                actor=actor,
                reason=reason,
                request_hash=digest,
            )
            audit.record(
                conn,
                actor=actor,
                action="ledger_reverse",
                subject=original.member_id,
                detail={"reversed": entry_id, "reason": reason, "entry_id": entry.entry_id},
                at=now,
            )
            return book, entry

        return self._write(idempotency_key, digest, act)

    def run_due(self, *, as_of: datetime | None = None, batch: int = 2000) -> dict[str, int]:
        """Expire due lots, re-evaluate tiers, announce points expiring soon (daily job)."""
        as_of = as_of or self.clock()
        with self.engine.connect() as conn:
            program = self._program(conn)
            notify = timedelta(days=program.expiry.notify_days)
            due = {
                m
                for (m,) in conn.execute(
                    select(t.ledger_lots.c.member_id)
                    .where(t.ledger_lots.c.remaining > 0)
                    .where(t.ledger_lots.c.expires_at <= as_of + notify)
                    .distinct()
                )
            }
            due |= {
                m
                for (m,) in conn.execute(
                    select(t.ledger_tiers.c.member_id).where(t.ledger_tiers.c.grace_until <= as_of)
                )
            }
            if program.expiry.kind == "inactivity":
                due |= {
                    m
                    for (m,) in conn.execute(
                        select(t.ledger_accounts.c.member_id).where(t.ledger_accounts.c.balance > 0)
                    )
                }
        counts = {"members": 0, "expired_entries": 0, "expired_points": 0, "notices": 0}
        ordered = sorted(due)
        for start in range(0, len(ordered), batch):
            part = ordered[start : start + batch]
            with write_transaction(self.engine) as conn:
                program = self._program(conn)
                book = repo.load_book(conn, program, part, now=as_of)
                sent = _sent_notices(conn, part)
                for member in part:
                    for entry in book.expire_due(member, as_of):
                        counts["expired_entries"] += 1
                        counts["expired_points"] -= entry.points(book.spendable)
                    book.retier(book.account(member), as_of)
                    for lot in book.expiring(member, as_of, program.expiry.notify_days):
                        if lot.lot_id in sent:
                            continue
                        counts["notices"] += 1
                        book.messages.append(
                            Message(
                                "points_expiring",
                                member,
                                as_of,
                                {
                                    "member_id": member,
                                    "lot_id": lot.lot_id,
                                    "points": lot.remaining,
                                    "expires_at": lot.expires_at,
                                },
                            )
                        )
                repo.save_book(conn, book, now=as_of)
                counts["members"] += len(part)
        return counts

    # --- reads -------------------------------------------------------------------------
    def account(self, member_id: str) -> dict[str, Any]:
        """Balance, what is about to expire, and tier status with progress to the next tier."""
        now = self.clock()
        with self.engine.connect() as conn:
            program = self._program(conn)
            book = repo.load_book(conn, program, [member_id], now=now, lock=False)
            acc = book.account(member_id)
            overdue = {
                currency: sum(
                    lot.remaining
                    for lot in acc.lots
                    if lot.currency == currency and lot.expires_at and lot.expires_at <= now
                )
                for currency in (book.spendable, book.qualifying)
            }
            soon = book.expiring(member_id, now, program.expiry.notify_days)
            qualifying = acc.balance(book.qualifying) - overdue[book.qualifying]
            return {
                "member_id": member_id,
                "program": {"name": program.name, "version": program.version},
                "currency": book.spendable,
                # Lots past their date until the daily run expires them are not spendable.
                "balance": acc.balance(book.spendable) - overdue[book.spendable],
                "pending_expiry": overdue[book.spendable],
                "expiring_soon": [
                    {"lot_id": lot.lot_id, "points": lot.remaining, "expires_at": lot.expires_at}
                    for lot in soon
                ],
                "qualifying": {"currency": book.qualifying, "balance": qualifying},
                "tier": {
                    **progress(program, tier=acc.tier.tier, qualifying=qualifying),
                    "since": acc.tier.since,
                    "grace_until": acc.tier.grace_until,
                },
            }

    def history(self, member_id: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """Newest entries first, each with its postings and the rules that made it."""
        with self.engine.connect() as conn:
            program = self._program(conn)
            ids = [
                entry_id
                for (entry_id,) in conn.execute(
                    select(t.ledger_entries.c.entry_id)
                    .where(t.ledger_entries.c.member_id == member_id)
                    .order_by(
                        t.ledger_entries.c.occurred_at.desc(), t.ledger_entries.c.entry_id.desc()
                    )
                    .limit(limit)
                )
            ]
            out = []
            for entry_id in ids:
                entry = repo.load_entry(conn, entry_id)
                assert entry is not None
                out.append(entry_view(entry, program))
            return out

    def check(self) -> list[str]:
        """Problems found by re-deriving every projection from the postings (empty: none)."""
        with self.engine.connect() as conn:
            return check_ledger(conn)


def entry_view(entry: Entry, program: Program) -> dict[str, Any]:
    return {
        "entry_id": entry.entry_id,
        "idempotency_key": entry.idempotency_key.removeprefix(CLIENT),
        "kind": entry.kind,
        "member_id": entry.member_id,
        "occurred_at": entry.at,
        "points": entry.points(program.points.spendable),
        "qualifying": entry.points(program.points.qualifying),
        "program_version": entry.program_version,
        "reference": entry.reference,
        "reverses": entry.reverses,
        "actor": entry.actor,
        "reason": entry.reason,
        "detail": entry.detail,
        "postings": [
            {"account": p.account, "currency": p.currency, "amount": p.amount, "lot_id": p.lot_id}
            for p in entry.postings
        ],
    }


def _sent_notices(conn: Connection, members: list[str]) -> set[str]:
    """Lots whose expiring-soon notice is already in the outbox."""
    rows = conn.execute(
        select(t.outbox.c.payload)
        .where(t.outbox.c.topic == "points_expiring")
        .where(t.outbox.c.member_id.in_(members))
    )
    return {orjson.loads(payload)["lot_id"] for (payload,) in rows}
