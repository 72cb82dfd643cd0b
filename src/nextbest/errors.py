"""The error hierarchy of the core. HTTP status mapping lives in ``nextbest.api.problems``."""

from __future__ import annotations


class NextbestError(Exception):
    """Base of every error nextbest raises on purpose."""


class InvalidEvent(NextbestError, ValueError):
    """An event failed validation; names the record, the field and the reason."""

    def __init__(self, *, record: str, field: str, reason: str) -> None:
        self.record = record
        self.field = field
        self.reason = reason
        super().__init__(f"{record}: {field}: {reason}")


class NotFound(NextbestError, LookupError):
    """The thing asked for does not exist."""


class Conflict(NextbestError):
    """The request conflicts with the current state (e.g. a reused idempotency key)."""


class Unauthorized(NextbestError):
    """Missing or unknown credentials."""


class Forbidden(NextbestError):
    """Known credentials without the permission the operation needs."""


class InsufficientPoints(NextbestError):
    """A burn or debit asked for more points than the account holds."""

    def __init__(self, *, member_id: str, needed: int, available: int, currency: str) -> None:
        self.member_id = member_id
        self.needed = needed
        self.available = available
        self.currency = currency
        super().__init__(
            f"insufficient points: member {member_id} has {available} {currency}, needs {needed}"
        )


class InvalidRequest(NextbestError, ValueError):
    """A request that can never succeed as sent (unknown reward, zero points, no reason)."""
