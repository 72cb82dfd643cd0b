"""Opens and clicks of a sent message as canonical events (``message_opened`` and
``message_clicked``), addressed to the member the message went to."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy import Connection, select

from nextbest.channels.recipients import event_identifiers, recipient
from nextbest.channels.tracking import outcome_event_id
from nextbest.store import tables as t


def engagement_event(
    conn: Connection,
    message_id: str,
    kind: Literal["opened", "clicked"],
    *,
    now: datetime,
    url: str | None = None,
) -> dict[str, Any] | None:
    """The event for one open or click of a sent message; None when the message is unknown
    or its member has no identifier to address an event by. Its id makes a repeat harmless:
    one open per message, one click per message and target."""
    row = conn.execute(
        select(
            t.deliveries.c.member_id,
            t.deliveries.c.channel,
            t.deliveries.c.journey_id,
            t.deliveries.c.data,
        ).where(t.deliveries.c.message_id == message_id, t.deliveries.c.status == "sent")
    ).first()
    if row is None:
        return None
    ids = event_identifiers(recipient(conn, row.member_id, now=now).keys)
    if ids is None:
        return None
    action = orjson.loads(row.data).get("action")
    event: dict[str, Any] = {
        "type": f"message_{kind}",
        "event_id": outcome_event_id(kind, message_id, url or ""),
        "occurred_at": now.isoformat(),
        "source": row.channel,
        "identifiers": ids,
        "message_id": message_id,
        "channel": row.channel,
        "campaign_id": row.journey_id,
        "action_id": action.get("id") if isinstance(action, Mapping) else None,
    }
    if kind == "clicked":
        event["url"] = url
    return event
