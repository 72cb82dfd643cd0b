"""The member profile as a mergeable aggregate.

A ``ProfileState`` folds events one at a time (``apply``) and two states combine with
``merge`` when their members merge. Both are commutative and associative: counts and sums
add, first/last take min/max, and stated values (name, birthday, consent, …) follow the
survivorship rule *latest statement wins*, ordered by (occurred_at, event_id), so the
profile never depends on the order in which events arrived. Times are epoch seconds (UTC).
"""

from __future__ import annotations

from collections.abc import Callable
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

    # --- folding ---------------------------------------------------------------
    def apply(self, event: Event) -> None:
        at = event.occurred_at.timestamp()
        self.event_count += 1
        if self.first_event_at is None or at < self.first_event_at:
            self.first_event_at = at
        if self.last_event_at is None or at > self.last_event_at:
            self.last_event_at = at
        src = event.source.value
        self.source_counts[src] = self.source_counts.get(src, 0) + 1
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            handler(self, event, at)

    def _message(self, event: Event, at: float) -> None:
        assert isinstance(event, MessageDelivered | MessageOpened | MessageClicked)
        key = f"{event.channel.value}.{event.type.removeprefix('message_')}"
        self.engagement[key] = self.engagement.get(key, 0) + 1

    def _unsubscribed(self, event: Event, at: float) -> None:
        assert isinstance(event, MessageUnsubscribed)
        key = f"{event.channel.value}.unsubscribed"
        self.engagement[key] = self.engagement.get(key, 0) + 1
        self._state(self.consent, f"{event.channel.value}/{event.purpose.value}", False, event)

    def _stated(self, event: Event, at: float) -> None:
        assert isinstance(event, Signup | ProfileUpdate)
        for name in ATTRIBUTES:
            value = getattr(event, name)
            if value is not None:
                self._state(self.attributes, name, str(value), event)
        for pref, value in event.preferences.items():
            self._state(self.preferences, pref, value, event)
        for c in event.consents:
            self._state(self.consent, f"{c.channel.value}/{c.purpose.value}", c.granted, event)

    def _app_open(self, event: Event, at: float) -> None:
        self.app_opens += 1

    def _product_view(self, event: Event, at: float) -> None:
        self.product_views += 1

    def _cart_add(self, event: Event, at: float) -> None:
        self.cart_adds += 1

    def _cart_abandoned(self, event: Event, at: float) -> None:
        self.carts_abandoned += 1
        self.last_cart_abandoned_at = _max(self.last_cart_abandoned_at, at)

    def _offer_redeemed(self, event: Event, at: float) -> None:
        self.offers_redeemed += 1

    def _ticket_opened(self, event: Event, at: float) -> None:
        assert isinstance(event, ServiceTicketOpened)
        self.tickets_opened[event.ticket_id] = (
            _min(self.tickets_opened.get(event.ticket_id), at) or at
        )

    def _ticket_closed(self, event: Event, at: float) -> None:
        assert isinstance(event, ServiceTicketClosed)
        self.tickets_closed[event.ticket_id] = (
            _max(self.tickets_closed.get(event.ticket_id), at) or at
        )

    def _feedback(self, event: Event, at: float) -> None:
        assert isinstance(event, Feedback)
        self.feedback_count += 1
        if event.rating is not None:
            self.rating_sum += event.rating
            self.rating_count += 1

    def _purchase(self, event: Event, at: float) -> None:
        assert isinstance(event, Purchase)
        self.purchase_count += 1
        self.spend += event.total
        self.first_purchase_at = _min(self.first_purchase_at, at)
        self.last_purchase_at = _max(self.last_purchase_at, at)
        gross = sum(line.quantity * line.unit_price for line in event.lines) or 1.0
        share = event.total / gross  # spread the discount over the lines
        for line in event.lines:
            cat = line.category
            self.items += line.quantity
            self.category_spend[cat] = (
                self.category_spend.get(cat, 0.0) + line.quantity * line.unit_price * share
            )
            self.category_count[cat] = self.category_count.get(cat, 0) + line.quantity

    @staticmethod
    def _state(target: dict[str, Stated], key: str, value: Any, event: Event) -> None:
        stated = [value, event.occurred_at.timestamp(), event.event_id]
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


_FIELDS = tuple(f.name for f in fields(ProfileState))

_Handler = Callable[[ProfileState, Event, float], None]
_HANDLERS: dict[str, _Handler] = {
    "purchase": ProfileState._purchase,
    "message_delivered": ProfileState._message,
    "message_opened": ProfileState._message,
    "message_clicked": ProfileState._message,
    "message_unsubscribed": ProfileState._unsubscribed,
    "signup": ProfileState._stated,
    "profile_update": ProfileState._stated,
    "app_open": ProfileState._app_open,
    "product_view": ProfileState._product_view,
    "cart_add": ProfileState._cart_add,
    "cart_abandoned": ProfileState._cart_abandoned,
    "offer_redeemed": ProfileState._offer_redeemed,
    "service_ticket_opened": ProfileState._ticket_opened,
    "service_ticket_closed": ProfileState._ticket_closed,
    "feedback": ProfileState._feedback,
}
