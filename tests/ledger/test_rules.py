"""Pure rules: promotions (window, targeting, budget), caps, SKU over category, inactivity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nextbest.ledger.book import Book
from nextbest.ledger.earn import EarnContext, Line, PurchaseFacts, quote_purchase
from nextbest.ledger.program import Program, parse_program

PROGRAM = parse_program(
    """
name: rules
earn:
  base_per_unit: 1
  multipliers:
    - {category: beans, factor: 2}
    - {sku: reserve-kg, factor: 5}
  promotions:
    - {id: june, starts: 2026-06-01, ends: 2026-07-01, factor: 3, tiers: [gold], budget: 50}
    - {id: big-basket, starts: 2026-01-01, ends: 2027-01-01, bonus: 7, min_total: 30}
  caps: {per_member_per_day: 100}
tiers:
  levels: [{id: green, threshold: 0}, {id: gold, threshold: 100}]
expiry: {kind: inactivity, months: 3}
"""
)
JUNE = datetime(2026, 6, 10, 12, tzinfo=UTC)


def buy(total: float, *lines: Line, at: datetime = JUNE) -> PurchaseFacts:
    return PurchaseFacts("o", at, total, "store", lines or (Line("x", "coffee", 1, total),))


def rules(quote: object) -> dict[str, int]:
    return {p.rule: p.points for p in quote.parts}  # type: ignore[attr-defined]


def test_sku_rule_wins_over_its_category() -> None:
    q = quote_purchase(PROGRAM, buy(20.0, Line("reserve-kg", "beans", 1, 20.0)), EarnContext())
    assert rules(q) == {"base": 20, "multiplier:sku=reserve-kg": 80}


def test_promotion_needs_its_window_tier_and_budget() -> None:
    green = quote_purchase(PROGRAM, buy(10.0), EarnContext(tier="green"))
    assert "promotion:june" not in rules(green)
    gold = quote_purchase(PROGRAM, buy(10.0), EarnContext(tier="gold"))
    assert rules(gold)["promotion:june"] == 20  # x3 on 10 points: 20 above the base
    nearly_spent = EarnContext(tier="gold", promotion_spent={"june": 45})
    assert rules(quote_purchase(PROGRAM, buy(10.0), nearly_spent))["promotion:june"] == 5
    july = quote_purchase(
        PROGRAM, buy(10.0, at=JUNE + timedelta(days=30)), EarnContext(tier="gold")
    )
    assert "promotion:june" not in rules(july)


def test_bonus_needs_the_minimum_total() -> None:
    assert "promotion:big-basket" not in rules(quote_purchase(PROGRAM, buy(29.99), EarnContext()))
    assert rules(quote_purchase(PROGRAM, buy(30.0), EarnContext()))["promotion:big-basket"] == 7


def test_daily_cap_cuts_promotions_first() -> None:
    q = quote_purchase(PROGRAM, buy(40.0), EarnContext(tier="gold", earned_today=70))
    assert q.points == 30
    assert rules(q)["cap"] == 30 - (40 + 7 + 50)
    assert sum(q.promotions.values()) == 0  # budgets are not spent on capped points


def test_inactivity_expires_every_lot_at_once() -> None:
    book = Book(PROGRAM, {})
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for day in (0, 20):
        book.earn(
            member_id="m",
            key=f"e{day}",
            at=t0 + timedelta(days=day),
            points=10,
            qualifying=10,
            reference=None,
            detail={},
        )
    assert book.expire_due("m", t0 + timedelta(days=100)) == []  # active on day 20
    expired = book.expire_due("m", t0 + timedelta(days=120))
    spendable = [e for e in expired if e.detail["currency"] == "points"]
    assert [e.points("points") for e in spendable] == [-20]
    assert spendable[0].at == datetime(2026, 4, 21, tzinfo=UTC)  # 3 months after day 20
    assert book.account("m").balance("points") == 0


def test_program_version_follows_content() -> None:
    same = Program.model_validate(PROGRAM.model_dump())
    assert same.version == PROGRAM.version
    other = Program.model_validate({**PROGRAM.model_dump(), "rounding": "ceil"})
    assert other.version != PROGRAM.version
