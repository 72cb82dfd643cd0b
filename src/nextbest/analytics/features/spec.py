"""What the batch feature pipeline computes: the snapshot date, windows and label horizons.

A snapshot is point-in-time: features see only events strictly before ``as_of`` and labels
only events in ``[as_of, as_of + horizon)``, so a model trained on an old snapshot is
validated on a later one without leakage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# Column -> what it means. The order is the output order; models pick from these.
FEATURES: dict[str, str] = {
    "recency_days": "days since the last purchase (null: never purchased)",
    "frequency": "purchases before the snapshot",
    "purchase_days": "distinct days with a purchase",
    "monetary": "mean order total",
    "spend": "total spend",
    "tenure_days": "days since the member's first event",
    "first_purchase_days": "days since the first purchase",
    "mean_gap_days": "mean days between purchases (null: fewer than two)",
    "overdue_ratio": "recency divided by the member's mean gap",
    "purchases_30d": "purchases in the last 30 days",
    "purchases_90d": "purchases in the last 90 days",
    "spend_30d": "spend in the last 30 days",
    "spend_90d": "spend in the last 90 days",
    "spend_prev_90d": "spend in the 90 days before those",
    "returns_180d": "returns in the last 180 days",
    "weekday_share": "share of purchases on Monday to Friday (member's time zone)",
    "morning_share": "share of purchases before 11:00 (member's time zone)",
    "app_share": "share of purchases through the app",
    "messages_90d": "messages delivered in the last 90 days",
    "opens_90d": "messages opened in the last 90 days",
    "clicks_90d": "messages clicked in the last 90 days",
    "unsubscribes": "unsubscribe events",
    "app_opens_30d": "app opens in the last 30 days",
    "views_30d": "product views in the last 30 days",
    "cart_adds_30d": "cart additions in the last 30 days",
    "carts_abandoned_30d": "carts abandoned in the last 30 days",
    "days_since_event": "days since any event",
    "tickets_180d": "service tickets opened in the last 180 days",
    "open_tickets": "tickets opened and not closed",
    "mean_rating": "mean feedback rating (null: none given)",
    "rewards_180d": "rewards redeemed in the last 180 days",
    "points_balance": "spendable points balance",
    "points_earned_90d": "points earned in the last 90 days",
    "points_burned_180d": "points spent, expired or clawed back in the last 180 days",
}
CATEGORICAL: dict[str, str] = {
    "top_category": "category with the most spend",
    "top_sku": "product bought most often",
    "top_daypart": "daypart with the most purchases (member's time zone)",
    "top_channel": "source of most purchases",
    "age_band": "age band from the stated birthday",
    "region": "region from the stated time zone",
}
DAYPARTS = ("night", "morning", "midday", "afternoon", "evening")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One point-in-time feature (and label) table.

    >>> s = Snapshot(as_of=datetime(2025, 6, 1), categories=("bakery", "coffee"))
    >>> s.as_of_literal
    "TIMESTAMP '2025-06-01 00:00:00'"
    >>> s.share_columns
    ('share_bakery', 'share_coffee')
    """

    as_of: datetime
    categories: tuple[str, ...] = ()
    churn_days: int = 60
    next_purchase_days: int = 180
    value_days: int = 365
    propensity_days: int = 30
    spend_currency: str | None = None
    labels: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def as_of_literal(self) -> str:
        return f"TIMESTAMP '{self.as_of.replace(tzinfo=None).isoformat(sep=' ')}'"

    @property
    def share_columns(self) -> tuple[str, ...]:
        return tuple(f"share_{safe_name(c)}" for c in self.categories)

    @property
    def label_columns(self) -> tuple[str, ...]:
        cats = tuple(f"next_{safe_name(c)}" for c in self.categories)
        return ("purchases_next", "churned", "days_to_next", "value_next", *cats)


def safe_name(value: str) -> str:
    """A category turned into a column-name fragment.

    >>> safe_name("Cold drinks!")
    'cold_drinks_'
    """
    return "".join(ch if ch.isalnum() else "_" for ch in value.lower())
