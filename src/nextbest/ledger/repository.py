"""Loading a ``Book`` for the members a unit of work touches, and writing it back.

Locking: on PostgreSQL every member's account row is locked (``FOR UPDATE``, in member
order so two units of work never deadlock) before its balance and lots are read, so
concurrent redemptions on one account queue instead of both spending the same points.
SQLite has one writer at a time already (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, select

from nextbest.identity.repository import as_utc
from nextbest.ledger.book import Book
from nextbest.ledger.journal import Account, Entry, Lot, Posting
from nextbest.ledger.program import Program, parse_program
from nextbest.ledger.tiers import TierStatus
from nextbest.store import tables as t
from nextbest.store.bulk import execute_many, insert_rows, select_in, upsert_rows, utc_text

ENTRY_COLUMNS = (
    "entry_id",
    "idempotency_key",
    "kind",
    "member_id",
    "occurred_at",
    "recorded_at",
    "program_version",
    "reference",
    "reverses",
    "actor",
    "reason",
    "day",
    "points",
    "request_hash",
    "detail",
)
POSTING_COLUMNS = ("entry_id", "account", "member_id", "currency", "amount", "lot_id")
LOT_COLUMNS = (
    "lot_id",
    "member_id",
    "origin_member_id",
    "currency",
    "entry_id",
    "earned_at",
    "expires_at",
    "points",
    "remaining",
)


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_utc(value)


# --- the program ---------------------------------------------------------------------------
_PROGRAMS: dict[str, Program] = {}


def active_program(conn: Connection) -> Program | None:
    """The program applied last, or None when no program runs (the ledger is idle)."""
    row = conn.execute(
        select(t.ledger_programs.c.version, t.ledger_programs.c.source)
        .order_by(t.ledger_programs.c.applied_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    program = _PROGRAMS.get(row.version)
    if program is None:
        program = _PROGRAMS[row.version] = parse_program(row.source, source=row.version)
    return program


def save_program(
    conn: Connection, program: Program, *, source: str, actor: str, now: datetime
) -> bool:
    """Make ``program`` the active one; False when that version was already the active one."""
    current = active_program(conn)
    if current is not None and current.version == program.version:
        return False
    upsert_rows(
        conn,
        t.ledger_programs,
        ("version", "name", "source", "definition", "applied_at", "applied_by"),
        [
            (
                program.version,
                program.name,
                source,
                orjson.dumps(program.model_dump(mode="json")).decode(),
                now,
                actor,
            )
        ],
        key=("version",),
    )
    return True


# --- loading -------------------------------------------------------------------------------
def lock_accounts(
    conn: Connection, program: Program, member_ids: Collection[str], now: datetime
) -> None:
    """Create missing account rows and, on PostgreSQL, lock them in member order."""
    if not member_ids:
        return
    spendable = program.points.spendable
    insert_rows(
        conn,
        t.ledger_accounts,
        ("member_id", "currency", "balance", "last_activity_at", "updated_at"),
        [(m, spendable, 0, None, now) for m in sorted(member_ids)],
        on_conflict_do_nothing=("member_id", "currency"),
    )
    if conn.dialect.name == "postgresql":
        sql = (
            "SELECT member_id FROM ledger_accounts WHERE currency = '"
            + spendable.replace("'", "''")
            + "' AND member_id IN {in} ORDER BY member_id FOR UPDATE"
        )
        select_in(conn, sql, member_ids)


def load_book(
    conn: Connection,
    program: Program,
    member_ids: Collection[str],
    *,
    now: datetime,
    lots: Collection[str] = (),
    lock: bool = True,
) -> Book:
    """Lock and read the accounts of ``member_ids`` (and any ``lots`` named, open or not).

    ``lock=False`` reads without creating or locking rows, for read-only views.
    """
    members = set(member_ids)
    if lock:
        lock_accounts(conn, program, members, now)
    accounts = {m: Account(m) for m in members}
    if members:
        for member, currency, balance, last in select_in(
            conn,
            "SELECT member_id, currency, balance, last_activity_at FROM ledger_accounts "
            "WHERE member_id IN {in}",
            members,
        ):
            acc = accounts[member]
            acc.balances[currency] = balance
            if currency == program.points.spendable:
                acc.last_activity = _time(last)
        rows = select_in(
            conn,
            f"SELECT {', '.join(LOT_COLUMNS)} FROM ledger_lots "
            "WHERE remaining > 0 AND member_id IN {in}",
            members,
        )
        for member, tier, since, grace in select_in(
            conn,
            "SELECT member_id, tier, since, grace_until FROM ledger_tiers WHERE member_id IN {in}",
            members,
        ):
            accounts[member].tier = TierStatus(tier, _time(since), _time(grace))
    else:
        rows = []
    if lots:
        known = {r[0] for r in rows}
        rows += [
            r
            for r in select_in(
                conn,
                f"SELECT {', '.join(LOT_COLUMNS)} FROM ledger_lots WHERE lot_id IN {{in}}",
                lots,
            )
            if r[0] not in known and r[1] in accounts
        ]
    for row in rows:
        lot = _lot(row)
        accounts[lot.member_id].lots.append(lot)
    for acc in accounts.values():
        acc.lots.sort(key=lambda lot: (lot.earned_at, lot.lot_id))
    return Book(program, accounts)


def _lot(row: Any) -> Lot:
    lot_id, member, origin, currency, entry_id, earned, expires, points, remaining = row
    earned_at = _time(earned)
    assert earned_at is not None
    return Lot(
        lot_id, member, origin, currency, entry_id, earned_at, _time(expires), points, remaining
    )


def promotion_spent(conn: Connection, program: Program) -> dict[str, int]:
    """What each budgeted promotion has awarded so far (rows locked on PostgreSQL)."""
    budgeted = sorted(p.id for p in program.earn.promotions if p.budget is not None)
    if not budgeted:
        return {}
    insert_rows(
        conn,
        t.ledger_promotions,
        ("promotion_id", "spent"),
        [(p, 0) for p in budgeted],
        on_conflict_do_nothing=("promotion_id",),
    )
    lock = " ORDER BY promotion_id FOR UPDATE" if conn.dialect.name == "postgresql" else ""
    return dict(
        select_in(
            conn,
            "SELECT promotion_id, spent FROM ledger_promotions WHERE promotion_id IN {in}" + lock,
            budgeted,
        )
    )


def reward_taken(conn: Connection, reward_ids: Collection[str]) -> dict[str, int]:
    """How many of each reward were redeemed (rows locked on PostgreSQL)."""
    if not reward_ids:
        return {}
    insert_rows(
        conn,
        t.ledger_rewards,
        ("reward_id", "taken"),
        [(r, 0) for r in sorted(reward_ids)],
        on_conflict_do_nothing=("reward_id",),
    )
    lock = " ORDER BY reward_id FOR UPDATE" if conn.dialect.name == "postgresql" else ""
    return dict(
        select_in(
            conn,
            "SELECT reward_id, taken FROM ledger_rewards WHERE reward_id IN {in}" + lock,
            reward_ids,
        )
    )


def earned_on_days(
    conn: Connection, days: Collection[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Spendable points already earned per (member, cap day)."""
    if not days:
        return {}
    wanted = set(days)
    out: dict[tuple[str, str], int] = {}
    for member, day, points in select_in(
        conn,
        "SELECT member_id, day, SUM(points) FROM ledger_entries WHERE kind = 'earn' "
        "AND member_id IN {in} GROUP BY member_id, day",
        {m for m, _ in wanted},
    ):
        if (member, day) in wanted:
            out[(member, day)] = int(points)
    return out


def existing_keys(conn: Connection, keys: Collection[str]) -> dict[str, tuple[str, str]]:
    """Idempotency keys already used: key → (entry id, request hash)."""
    if not keys:
        return {}
    return {
        key: (entry_id, request_hash)
        for key, entry_id, request_hash in select_in(
            conn,
            "SELECT idempotency_key, entry_id, request_hash FROM ledger_entries "
            "WHERE idempotency_key IN {in}",
            keys,
        )
    }


def load_entry(conn: Connection, entry_id: str) -> Entry | None:
    row = conn.execute(
        select(t.ledger_entries).where(t.ledger_entries.c.entry_id == entry_id)
    ).first()
    if row is None:
        return None
    postings = tuple(
        Posting(p.account, p.member_id, p.currency, p.amount, p.lot_id)
        for p in conn.execute(
            select(t.ledger_postings)
            .where(t.ledger_postings.c.entry_id == entry_id)
            .order_by(t.ledger_postings.c.posting_id)
        )
    )
    at = _time(row.occurred_at)
    assert at is not None
    return Entry(
        entry_id=row.entry_id,
        idempotency_key=row.idempotency_key,
        kind=row.kind,
        member_id=row.member_id,
        at=at,
        postings=postings,
        program_version=row.program_version,
        reference=row.reference,
        reverses=row.reverses,
        actor=row.actor,
        reason=row.reason,
        day=row.day,
        detail=orjson.loads(row.detail),
        request_hash=row.request_hash,
    )


def is_reversed(conn: Connection, entry_id: str) -> str | None:
    return conn.execute(
        select(t.ledger_entries.c.entry_id).where(t.ledger_entries.c.reverses == entry_id)
    ).scalar()


# --- writing -------------------------------------------------------------------------------
def save_book(conn: Connection, book: Book, *, now: datetime) -> None:
    """Write what the unit of work did: entries, postings, lots, balances, tiers, outbox."""
    now_text = utc_text(now)
    spendable = book.spendable
    insert_rows(
        conn,
        t.ledger_entries,
        ENTRY_COLUMNS,
        [
            (
                e.entry_id,
                e.idempotency_key,
                e.kind,
                e.member_id,
                utc_text(e.at),
                now_text,
                e.program_version,
                e.reference,
                e.reverses,
                e.actor,
                e.reason,
                e.day,
                e.points(spendable),
                e.request_hash,
                orjson.dumps(e.detail, default=str).decode(),
            )
            for e in book.entries
        ],
    )
    insert_rows(
        conn,
        t.ledger_postings,
        POSTING_COLUMNS,
        [
            (e.entry_id, p.account, p.member_id, p.currency, p.amount, p.lot_id)
            for e in book.entries
            for p in e.postings
        ],
    )
    insert_rows(
        conn,
        t.ledger_lots,
        LOT_COLUMNS,
        [
            (
                lot.lot_id,
                lot.member_id,
                lot.origin_member_id,
                lot.currency,
                lot.entry_id,
                utc_text(lot.earned_at),
                utc_text(lot.expires_at) if lot.expires_at else None,
                lot.points,
                lot.remaining,
            )
            for lot in book.new_lots.values()
        ],
    )
    execute_many(
        conn,
        "UPDATE ledger_lots SET remaining = ?, member_id = ? WHERE lot_id = ?",
        [(lot.remaining, lot.member_id, lot.lot_id) for lot in book.changed_lots.values()],
    )
    touched = {p.member_id for e in book.entries for p in e.postings if p.member_id is not None}
    touched |= {e.member_id for e in book.entries}
    rows = []
    for member in sorted(touched):
        acc = book.accounts[member]
        currencies = set(acc.balances) | {spendable}
        for currency in sorted(currencies):
            last = acc.last_activity if currency == spendable else None
            rows.append(
                (
                    member,
                    currency,
                    acc.balance(currency),
                    utc_text(last) if last else None,
                    now_text,
                )
            )
    upsert_rows(
        conn,
        t.ledger_accounts,
        ("member_id", "currency", "balance", "last_activity_at", "updated_at"),
        rows,
        key=("member_id", "currency"),
    )
    upsert_rows(
        conn,
        t.ledger_tiers,
        ("member_id", "tier", "since", "grace_until", "updated_at"),
        [
            (
                acc.member_id,
                acc.tier.tier,
                utc_text(acc.tier.since) if acc.tier.since else None,
                utc_text(acc.tier.grace_until) if acc.tier.grace_until else None,
                now_text,
            )
            for acc in book.accounts.values()
            if acc.tier_changed
        ],
        key=("member_id",),
    )
    execute_many(
        conn,
        "UPDATE ledger_promotions SET spent = spent + ? WHERE promotion_id = ?",
        [(spent, pid) for pid, spent in book.promotion_spent.items() if spent],
    )
    execute_many(
        conn,
        "UPDATE ledger_rewards SET taken = taken + ? WHERE reward_id = ?",
        [(n, rid) for rid, n in book.stock_used.items() if n],
    )
    insert_rows(
        conn,
        t.outbox,
        ("topic", "member_id", "payload", "created_at"),
        [
            (m.topic, m.member_id, orjson.dumps(m.payload, default=str).decode(), now_text)
            for m in book.messages
        ],
    )
