"""The in-app inbox: ``GET /v1/members/{identifier}/inbox`` and marking a message read.

The channels' in-app adapter writes the messages; the app reads them here by any of the
member's identifiers, as the other member routes do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query

from nextbest.api.deps import EngineDep, InboxReadKey, InboxWriteKey, NoNul, SettingsDep
from nextbest.api.problems import openapi_responses
from nextbest.channels.inbox import list_inbox, mark_read, unread_count
from nextbest.profiles.read import resolve_member

router = APIRouter(prefix="/v1", tags=["inbox"], dependencies=[NoNul])


@router.get(
    "/members/{identifier}/inbox",
    responses=openapi_responses(401, 403, 404),
    summary="A member's in-app messages, newest first",
)
def get_inbox(
    identifier: str,
    engine: EngineDep,
    settings: SettingsDep,
    _key: InboxReadKey,
    unread: bool = Query(False, description="Only messages not read yet."),
    limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    with engine.connect() as conn:
        member = resolve_member(conn, identifier, region=settings.default_region)
        messages = list_inbox(conn, member, unread_only=unread, limit=limit)
        unread_n = unread_count(conn, member)
    return {"member_id": member, "unread": unread_n, "messages": messages}


@router.post(
    "/members/{identifier}/inbox/{message_id}/read",
    responses=openapi_responses(401, 403, 404),
    summary="Mark one in-app message read (again is a no-op)",
)
def post_read(
    identifier: str, message_id: str, engine: EngineDep, settings: SettingsDep, _key: InboxWriteKey
) -> dict[str, Any]:
    with engine.connect() as conn:
        member = resolve_member(conn, identifier, region=settings.default_region)
    return mark_read(engine, member, message_id, now=datetime.now(UTC))
