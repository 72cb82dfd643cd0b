"""What the channels deliver and what an adapter reports back: plain frozen values.

A journey step or a decision builds an ``OutboundMessage`` and enqueues it in its own
transaction; the dispatcher renders it (``Rendered``) and hands it to the channel's adapter,
which answers with a ``DeliveryResult``. No IO here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CHANNELS = ("email", "sms", "push", "in_app", "webhook", "direct_mail")
PURPOSES = ("marketing", "loyalty", "service")
PRIORITIES = ("service", "retention", "marketing")
MESSAGE_ID_MAX = 200


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message to one member on one channel.

    ``message_id`` is the idempotency key: enqueueing it twice keeps one row, and it is
    delivered at most once. ``governed`` says a decision already took the contact slots, so
    the dispatcher must not count the contact against caps a second time.
    """

    message_id: str
    member_id: str
    channel: str
    template: str
    purpose: str = "marketing"
    priority: str = "marketing"
    data: Mapping[str, Any] = field(default_factory=dict)
    journey_id: str | None = None
    step: str | None = None
    send_at: datetime | None = None
    governed: bool = False

    def __post_init__(self) -> None:
        # Channel, purpose and priority are checked at dispatch, where a bad one becomes a
        # visible dead letter instead of an error inside the enqueuing caller's transaction.
        if not self.message_id or len(self.message_id) > MESSAGE_ID_MAX:
            raise ValueError(f"message_id must have 1 to {MESSAGE_ID_MAX} characters")


@dataclass(frozen=True, slots=True)
class Rendered:
    """A template rendered for one member: ``subject`` doubles as the push or inbox title."""

    subject: str
    text: str
    html: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What an adapter says: delivered (with the provider's id), or why not and whether
    another attempt may succeed."""

    ok: bool
    retryable: bool = False
    provider_id: str | None = None
    error: str | None = None

    @staticmethod
    def delivered(provider_id: str | None) -> DeliveryResult:
        return DeliveryResult(ok=True, provider_id=provider_id)

    @staticmethod
    def failed(error: str, *, retryable: bool) -> DeliveryResult:
        return DeliveryResult(ok=False, retryable=retryable, error=error)
