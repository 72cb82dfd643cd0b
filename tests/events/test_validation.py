from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nextbest.events import EVENT_ADAPTER, check_event
from nextbest.events.flat import flatten, unflatten

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
TOL = timedelta(minutes=5)


def purchase(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "purchase",
        "event_id": "e1",
        "occurred_at": "2026-05-01T08:00:00+02:00",
        "source": "pos",
        "identifiers": {"pos_card": " c-1 ", "email": " Jane@Example.COM"},
        "order_id": "o1",
        "lines": [{"sku": "latte", "category": "coffee", "quantity": 2, "unit_price": 3.5}],
        "total": 7.0,
    }
    base.update(over)
    return base


def test_valid_purchase_normalises_identifiers() -> None:
    event = check_event(purchase(), now=NOW, future_tolerance=TOL)
    assert not isinstance(event, tuple)
    assert event.identifiers.keys() == ["email:jane@example.com", "pos_card:C-1"]


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        (purchase(type="teleport"), "type", "unknown event type 'teleport'"),
        ({"event_id": "x"}, "type", "missing event type"),
        (purchase(total="abc"), "total", "valid number"),
        (purchase(total=9.0), "total", "does not equal lines"),
        (purchase(event_id=""), "event_id", "at least 1 character"),
        (purchase(occurred_at="2026-05-01T08:00:00"), "occurred_at", "timezone"),
        (purchase(occurred_at="2026-07-01T08:00:00+00:00"), "occurred_at", "in the future"),
        (purchase(identifiers={"email": "not-an-email"}), "identifiers.email", "not an email"),
        (purchase(identifiers={"phone": "12"}), "identifiers.phone", "phone"),
        (purchase(colour="red"), "colour", "Extra inputs"),
        (
            purchase(lines=[{"sku": "a", "category": "c", "quantity": 0, "unit_price": 1}]),
            "lines.0.quantity",
            "greater than 0",
        ),
    ],
)
def test_rejections_name_field_and_reason(record: dict[str, Any], field: str, reason: str) -> None:
    result = check_event(record, now=NOW, future_tolerance=TOL)
    assert isinstance(result, tuple), result
    assert result[0] == field
    assert reason in result[1]


def test_json_round_trip_and_flat_round_trip() -> None:
    event = EVENT_ADAPTER.validate_python(purchase())
    again = EVENT_ADAPTER.validate_json(event.model_dump_json())
    assert again == event
    flat = flatten(event.model_dump(mode="json", exclude_none=True))
    assert EVENT_ADAPTER.validate_python(unflatten(flat)) == event


def test_phone_without_country_code_is_read_in_the_given_region() -> None:
    record = purchase(identifiers={"phone": "020 7946 0018"})
    uk = check_event(record, now=NOW, future_tolerance=TOL, region="GB")
    assert not isinstance(uk, tuple)
    assert uk.identifiers.phone == "+442079460018"
    us = check_event(
        purchase(identifiers={"phone": "(415) 555-0134"}), now=NOW, future_tolerance=TOL
    )
    assert not isinstance(us, tuple)
    assert us.identifiers.phone == "+14155550134"
