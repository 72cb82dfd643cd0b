"""Points follow members: a merge moves the merged member's lots to the survivor, an unmerge
gives each lot back to whoever's purchase earned it. Both run in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection

from nextbest.ledger import repository as repo
from nextbest.ledger.journal import Lot, entry_id_for


def follow_merge(
    conn: Connection, *, merged: str, survivor: str, at: datetime, reason: str, actor: str
) -> int:
    """Move every open lot (and any debt) of ``merged`` to ``survivor``; returns points moved."""
    program = repo.active_program(conn)
    if program is None:
        return 0
    book = repo.load_book(conn, program, [merged, survivor], now=at)
    entry = book.transfer(
        source=merged,
        target=survivor,
        key=f"merge:{merged}:{survivor}:{at.isoformat()}",
        at=at,
        reason=reason,
        actor=actor,
    )
    repo.save_book(conn, book, now=at)
    return entry.points(program.points.spendable) if entry is not None else 0


def follow_unmerge(
    conn: Connection,
    *,
    group: set[str],
    event_owner: Mapping[str, str],
    member_owner: Mapping[str, str],
    at: datetime,
    reason: str,
    actor: str,
    merge_id: int,
) -> dict[str, int]:
    """Give lots back after an unmerge; returns spendable points moved per new owner.

    A lot earned by a purchase goes to the member that purchase now belongs to; any other
    lot (adjustments) to the member its first owner now belongs to. Redemptions made while
    merged stay where they were: nobody can say whose points a burn meant to spend.
    """
    program = repo.active_program(conn)
    if program is None:
        return {}
    book = repo.load_book(conn, program, group, now=at)
    by_entry = {entry_id_for(f"earn:{event_id}"): owner for event_id, owner in event_owner.items()}
    moves: dict[tuple[str, str], list[Lot]] = {}
    for member in sorted(group):
        for lot in book.account(member).lots:
            if lot.remaining <= 0:
                continue
            owner = by_entry.get(lot.entry_id) or member_owner.get(lot.origin_member_id, member)
            if owner != member:
                moves.setdefault((member, owner), []).append(lot)
    moved: dict[str, int] = {}
    for (holder, owner), lots in sorted(moves.items()):
        entry = book.transfer(
            source=holder,
            target=owner,
            lots=lots,
            key=f"unmerge:{merge_id}:{holder}:{owner}",
            at=at,
            reason=reason,
            actor=actor,
        )
        if entry is not None:
            moved[owner] = moved.get(owner, 0) + entry.points(program.points.spendable)
    repo.save_book(conn, book, now=at)
    return moved
