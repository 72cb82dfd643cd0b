"""What became of a sent message, as canonical events (``message_delivered``,
``message_opened``, ``message_clicked``) addressed to the member it went to: what decisions,
journeys and experiments learn from. One event per delivery, per open, per click target."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy import Connection, select

from nextbest.channels.recipients import event_identifiers, recipient
from nextbest.store import tables as t

EVENT_ID_MAX = 128
Outcome = Literal["delivered", "opened", "clicked"]


def outcome_event_id(kind: str, message_id: str, detail: str = "") -> str:
    """The id of the ``kind`` event of a message (one open; one click per target), short
    enough for the event store.

    >>> outcome_event_id("opened", "j:i1:3")
    'opened:j:i1:3'
    >>> outcome_event_id("clicked", "j:i1:3", "https://bb.test/").startswith("clicked:j:i1:3:")
    True
    >>> len(outcome_event_id("delivered", "x" * 300)) <= 128
    True
    """
    suffix = f":{hashlib.sha256(detail.encode()).hexdigest()[:16]}" if detail else ""
    event_id = f"{kind}:{message_id}{suffix}"
    if len(event_id) <= EVENT_ID_MAX:
        return event_id
    return f"{kind}:{hashlib.sha256((message_id + suffix).encode()).hexdigest()}"


def message_event(
    kind: Outcome,
    message_id: str,
    *,
    identifiers: Mapping[str, Any],
    channel: str,
    journey_id: str | None,
    data: Mapping[str, Any],
    at: datetime,
    url: str | None = None,
) -> dict[str, Any]:
    """The canonical event of one outcome of a message (``data``: the message's own, whose
    ``action`` names the decided action, if any)."""
    action = data.get("action")
    event: dict[str, Any] = {
        "type": f"message_{kind}",
        "event_id": outcome_event_id(kind, message_id, url or ""),
        "occurred_at": at.isoformat(),
        "source": channel,
        "identifiers": dict(identifiers),
        "message_id": message_id,
        "channel": channel,
        "campaign_id": journey_id,
        "action_id": action.get("id") if isinstance(action, Mapping) else None,
    }
    if kind == "clicked":
        event["url"] = url
    return event


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
    return message_event(
        kind,
        message_id,
        identifiers=ids,
        channel=row.channel,
        journey_id=row.journey_id,
        data=orjson.loads(row.data),
        at=now,
        url=url,
    )
