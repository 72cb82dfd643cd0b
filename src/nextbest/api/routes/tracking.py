"""Email engagement: ``GET /v1/track/open`` (the pixel) and ``GET /v1/track/click`` (a link).

No API key: the links sit in members' mailboxes. Each carries an HMAC over the message id
(and the target), so an open cannot be forged for another message and the click route is no
open redirect. Opens and clicks become ``message_opened`` and ``message_clicked`` events.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Query, Response
from fastapi.responses import RedirectResponse

from nextbest.api.deps import EngineDep, IngestorDep, NoNul, SettingsDep, WriteLock
from nextbest.api.problems import openapi_responses
from nextbest.channels.engagement import engagement_event
from nextbest.channels.tracking import MAC_HEX, PIXEL, verify
from nextbest.config import Settings
from nextbest.errors import NotFound
from nextbest.ingest.pipeline import Ingestor
from nextbest.ingest.records import RawRecord

router = APIRouter(prefix="/v1/track", tags=["tracking"], dependencies=[NoNul])
ORIGIN = "tracking"
NO_STORE = {"Cache-Control": "no-store, max-age=0"}
# A signature is hex (the HMAC compare refuses other characters with a TypeError).
SIGNATURE = f"^[0-9a-f]{{{MAC_HEX}}}$"


def _checked(settings: Settings, kind: str, message_id: str, signature: str, url: str = "") -> None:
    secret = settings.tracking_secret
    if secret is None or not verify(secret.get_secret_value(), kind, message_id, signature, url):
        raise NotFound("no such tracking link")


def _record(
    ingestor: Ingestor,
    lock: AbstractContextManager[Any],
    event: dict[str, Any] | None,
    message_id: str,
) -> None:
    if event is None:  # sent to nobody we can name: the pixel still answers
        return
    raw = orjson.dumps(event).decode()
    record = RawRecord(location=f"{ORIGIN}:{message_id}", data=event, raw=raw)
    with lock:
        ingestor.ingest_records([record], origin=ORIGIN)


@router.get(
    "/open",
    responses=openapi_responses(404),
    summary="An email's open pixel: records message_opened once per message",
    response_class=Response,
)
def get_open(
    engine: EngineDep,
    ingestor: IngestorDep,
    settings: SettingsDep,
    lock: WriteLock,
    m: str = Query(..., max_length=200, description="The message id."),
    s: str = Query(..., pattern=SIGNATURE, description="The link's signature."),
) -> Response:
    _checked(settings, "open", m, s)
    with engine.connect() as conn:
        event = engagement_event(conn, m, "opened", now=datetime.now(UTC))
    _record(ingestor, lock, event, m)
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


@router.get(
    "/click",
    responses=openapi_responses(404),
    summary="A tracked email link: records message_clicked, then redirects to the target",
    response_class=RedirectResponse,
    status_code=302,
)
def get_click(
    engine: EngineDep,
    ingestor: IngestorDep,
    settings: SettingsDep,
    lock: WriteLock,
    m: str = Query(..., max_length=200, description="The message id."),
    u: str = Query(..., max_length=2000, description="Where the link goes."),
    s: str = Query(..., pattern=SIGNATURE, description="The link's signature."),
) -> RedirectResponse:
    _checked(settings, "click", m, s, u)
    with engine.connect() as conn:
        event = engagement_event(conn, m, "clicked", now=datetime.now(UTC), url=u)
    _record(ingestor, lock, event, m)
    return RedirectResponse(u, status_code=302, headers=NO_STORE)
