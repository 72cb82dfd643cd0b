"""The member profile as a mergeable aggregate.

A ``ProfileState`` folds events one at a time (``apply``, on the compact ``Facts`` that
``facts_of`` extracts from an event: plain tuples, cheap to send between processes) and
two states combine with
``merge`` when their members merge. Both are commutative and associative: counts and sums
add, first/last take min/max, and stated values (name, birthday, consent, …) follow the
survivorship rule *latest statement wins*, ordered by (occurred_at, event_id), so the
profile never depends on the order in which events arrived. Times are epoch seconds (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from nextbest.events.types import (
    Event,
    Feedback,
    MessageClicked,
    MessageDelivered,
    MessageOpened,
    MessageUnsubscribed,
    ProfileUpdate,
    Purchase,
    ServiceTicketClosed,
    ServiceTicketOpened,
    Signup,
)

# A stated value: [value, occurred_at, event_id]; the greater (occurred_at, event_id) wins.
Stated = list[Any]
ATTRIBUTES = ("first_name", "last_name", "birthday", "postcode", "timezone")


def _later(a: Stated | None, b: Stated | None) -> Stated | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if (a[1], a[2]) >= (b[1], b[2]) else b


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _add(into: dict[str, Any], other: dict[str, Any]) -> None:
    for k, v in other.items():
        into[k] = into.get(k, 0) + v


@dataclass(slots=True)
class ProfileState:
    event_count: int = 0
    first_event_at: float | None = None
    last_event_at: float | None = None
    purchase_count: int = 0
    spend: float = 0.0
    items: int = 0
    first_purchase_at: float | None = None
    last_purchase_at: float | None = None
    category_spend: dict[str, float] = field(default_factory=dict)
    category_count: dict[str, int] = field(default_factory=dict)
    source_counts: dict[str, int] = field(default_factory=dict)
    # "channel.kind" -> count, e.g. "email.opened", "push.clicked"
    engagement: dict[str, int] = field(default_factory=dict)
    app_opens: int = 0
    product_views: int = 0
    cart_adds: int = 0
    carts_abandoned: int = 0
    last_cart_abandoned_at: float | None = None
    offers_redeemed: int = 0
    feedback_count: int = 0
    rating_sum: int = 0
    rating_count: int = 0
    # ticket id -> opened at; closed ids kept apart so open = opened - closed in any order
    tickets_opened: dict[str, float] = field(default_factory=dict)
    tickets_closed: dict[str, float] = field(default_factory=dict)
    # "channel/purpose" -> [granted, occurred_at, event_id]
    consent: dict[str, Stated] = field(default_factory=dict)
    preferences: dict[str, Stated] = field(default_factory=dict)
    attributes: dict[str, Stated] = field(default_factory=dict)
    # UTC hour of day ("0".."23") -> purchases, opens, clicks and app opens then: the
    # member's habitual hours, which pick send times
    active_hours: dict[str, int] = field(default_factory=dict)

    # --- folding ---------------------------------------------------------------
    def apply(self, facts: Facts) -> None:
        kind, at, source, event_id, detail = facts
        self.event_count += 1
        if self.first_event_at is None or at < self.first_event_at:
            self.first_event_at = at
        if self.last_event_at is None or at > self.last_event_at:
            self.last_event_at = at
        self.source_counts[source] = self.source_counts.get(source, 0) + 1
        if kind in _ACTIVE:
            hour = str(int(at // 3600) % 24)
            self.active_hours[hour] = self.active_hours.get(hour, 0) + 1
        if kind == "purchase":
            self._purchase(at, detail)
        elif kind in _ENGAGEMENT:
            key = f"{detail}.{_ENGAGEMENT[kind]}"
            self.engagement[key] = self.engagement.get(key, 0) + 1
        elif kind == "message_unsubscribed":
            channel, purpose = detail
            key = f"{channel}.unsubscribed"
            self.engagement[key] = self.engagement.get(key, 0) + 1
            self._state(self.consent, f"{channel}/{purpose}", [False, at, event_id])
        elif kind == "signup" or kind == "profile_update":
            attributes, preferences, consents = detail
            for name, value in attributes:
                self._state(self.attributes, name, [value, at, event_id])
            for name, value in preferences:
                self._state(self.preferences, name, [value, at, event_id])
            for key, granted in consents:
                self._state(self.consent, key, [granted, at, event_id])
        elif kind == "app_open":
            self.app_opens += 1
        elif kind == "product_view":
            self.product_views += 1
        elif kind == "cart_add":
            self.cart_adds += 1
        elif kind == "cart_abandoned":
            self.carts_abandoned += 1
            self.last_cart_abandoned_at = _max(self.last_cart_abandoned_at, at)
        elif kind == "offer_redeemed":
            self.offers_redeemed += 1
        elif kind == "service_ticket_opened":
            self.tickets_opened[detail] = _min(self.tickets_opened.get(detail), at) or at
        elif kind == "service_ticket_closed":
            self.tickets_closed[detail] = _max(self.tickets_closed.get(detail), at) or at
        elif kind == "feedback":
            self.feedback_count += 1
            if detail is not None:
                self.rating_sum += detail
                self.rating_count += 1

    def _purchase(self, at: float, detail: tuple[float, float, tuple[Any, ...]]) -> None:
        total, gross, lines = detail
        self.purchase_count += 1
        self.spend += total
        if self.first_purchase_at is None or at < self.first_purchase_at:
            self.first_purchase_at = at
        if self.last_purchase_at is None or at > self.last_purchase_at:
            self.last_purchase_at = at
        share = total / gross if gross else 0.0  # spread the discount over the lines
        category_spend, category_count = self.category_spend, self.category_count
        for category, quantity, amount in lines:
            self.items += quantity
            category_spend[category] = category_spend.get(category, 0.0) + amount * share
            category_count[category] = category_count.get(category, 0) + quantity

    @staticmethod
    def _state(target: dict[str, Stated], key: str, stated: Stated) -> None:
        target[key] = _later(target.get(key), stated) or stated

    # --- merging ---------------------------------------------------------------
    def merge(self, other: ProfileState) -> None:
        """Fold ``other`` (a merged member's profile, or a batch delta) into this one."""
        self.event_count += other.event_count
        self.first_event_at = _min(self.first_event_at, other.first_event_at)
        self.last_event_at = _max(self.last_event_at, other.last_event_at)
        self.purchase_count += other.purchase_count
        self.spend += other.spend
        self.items += other.items
        self.first_purchase_at = _min(self.first_purchase_at, other.first_purchase_at)
        self.last_purchase_at = _max(self.last_purchase_at, other.last_purchase_at)
        _add(self.category_spend, other.category_spend)
        _add(self.category_count, other.category_count)
        _add(self.source_counts, other.source_counts)
        _add(self.engagement, other.engagement)
        _add(self.active_hours, other.active_hours)
        self.app_opens += other.app_opens
        self.product_views += other.product_views
        self.cart_adds += other.cart_adds
        self.carts_abandoned += other.carts_abandoned
        self.last_cart_abandoned_at = _max(
            self.last_cart_abandoned_at, other.last_cart_abandoned_at
        )
        self.offers_redeemed += other.offers_redeemed
        self.feedback_count += other.feedback_count
        self.rating_sum += other.rating_sum
        self.rating_count += other.rating_count
        for tid, at in other.tickets_opened.items():
            self.tickets_opened[tid] = _min(self.tickets_opened.get(tid), at) or at
        for tid, at in other.tickets_closed.items():
            self.tickets_closed[tid] = _max(self.tickets_closed.get(tid), at) or at
        for mine, theirs in (
            (self.consent, other.consent),
            (self.preferences, other.preferences),
            (self.attributes, other.attributes),
        ):
            for key, stated in theirs.items():
                mine[key] = _later(mine.get(key), stated) or stated

    # --- derived features ---------------------------------------------------------
    @property
    def average_order_value(self) -> float | None:
        return self.spend / self.purchase_count if self.purchase_count else None

    @property
    def open_tickets(self) -> list[str]:
        return sorted(t for t in self.tickets_opened if t not in self.tickets_closed)

    def consent_for(self, channel: str, purpose: str) -> bool | None:
        """True/False when stated, None when the member never said."""
        stated = self.consent.get(f"{channel}/{purpose}")
        return None if stated is None else bool(stated[0])

    def category_affinity(self) -> dict[str, float]:
        """Share of spend per category, summing to 1 (empty without purchases).

        >>> p = ProfileState(category_spend={"coffee": 30.0, "bakery": 10.0})
        >>> p.category_affinity()
        {'coffee': 0.75, 'bakery': 0.25}
        """
        total = sum(self.category_spend.values())
        if total <= 0:
            return {}
        ranked = sorted(self.category_spend.items(), key=lambda kv: -kv[1])
        return {cat: round(spend / total, 6) for cat, spend in ranked}

    # --- (de)serialisation ------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        # Shallow by design: dataclasses.asdict deep-copies and dominated ingestion time.
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProfileState:
        return cls(**data)


_ACTIVE = frozenset({"purchase", "message_opened", "message_clicked", "app_open"})
_ENGAGEMENT = {
    "message_delivered": "delivered",
    "message_opened": "opened",
    "message_clicked": "clicked",
}

# (type, occurred_at epoch seconds, source, event_id, type-specific detail)
Facts = tuple[str, float, str, str, Any]


def facts_of(event: Event) -> Facts:
    """What a profile needs from an event, as plain tuples.

    >>> from nextbest.events import EVENT_ADAPTER
    >>> e = EVENT_ADAPTER.validate_python({"type": "feedback", "event_id": "f1",
    ...     "occurred_at": "1970-01-01T00:01:00Z", "source": "app", "rating": 2})
    >>> facts_of(e)
    ('feedback', 60.0, 'app', 'f1', 2)
    """
    detail: Any = None
    if isinstance(event, Purchase):
        lines = tuple(
            (line.category, line.quantity, line.quantity * line.unit_price) for line in event.lines
        )
        detail = (event.total, sum(amount for _, _, amount in lines), lines)
    elif isinstance(event, MessageUnsubscribed):
        detail = (event.channel.value, event.purpose.value)
    elif isinstance(event, MessageDelivered | MessageOpened | MessageClicked):
        detail = event.channel.value
    elif isinstance(event, Signup | ProfileUpdate):
        detail = (
            tuple((n, str(getattr(event, n))) for n in ATTRIBUTES if getattr(event, n) is not None),
            tuple(event.preferences.items()),
            tuple((f"{c.channel.value}/{c.purpose.value}", c.granted) for c in event.consents),
        )
    elif isinstance(event, ServiceTicketOpened | ServiceTicketClosed):
        detail = event.ticket_id
    elif isinstance(event, Feedback):
        detail = event.rating
    return (event.type, event.occurred_at.timestamp(), event.source.value, event.event_id, detail)


_FIELDS = tuple(f.name for f in fields(ProfileState))
