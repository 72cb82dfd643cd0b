"""Ingested events into ledger entries: purchases earn, returns claw back, redemptions burn.

Runs inside the ingestion transaction of a chunk, so the events and the points they move
commit together. Each entry's idempotency key derives from its event id: re-ingesting the
same events moves no point twice. Lots due to expire by an event's time expire first, so
a burn never spends points that were gone by then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from nextbest.events.types import Event, Purchase, PurchaseReturned, RewardRedeemed
from nextbest.ledger import repository as repo
from nextbest.ledger.book import Book
from nextbest.ledger.earn import EarnContext, Line, PurchaseFacts, quote_purchase, round_points
from nextbest.ledger.program import Program, cap_day
from nextbest.ledger.rewards import redeem_reward
from nextbest.store.bulk import select_in

# (kind, event_id, epoch seconds, detail): plain tuples, cheap to send between processes.
LedgerFact = tuple[str, str, float, tuple[Any, ...]]


def ledger_fact_of(event: Event) -> LedgerFact | None:
    """What the ledger needs of an event, or None when the event moves no points."""
    at = event.occurred_at.timestamp()
    if isinstance(event, Purchase):
        lines = tuple((x.sku, x.category, x.quantity, x.unit_price) for x in event.lines)
        return ("purchase", event.event_id, at, (event.order_id, event.total, event.channel, lines))
    if isinstance(event, PurchaseReturned):
        return ("purchase_returned", event.event_id, at, (event.order_id, event.amount))
    if isinstance(event, RewardRedeemed):
        return ("reward_redeemed", event.event_id, at, (event.reward_id, event.quantity))
    return None


@dataclass(slots=True)
class LedgerReport:
    earned: int = 0  # spendable points
    burned: int = 0
    clawed_back: int = 0
    expired: int = 0
    refused: int = 0
    transfers: int = 0
    entries: int = 0
    returns_unmatched: int = 0  # returns of orders that earned nothing here

    def add(self, other: LedgerReport) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(slots=True)
class _Order:
    entry_id: str
    points: int
    qualifying: int
    total: float
    clawed: int = 0
    lots: tuple[str, ...] = field(default_factory=tuple)


def post_events(
    conn: Connection,
    *,
    program: Program,
    facts: Sequence[tuple[LedgerFact, str]],
    merges: Sequence[tuple[str, str, datetime]] = (),
    now: datetime,
) -> LedgerReport:
    """Apply a chunk's merges (points follow the member) and then its events, in time order."""
    report = LedgerReport()
    if not facts and not merges:
        return report
    keys = {_key(fact) for fact, _ in facts}
    done = repo.existing_keys(conn, keys)
    todo = sorted(
        ((fact, member) for fact, member in facts if _key(fact) not in done),
        key=lambda fm: (fm[0][2], fm[0][1]),
    )
    members = {m for _, m in todo} | {m for a, b, _ in merges for m in (a, b)}
    if not members:
        return report
    book = repo.load_book(conn, program, members, now=now)
    for merged, survivor, at in merges:
        moved = book.transfer(
            source=merged,
            target=survivor,
            key=f"merge:{merged}:{survivor}",
            at=at,
            reason=f"merged into {survivor}",
        )
        report.transfers += moved is not None
    if todo:
        _apply(conn, book, todo, report)
    report.entries = len(book.entries)
    report.expired = -sum(e.points(book.spendable) for e in book.entries if e.kind == "expire")
    repo.save_book(conn, book, now=now)
    return report


def _key(fact: LedgerFact) -> str:
    kind, event_id = fact[0], fact[1]
    prefix = {"purchase": "earn", "purchase_returned": "clawback", "reward_redeemed": "burn"}
    return f"{prefix[kind]}:{event_id}"


def _apply(
    conn: Connection, book: Book, todo: list[tuple[LedgerFact, str]], report: LedgerReport
) -> None:
    program = book.program
    purchases = [(f, m) for f, m in todo if f[0] == "purchase"]
    days = {(m, cap_day(_dt(f[2]))) for f, m in purchases}
    earned_today = repo.earned_on_days(conn, days) if program.earn.caps.per_member_per_day else {}
    spent = repo.promotion_spent(conn, program)
    returns = [f[3][0] for f, _ in todo if f[0] == "purchase_returned"]
    orders = _orders(conn, returns)
    rewards = {
        f[3][0]
        for f, _ in todo
        if f[0] == "reward_redeemed" and (r := program.reward(f[3][0])) and r.stock is not None
    }
    taken = repo.reward_taken(conn, rewards)

    for fact, member in todo:
        kind, event_id, epoch, detail = fact
        at = _dt(epoch)
        book.expire_due(member, at)
        key = _key(fact)
        if kind == "purchase":
            order_id, total, channel, lines = detail
            day = cap_day(at)
            purchase = PurchaseFacts(
                order_id, at, total, channel, tuple(Line(*line) for line in lines)
            )
            context = EarnContext(
                tier=book.account(member).tier.tier,
                earned_today=earned_today.get((member, day), 0),
                promotion_spent={
                    p: spent.get(p, 0) + book.promotion_spent.get(p, 0) for p in spent
                },
            )
            quote = quote_purchase(program, purchase, context)
            if quote.points <= 0 and quote.qualifying <= 0:
                continue
            entry = book.earn(
                member_id=member,
                key=key,
                at=at,
                points=quote.points,
                qualifying=quote.qualifying,
                reference=order_id,
                day=day,
                detail={
                    "event_id": event_id,
                    "total": total,
                    "qualifying": quote.qualifying,
                    "rules": quote.explain(),
                },
            )
            earned_today[(member, day)] = earned_today.get((member, day), 0) + quote.points
            for pid, points in quote.promotions.items():
                book.promotion_spent[pid] = book.promotion_spent.get(pid, 0) + points
            orders[order_id] = _Order(entry.entry_id, quote.points, quote.qualifying, total)
            report.earned += quote.points
        elif kind == "purchase_returned":
            order_id, amount = detail
            order = orders.get(order_id)
            if order is None or program.returns.clawback == "none":
                report.returns_unmatched += order is None
                continue
            share = 1.0 if program.returns.clawback == "full" else min(1.0, amount / order.total)
            points = min(order.points - order.clawed, round_points(order.points * share, "ceil"))
            qualifying = round_points(order.qualifying * share, "ceil")
            if points <= 0 and qualifying <= 0:
                continue
            entry = book.debit(
                member_id=member,
                key=key,
                at=at,
                points=max(0, points),
                kind="clawback",
                side="clawback",
                reference=order_id,
                allow_negative=program.returns.allow_negative,
                cap_at_balance=True,
                first_lot=f"{order.entry_id}:{book.spendable}",
                qualifying=qualifying,
                detail={
                    "event_id": event_id,
                    "order_id": order_id,
                    "refunded": amount,
                    "order_total": order.total,
                    "policy": program.returns.clawback,
                    "earned": order.points,
                    "asked": points,
                },
            )
            clawed = -entry.points(book.spendable)
            order.clawed += clawed
            report.clawed_back += clawed
        else:
            reward_id, quantity = detail
            entry = redeem_reward(
                book,
                member_id=member,
                reward_id=reward_id,
                quantity=quantity,
                key=key,
                at=at,
                taken=taken,
                refuse=True,
            )
            if entry.kind == "refused":
                report.refused += 1
            else:
                report.burned -= entry.points(book.spendable)


def _orders(conn: Connection, order_ids: list[str]) -> dict[str, _Order]:
    """Earn entries (and clawbacks so far) of orders that are being returned."""
    if not order_ids:
        return {}
    out: dict[str, _Order] = {}
    rows = select_in(
        conn,
        "SELECT reference, kind, entry_id, points, detail FROM ledger_entries "
        "WHERE kind IN ('earn', 'clawback') AND reference IN {in}",
        set(order_ids),
    )
    clawed: dict[str, int] = {}
    for reference, kind, entry_id, points, detail in rows:
        if kind == "earn":
            info = orjson.loads(detail)
            out[reference] = _Order(
                entry_id, points, int(info.get("qualifying", 0)), float(info.get("total", 0))
            )
        else:
            clawed[reference] = clawed.get(reference, 0) - points
    for reference, points in clawed.items():
        if reference in out:
            out[reference].clawed = points
    return out


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
