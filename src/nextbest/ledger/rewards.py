"""Redeeming a reward from the catalogue: price, eligibility, stock, then the burn.

Pure, on a ``Book``: the API, the CLI and ingested ``reward_redeemed`` events all redeem
through here, so a till and an event price and refuse alike.
"""

from __future__ import annotations

from datetime import datetime

from nextbest.errors import Conflict, InsufficientPoints, NotFound
from nextbest.ledger.book import Book
from nextbest.ledger.journal import Entry, Message


def redeem_reward(
    book: Book,
    *,
    member_id: str,
    reward_id: str,
    quantity: int,
    key: str,
    at: datetime,
    taken: dict[str, int],
    actor: str = "system",
    request: str = "",
    refuse: bool = False,
) -> Entry:
    """Price a reward and burn it; ``refuse`` records a refusal instead of raising."""
    program = book.program
    reward = program.reward(reward_id)
    problem: str | None = None
    if reward is None:
        problem = f"unknown reward {reward_id!r}; known: {', '.join(r.id for r in program.rewards)}"
    elif reward.tiers and book.account(member_id).tier.tier not in reward.tiers:
        problem = (
            f"reward {reward_id!r} is for tiers {', '.join(reward.tiers)}; member is "
            f"{book.account(member_id).tier.tier or 'in no tier'}"
        )
    elif (
        reward.stock is not None
        and taken.get(reward_id, 0) + book.stock_used.get(reward_id, 0) + quantity > reward.stock
    ):
        problem = f"reward {reward_id!r} is out of stock"
    if problem is not None:
        if refuse:
            return book.refuse(
                member_id=member_id,
                key=key,
                at=at,
                reference=reward_id,
                detail={"reward_id": reward_id, "quantity": quantity, "reason": problem},
            )
        raise (NotFound(problem) if reward is None else Conflict(problem))
    assert reward is not None
    points = reward.points * quantity
    try:
        entry = book.debit(
            member_id=member_id,
            key=key,
            at=at,
            points=points,
            kind="burn",
            side="redeemed",
            reference=reward_id,
            actor=actor,
            request_hash=request,
            detail={"reward_id": reward_id, "quantity": quantity, "unit_points": reward.points},
        )
    except InsufficientPoints as exc:
        if not refuse:
            raise
        return book.refuse(
            member_id=member_id,
            key=key,
            at=at,
            reference=reward_id,
            detail={"reward_id": reward_id, "quantity": quantity, "reason": str(exc)},
        )
    book.stock_used[reward_id] = book.stock_used.get(reward_id, 0) + quantity
    book.messages.append(
        Message(
            "reward_redeemed",
            member_id,
            at,
            {
                "member_id": member_id,
                "reward_id": reward_id,
                "quantity": quantity,
                "points": points,
                "entry_id": entry.entry_id,
            },
        )
    )
    return entry
