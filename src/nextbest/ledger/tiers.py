"""Tier status from the qualifying balance: upgrade at once, downgrade after a grace period.

The qualifying balance is the qualifying points (or spend) still inside the tier window:
qualifying lots age out of the window as postings, so the balance is the window sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from nextbest.ledger.program import Program, TierLevel


@dataclass(frozen=True, slots=True)
class TierStatus:
    tier: str | None
    since: datetime | None = None
    grace_until: datetime | None = None  # set while below the tier's threshold


@dataclass(frozen=True, slots=True)
class TierChange:
    before: str | None
    after: str | None
    at: datetime
    qualifying: int
    reason: str  # "upgrade", "downgrade", "grace started", "grace lifted"


def qualified_level(program: Program, qualifying: int) -> TierLevel | None:
    """The highest level whose threshold the qualifying amount reaches."""
    best = None
    for level in program.tiers.levels:
        if qualifying >= level.threshold:
            best = level
    return best


def evaluate_tier(
    program: Program, *, status: TierStatus, qualifying: int, at: datetime
) -> tuple[TierStatus, TierChange | None]:
    """The new status and what changed, if anything.

    >>> from datetime import UTC
    >>> p = Program.model_validate({"name": "c", "tiers": {"downgrade_grace_days": 30,
    ...     "levels": [{"id": "green", "threshold": 0}, {"id": "gold", "threshold": 300}]}})
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> gold, change = evaluate_tier(p, status=TierStatus("green", t0), qualifying=320, at=t0)
    >>> gold.tier, change.reason
    ('gold', 'upgrade')
    >>> held, change = evaluate_tier(p, status=gold, qualifying=10, at=t0)
    >>> held.tier, held.grace_until.date().isoformat(), change.reason
    ('gold', '2026-01-31', 'grace started')
    >>> evaluate_tier(p, status=held, qualifying=10, at=held.grace_until)[0].tier
    'green'
    """
    if not program.tiers.levels:
        return status, None
    target = qualified_level(program, qualifying)
    target_id = target.id if target is not None else None
    rank = {lvl.id: i for i, lvl in enumerate(program.tiers.levels)}
    current = rank.get(status.tier, -1) if status.tier is not None else -1
    wanted = rank.get(target_id, -1) if target_id is not None else -1
    if wanted > current or status.tier is None:
        new = TierStatus(target_id, at, None)
        reason = "upgrade" if status.tier is not None else "enrolled"
        return new, TierChange(status.tier, target_id, at, qualifying, reason)
    if wanted == current:
        if status.grace_until is not None:
            lifted = TierStatus(status.tier, status.since, None)
            return lifted, TierChange(status.tier, status.tier, at, qualifying, "grace lifted")
        return status, None
    if status.grace_until is None:
        grace = timedelta(days=program.tiers.downgrade_grace_days)
        if grace:
            held = TierStatus(status.tier, status.since, at + grace)
            return held, TierChange(status.tier, status.tier, at, qualifying, "grace started")
    elif at < status.grace_until:
        return status, None
    new = TierStatus(target_id, at, None)
    return new, TierChange(status.tier, target_id, at, qualifying, "downgrade")


def progress(program: Program, *, tier: str | None, qualifying: int) -> dict[str, object]:
    """Where a member stands: their tier, the next one and what it still takes.

    >>> p = Program.model_validate({"name": "c", "tiers": {"levels": [
    ...     {"id": "green", "threshold": 0}, {"id": "gold", "threshold": 300}]}})
    >>> progress(p, tier="green", qualifying=120)["needed"]
    180
    """
    levels = program.tiers.levels
    ids = [lvl.id for lvl in levels]
    index = ids.index(tier) if tier in ids else -1
    nxt = levels[index + 1] if index + 1 < len(levels) else None
    level = program.level(tier)
    return {
        "tier": tier,
        "benefits": list(level.benefits) if level else [],
        "qualifying": qualifying,
        "basis": program.tiers.basis,
        "next_tier": nxt.id if nxt else None,
        "next_threshold": nxt.threshold if nxt else None,
        "needed": max(0, nxt.threshold - qualifying) if nxt else None,
    }
