"""What a purchase earns under a program, with every rule that contributed.

Pure: the member's tier, what they already earned today and what each promotion has
already spent come in as a context, so ``program simulate`` and ingestion run the same sums.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from nextbest.ledger.program import Program, Promotion


@dataclass(frozen=True, slots=True)
class Line:
    sku: str
    category: str
    quantity: int
    unit_price: float


@dataclass(frozen=True, slots=True)
class PurchaseFacts:
    """The parts of a purchase the earn rules read."""

    order_id: str
    at: datetime
    total: float  # after discount
    channel: str
    lines: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class EarnContext:
    tier: str | None = None
    earned_today: int = 0  # spendable points already earned on the purchase's cap day
    promotion_spent: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EarnPart:
    rule: str  # "base", "multiplier:…", "tier:…", "channel:…", "promotion:…", "cap"
    points: int
    why: str


@dataclass(frozen=True, slots=True)
class EarnQuote:
    points: int  # spendable
    qualifying: int
    parts: tuple[EarnPart, ...]
    promotions: Mapping[str, int]  # promotion id → points it awarded (budget use)
    program_version: str

    def explain(self) -> list[dict[str, object]]:
        return [{"rule": p.rule, "points": p.points, "why": p.why} for p in self.parts]


def round_points(value: float, rule: str) -> int:
    """Points are whole: round a fractional amount by the program's rule.

    >>> round_points(12.7, "floor"), round_points(12.5, "round"), round_points(12.1, "ceil")
    (12, 13, 13)
    """
    value = round(value, 9)  # 0.1 * 3 must not floor to 0.29999…
    if rule == "floor":
        return math.floor(value)
    if rule == "ceil":
        return math.ceil(value)
    return math.floor(value + 0.5)


def quote_purchase(program: Program, purchase: PurchaseFacts, context: EarnContext) -> EarnQuote:
    """Points a purchase earns, spendable and qualifying, with the rules behind them.

    >>> from datetime import UTC
    >>> p = Program.model_validate({"name": "cafe", "earn": {"base_per_unit": 1,
    ...     "multipliers": [{"category": "beans", "factor": 2}]}})
    >>> buy = PurchaseFacts("o1", datetime(2026, 5, 1, tzinfo=UTC), 15.0, "store",
    ...     (Line("latte", "coffee", 1, 5.0), Line("kg", "beans", 1, 10.0)))
    >>> q = quote_purchase(p, buy, EarnContext())
    >>> q.points, q.qualifying, [(x.rule, x.points, x.why) for x in q.parts][1]
    (25, 25, ('multiplier:category=beans', 10, 'x2 on 10.00 USD'))
    """
    earn = program.earn
    gross = sum(line.quantity * line.unit_price for line in purchase.lines)
    # A discount lowers every line alike: points follow the money actually paid.
    scale = purchase.total / gross if gross > 0 else 0.0
    nets = [line.quantity * line.unit_price * scale for line in purchase.lines]
    base_rate = earn.base_per_unit
    parts: list[EarnPart] = []

    base = purchase.total * base_rate
    parts.append(
        EarnPart("base", round_points(base, program.rounding), _why_base(purchase, program))
    )
    # Multipliers: the SKU rule wins over the category rule; extra = (factor - 1) x base.
    extra_by_rule: dict[str, tuple[float, float, float]] = {}
    for line, net in zip(purchase.lines, nets, strict=True):
        rule = _multiplier(program, line)
        if rule is None:
            continue
        name, factor = rule
        extra, money, _ = extra_by_rule.get(name, (0.0, 0.0, factor))
        extra_by_rule[name] = (extra + net * base_rate * (factor - 1), money + net, factor)
    for name, (extra, money, factor) in extra_by_rule.items():
        points = round_points(extra, program.rounding)
        if points:
            parts.append(
                EarnPart(
                    f"multiplier:{name}", points, f"x{factor:g} on {money:.2f} {program.currency}"
                )
            )
    rule_points = sum(p.points for p in parts)

    level = program.level(context.tier)
    if level is not None and level.earn_multiplier != 1:
        points = round_points(rule_points * (level.earn_multiplier - 1), program.rounding)
        if points:
            parts.append(EarnPart(f"tier:{level.id}", points, f"x{level.earn_multiplier:g}"))
    channel_factor = earn.channels.get(purchase.channel)
    if channel_factor is not None and channel_factor != 1:
        points = round_points(rule_points * (channel_factor - 1), program.rounding)
        if points:
            parts.append(EarnPart(f"channel:{purchase.channel}", points, f"x{channel_factor:g}"))

    awarded: dict[str, int] = {}
    for promo in earn.promotions:
        points = _promotion_points(program, promo, purchase, nets, context)
        if points > 0:
            awarded[promo.id] = points
            parts.append(EarnPart(f"promotion:{promo.id}", points, _why_promo(promo)))

    total = sum(p.points for p in parts)
    cap = earn.caps.per_member_per_day
    if cap is not None and total > 0:
        room = max(0, cap - context.earned_today)
        if total > room:
            parts.append(
                EarnPart("cap", room - total, f"{cap} per member per day; {room} left today")
            )
            # Promotions are cut first, so their budgets are not spent on capped points.
            cut = total - room
            for pid in reversed(list(awarded)):
                take = min(cut, awarded[pid])
                awarded[pid] -= take
                cut -= take
            awarded = {k: v for k, v in awarded.items() if v > 0}
            total = room

    if program.tiers.basis == "spend":
        qualifying = math.floor(round(purchase.total, 9))
    else:
        qualifying = parts[0].points + sum(
            p.points for p in parts if p.rule.startswith("multiplier:")
        )
    return EarnQuote(
        points=total,
        qualifying=max(0, qualifying),
        parts=tuple(parts),
        promotions=awarded,
        program_version=program.version,
    )


def _multiplier(program: Program, line: Line) -> tuple[str, float] | None:
    by_category = None
    for rule in program.earn.multipliers:
        if rule.sku is not None and rule.sku == line.sku:
            return f"sku={rule.sku}", rule.factor
        if by_category is None and rule.category is not None and rule.category == line.category:
            by_category = (f"category={rule.category}", rule.factor)
    return by_category


def _promotion_points(
    program: Program,
    promo: Promotion,
    purchase: PurchaseFacts,
    nets: list[float],
    context: EarnContext,
) -> int:
    day = purchase.at.date()
    if not (promo.starts <= day < promo.ends) or purchase.total < promo.min_total:
        return 0
    if promo.tiers and context.tier not in promo.tiers:
        return 0
    if promo.channels and purchase.channel not in promo.channels:
        return 0
    if promo.factor is not None:
        money = sum(
            net
            for line, net in zip(purchase.lines, nets, strict=True)
            if not promo.categories or line.category in promo.categories
        )
        points = round_points(
            money * program.earn.base_per_unit * (promo.factor - 1), program.rounding
        )
    else:
        if promo.categories and not any(
            line.category in promo.categories for line in purchase.lines
        ):
            return 0
        points = promo.bonus or 0
    if promo.budget is not None:
        points = min(points, max(0, promo.budget - context.promotion_spent.get(promo.id, 0)))
    return points


def _why_base(purchase: PurchaseFacts, program: Program) -> str:
    return f"{purchase.total:.2f} {program.currency} x {program.earn.base_per_unit:g} per unit"


def _why_promo(promo: Promotion) -> str:
    what = f"x{promo.factor:g}" if promo.factor is not None else f"+{promo.bonus}"
    return f"{what} from {promo.starts} to {promo.ends}" + (
        f", budget {promo.budget}" if promo.budget is not None else ""
    )
