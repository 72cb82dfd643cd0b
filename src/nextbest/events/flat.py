"""The flat row layout of events in CSV and Parquet files.

JSON Lines carry events in their nested canonical form. Tabular files carry one column per
field instead: identifiers as ``identifiers.<kind>`` columns, and list or dict fields
(``lines``, ``skus``, ``consents``, ``preferences``, ``identifiers.external_ids``) as JSON
text. Empty cells mean "absent". ``unflatten`` turns such a row back into the nested record.

>>> unflatten({"event_id": "e1", "type": "app_open", "identifiers.device_id": "d1",
...            "order_id": None, "lines": "", "schema_version": "1"})
{'event_id': 'e1', 'type': 'app_open', 'schema_version': 1, 'identifiers': {'device_id': 'd1'}}
"""

from __future__ import annotations

from typing import Any

import orjson

BASE_COLUMNS = ("event_id", "type", "schema_version", "occurred_at", "source")
IDENTIFIER_COLUMNS = (
    "identifiers.email",
    "identifiers.phone",
    "identifiers.device_id",
    "identifiers.loyalty_id",
    "identifiers.pos_card",
    "identifiers.external_ids",
)
JSON_COLUMNS = frozenset({"lines", "skus", "consents", "preferences", "identifiers.external_ids"})
FIELD_COLUMNS = (
    "order_id",
    "lines",
    "discount",
    "total",
    "currency",
    "store_id",
    "channel",
    "sku",
    "category",
    "cart_id",
    "quantity",
    "unit_price",
    "value",
    "skus",
    "first_name",
    "last_name",
    "birthday",
    "postcode",
    "timezone",
    "preferences",
    "consents",
    "app_version",
    "message_id",
    "campaign_id",
    "action_id",
    "url",
    "purpose",
    "offer_id",
    "reward_id",
    "amount",
    "reason",
    "ticket_id",
    "topic",
    "priority",
    "resolution",
    "text",
    "rating",
)
FLAT_COLUMNS: tuple[str, ...] = BASE_COLUMNS + IDENTIFIER_COLUMNS + FIELD_COLUMNS


class FlatRowError(ValueError):
    """A cell could not be decoded; ``field`` names the column."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        super().__init__(reason)


def _plan(column: str) -> tuple[bool, bool, str]:
    """(decode JSON?, identifier?, target key) for a column, computed once per name."""
    plan = _PLANS.get(column)
    if plan is None:
        is_id = column.startswith("identifiers.")
        plan = _PLANS[column] = (
            column in JSON_COLUMNS,
            is_id,
            column[12:] if is_id else column,
        )
    return plan


_PLANS: dict[str, tuple[bool, bool, str]] = {}


def unflatten(row: dict[str, Any]) -> dict[str, Any]:
    """Nested record from a flat row; drops empty cells, decodes JSON columns."""
    out: dict[str, Any] = {}
    idents: dict[str, Any] = {}
    for column, value in row.items():
        if value is None or value == "":
            continue
        is_json, is_id, key = _PLANS.get(column) or _plan(column)
        if is_json and isinstance(value, str | bytes):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError as exc:
                raise FlatRowError(column, f"not valid JSON: {exc}") from None
        if is_id:
            idents[key] = value
        elif key == "schema_version" and isinstance(value, str) and value.isdigit():
            out[key] = int(value)  # CSV cells are text; the version is a literal number
        else:
            out[key] = value
    if idents:
        out["identifiers"] = idents
    return out


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """Flat row from a nested record (inverse of ``unflatten`` for valid events).

    >>> flatten({"event_id": "e1", "identifiers": {"email": "a@b.co"}, "skus": ["x"]})
    {'event_id': 'e1', 'identifiers.email': 'a@b.co', 'skus': '["x"]'}
    """
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "identifiers":
            for kind, ident in (value or {}).items():
                column = f"identifiers.{kind}"
                out[column] = orjson.dumps(ident).decode() if column in JSON_COLUMNS else ident
        elif key in JSON_COLUMNS:
            out[key] = orjson.dumps(value).decode()
        else:
            out[key] = value
    return out
