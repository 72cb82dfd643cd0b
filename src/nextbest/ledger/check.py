"""Re-deriving the ledger's projections from its postings: ``nextbest ledger check``."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, func, select

from nextbest.store import tables as t

_P = t.ledger_postings


def _member_sums(conn: Connection, *where: ColumnElement[bool]) -> dict[tuple[str, str], int]:
    """Sum of member-side postings per (member, currency), under extra conditions."""
    query = (
        select(_P.c.member_id, _P.c.currency, func.sum(_P.c.amount))
        .where(_P.c.member_id.is_not(None), *where)
        .group_by(_P.c.member_id, _P.c.currency)
    )
    return {(m, c): int(s) for m, c, s in conn.execute(query)}


def check_ledger(conn: Connection) -> list[str]:
    """Every entry balances; each projection equals its postings; lots add up to balances."""
    problems: list[str] = []
    for entry_id, currency, total in conn.execute(
        select(
            t.ledger_postings.c.entry_id,
            t.ledger_postings.c.currency,
            func.sum(t.ledger_postings.c.amount),
        )
        .group_by(t.ledger_postings.c.entry_id, t.ledger_postings.c.currency)
        .having(func.sum(t.ledger_postings.c.amount) != 0)
    ):
        problems.append(f"entry {entry_id} does not balance in {currency}: {total:+d}")
    posted = _member_sums(conn)
    projected = {
        (m, c): b
        for m, c, b in conn.execute(
            select(
                t.ledger_accounts.c.member_id,
                t.ledger_accounts.c.currency,
                t.ledger_accounts.c.balance,
            )
        )
    }
    for key in sorted(set(posted) | set(projected)):
        if posted.get(key, 0) != projected.get(key, 0):
            problems.append(
                f"account {key[0]} {key[1]}: balance {projected.get(key, 0)} but postings sum "
                f"to {posted.get(key, 0)}"
            )
    lots = {
        (m, c): int(s)
        for m, c, s in conn.execute(
            select(
                t.ledger_lots.c.member_id,
                t.ledger_lots.c.currency,
                func.sum(t.ledger_lots.c.remaining),
            ).group_by(t.ledger_lots.c.member_id, t.ledger_lots.c.currency)
        )
    }
    unlotted = _member_sums(conn, _P.c.lot_id.is_(None))
    for key in sorted(set(posted) | set(lots)):
        if lots.get(key, 0) + unlotted.get(key, 0) != posted.get(key, 0):
            problems.append(
                f"account {key[0]} {key[1]}: lots hold {lots.get(key, 0)} and unlotted postings "
                f"{unlotted.get(key, 0)}, but the balance is {posted.get(key, 0)}"
            )
    negative = conn.execute(select(func.count()).where(t.ledger_lots.c.remaining < 0)).scalar()
    if negative:
        problems.append(f"{negative} lots hold a negative remainder")
    return problems
