"""Helpers for the API tests: valid events and auth headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

BASE_TIME = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)


def purchase(n: int, *, email: str | None = None, **identifiers: str) -> dict[str, Any]:
    """A valid purchase; ``n`` makes the event id and the time."""
    ids: dict[str, str] = dict(identifiers)
    if email:
        ids["email"] = email
    return {
        "type": "purchase",
        "event_id": f"p-{n}",
        "occurred_at": (BASE_TIME + timedelta(minutes=n)).isoformat(),
        "source": "pos",
        "identifiers": ids,
        "order_id": f"o-{n}",
        "lines": [{"sku": "latte", "category": "coffee", "quantity": 2, "unit_price": 3.5}],
        "total": 7.0,
    }


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
