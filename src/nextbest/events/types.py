"""Canonical event types, version 1. Strict: unknown fields and wrong types are errors.

Every event has an ``event_id`` (the idempotency key), a timezone-aware ``occurred_at``,
a ``source`` and the identifiers it carries. ``Event`` is the tagged union over ``type``.
"""

from __future__ import annotations

import math
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from nextbest.events.identifiers import Identifiers

SCHEMA_VERSION = 1

Money = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Text = Annotated[str, Field(min_length=1, max_length=200)]


class Source(StrEnum):
    """The system an event came from."""

    POS = "pos"
    APP = "app"
    WEB = "web"
    KIOSK = "kiosk"
    CALL_CENTRE = "call_centre"
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    IN_APP = "in_app"
    WEBHOOK = "webhook"
    DIRECT_MAIL = "direct_mail"
    SYSTEM = "system"


class Channel(StrEnum):
    """Channels a member can be contacted on (and consent to)."""

    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    IN_APP = "in_app"
    DIRECT_MAIL = "direct_mail"
    PHONE = "phone"
    WEBHOOK = "webhook"


class Purpose(StrEnum):
    """Why we contact: consent is given per channel and purpose."""

    MARKETING = "marketing"
    SERVICE = "service"
    LOYALTY = "loyalty"
    PERSONALISATION = "personalisation"


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

    schema_version: Literal[1] = 1
    event_id: Annotated[str, Field(min_length=1, max_length=128)]
    occurred_at: AwareDatetime
    source: Source
    identifiers: Identifiers = Field(default_factory=Identifiers)


class PurchaseLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: Text
    category: Text
    quantity: Annotated[int, Field(gt=0, le=10_000)]
    unit_price: Money


class Purchase(_Base):
    type: Literal["purchase"] = "purchase"
    order_id: Text
    lines: Annotated[list[PurchaseLine], Field(min_length=1, max_length=500)]
    discount: Money = 0.0
    total: Money
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    store_id: Text | None = None
    channel: Literal["store", "app", "web", "kiosk", "phone"] = "store"

    @field_validator("total")
    @classmethod
    def _total_matches_lines(cls, total: float, info: ValidationInfo) -> float:
        lines: list[PurchaseLine] | None = info.data.get("lines")
        if lines is None:  # lines already failed; that error is reported
            return total
        expected = sum(line.quantity * line.unit_price for line in lines) - info.data.get(
            "discount", 0.0
        )
        if not math.isclose(expected, total, abs_tol=0.015):
            raise ValueError(
                f"total {total:.2f} does not equal lines minus discount ({expected:.2f})"
            )
        return total


class PurchaseReturned(_Base):
    """Goods of an earlier order came back (a refund or return); its points are clawed back.

    ``amount`` is the money refunded; ``lines`` say which goods, when the till knows.
    """

    type: Literal["purchase_returned"] = "purchase_returned"
    order_id: Text
    amount: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    lines: Annotated[list[PurchaseLine], Field(max_length=500)] = Field(default_factory=list)
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    reason: Text | None = None


class ProductView(_Base):
    type: Literal["product_view"] = "product_view"
    sku: Text
    category: Text


class CartAdd(_Base):
    type: Literal["cart_add"] = "cart_add"
    cart_id: Text
    sku: Text
    category: Text
    quantity: Annotated[int, Field(gt=0, le=10_000)] = 1
    unit_price: Money


class CartAbandoned(_Base):
    type: Literal["cart_abandoned"] = "cart_abandoned"
    cart_id: Text
    value: Money
    skus: list[Text] = Field(default_factory=list)


class Consent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Channel
    purpose: Purpose
    granted: bool


class _ProfileFields(_Base):
    """Personal attributes a member states about themselves."""

    first_name: Text | None = None
    last_name: Text | None = None
    birthday: date | None = None
    postcode: Annotated[str, Field(min_length=1, max_length=20)] | None = None
    timezone: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    preferences: dict[str, str | bool | int | float] = Field(default_factory=dict)
    consents: list[Consent] = Field(default_factory=list)


class Signup(_ProfileFields):
    type: Literal["signup"] = "signup"


class ProfileUpdate(_ProfileFields):
    type: Literal["profile_update"] = "profile_update"


class AppOpen(_Base):
    type: Literal["app_open"] = "app_open"
    app_version: Text | None = None


class _Message(_Base):
    message_id: Text
    channel: Channel
    campaign_id: Text | None = None
    action_id: Text | None = None


class MessageDelivered(_Message):
    type: Literal["message_delivered"] = "message_delivered"


class MessageOpened(_Message):
    type: Literal["message_opened"] = "message_opened"


class MessageClicked(_Message):
    type: Literal["message_clicked"] = "message_clicked"
    url: Annotated[str, Field(max_length=2000)] | None = None


class MessageUnsubscribed(_Message):
    type: Literal["message_unsubscribed"] = "message_unsubscribed"
    purpose: Purpose = Purpose.MARKETING


class OfferRedeemed(_Base):
    type: Literal["offer_redeemed"] = "offer_redeemed"
    offer_id: Text
    order_id: Text | None = None
    value: Money = 0.0


class RewardRedeemed(_Base):
    """A member asked for a reward from the catalogue at a till, app or kiosk (a burn).

    The ledger prices it; when the points do not cover it, the redemption is refused and
    recorded as such (the event itself stays valid).
    """

    type: Literal["reward_redeemed"] = "reward_redeemed"
    reward_id: Text
    quantity: Annotated[int, Field(gt=0, le=100)] = 1
    order_id: Text | None = None


class ServiceTicketOpened(_Base):
    type: Literal["service_ticket_opened"] = "service_ticket_opened"
    ticket_id: Text
    topic: Text
    priority: Literal["low", "normal", "high", "urgent"] = "normal"


class ServiceTicketClosed(_Base):
    type: Literal["service_ticket_closed"] = "service_ticket_closed"
    ticket_id: Text
    resolution: Text | None = None


class Feedback(_Base):
    type: Literal["feedback"] = "feedback"
    text: Annotated[str, Field(max_length=5000)] = ""
    rating: Annotated[int, Field(ge=1, le=5)] | None = None
    order_id: Text | None = None


Event = Annotated[
    Purchase
    | PurchaseReturned
    | ProductView
    | CartAdd
    | CartAbandoned
    | Signup
    | ProfileUpdate
    | AppOpen
    | MessageDelivered
    | MessageOpened
    | MessageClicked
    | MessageUnsubscribed
    | OfferRedeemed
    | RewardRedeemed
    | ServiceTicketOpened
    | ServiceTicketClosed
    | Feedback,
    Field(discriminator="type"),
]

EVENT_TYPES: tuple[str, ...] = (
    "purchase",
    "purchase_returned",
    "product_view",
    "cart_add",
    "cart_abandoned",
    "signup",
    "profile_update",
    "app_open",
    "message_delivered",
    "message_opened",
    "message_clicked",
    "message_unsubscribed",
    "offer_redeemed",
    "reward_redeemed",
    "service_ticket_opened",
    "service_ticket_closed",
    "feedback",
)
