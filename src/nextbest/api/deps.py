"""Annotated dependency aliases shared by the routes."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import Engine

from nextbest.api.keys_store import ApiKey
from nextbest.api.problems import InvalidHeader
from nextbest.api.security import require_permission
from nextbest.config import Settings
from nextbest.ingest.pipeline import Ingestor
from nextbest.ledger.service import Ledger

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 255
# The largest id an integer primary key holds on every database (PostgreSQL's serial is 32
# bits): a larger one in a request is a 422 naming the field, not a driver overflow (500).
ROW_ID_MAX = 2**31 - 1


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def _ingestor(request: Request) -> Ingestor:
    ingestor: Ingestor = request.app.state.ingestor
    return ingestor


async def _ledger(request: Request) -> Ledger:
    ledger: Ledger = request.app.state.ledger
    return ledger


async def _idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            description="Required: a retry with the same key and body does nothing twice.",
        ),
    ] = None,
) -> str:
    """The write's idempotency key; missing or malformed is a 400 naming the header."""
    if key is None or not key.strip():
        raise InvalidHeader(
            IDEMPOTENCY_HEADER, "this write needs the header, so a retry cannot apply it twice"
        )
    key = key.strip()
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise InvalidHeader(
            IDEMPOTENCY_HEADER, f"{len(key)} characters; at most {IDEMPOTENCY_KEY_MAX}"
        )
    return key


async def _write_lock(request: Request) -> AbstractContextManager[Any]:
    lock: AbstractContextManager[Any] = request.app.state.write_lock
    return lock


async def _raw_body(request: Request) -> bytes:
    # Read on the event loop (cheap IO); parsing happens in the threadpool route.
    return await request.body()


NUL = "\x00"
_NUL_REASON = "contains a NUL character (\\x00), which no store can hold"


def _nul_at(value: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
    """Where the first string (or object key) holding NUL is in a decoded JSON value."""
    if isinstance(value, str):
        return loc if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if NUL in key:
                return (*loc, key.replace(NUL, "\\x00"))
            if (found := _nul_at(item, (*loc, key))) is not None:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            if (found := _nul_at(item, (*loc, i))) is not None:
                return found
    return None


def _refused(loc: tuple[str | int, ...]) -> RequestValidationError:
    return RequestValidationError([{"loc": loc, "msg": _NUL_REASON, "type": "string_nul"}])


class RefuseNul:
    """A router dependency: a request with NUL in a path or query parameter, a header or
    (``body=True``) a string of its JSON body is a 422 naming the field.

    PostgreSQL text cannot hold NUL and no id, identifier or reason needs one; refused
    here, it never reaches a query as a driver error (500). The events route checks its
    body per record instead (``nextbest.events.validate``), so one bad event is
    dead-lettered and the others still land.
    """

    def __init__(self, *, body: bool = True) -> None:
        self.body = body

    async def __call__(self, request: Request) -> None:
        sources = (
            ("path", request.path_params.items()),
            ("query", request.query_params.multi_items()),
            ("header", request.headers.items()),
        )
        for where, items in sources:
            for name, value in items:
                if NUL in name or NUL in str(value):
                    raise _refused((where, name.replace(NUL, "\\x00")))
        if not self.body:
            return
        raw = await request.body()
        # NUL reaches a JSON string only escaped; a raw NUL byte is not valid JSON anyway.
        if b"\\u0000" in raw:
            try:
                decoded = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return  # the route's own parsing answers for that
            if (found := _nul_at(decoded, ("body",))) is not None:
                raise _refused(found)


NoNul = Depends(RefuseNul())
NoNulOutsideBody = Depends(RefuseNul(body=False))

SettingsDep = Annotated[Settings, Depends(_settings)]
EngineDep = Annotated[Engine, Depends(_engine)]
IngestorDep = Annotated[Ingestor, Depends(_ingestor)]
LedgerDep = Annotated[Ledger, Depends(_ledger)]
IdempotencyKey = Annotated[str, Depends(_idempotency_key)]
RawBody = Annotated[bytes, Depends(_raw_body)]
WriteLock = Annotated[AbstractContextManager[Any], Depends(_write_lock)]

# One alias per permission (the table is ``nextbest.api.roles``); a route takes exactly one.
_Key = ApiKey | None
EventsWriteKey = Annotated[_Key, Depends(require_permission("events:write"))]
MembersReadKey = Annotated[_Key, Depends(require_permission("members:read"))]
MembersWriteKey = Annotated[_Key, Depends(require_permission("members:write"))]
LedgerReadKey = Annotated[_Key, Depends(require_permission("ledger:read"))]
LedgerRedeemKey = Annotated[_Key, Depends(require_permission("ledger:redeem"))]
LedgerAdjustKey = Annotated[_Key, Depends(require_permission("ledger:adjust"))]
DecideKey = Annotated[_Key, Depends(require_permission("decisions:decide"))]
DecisionsReadKey = Annotated[_Key, Depends(require_permission("decisions:read"))]
InboxReadKey = Annotated[_Key, Depends(require_permission("inbox:read"))]
InboxWriteKey = Annotated[_Key, Depends(require_permission("inbox:write"))]
ConsentsWriteKey = Annotated[_Key, Depends(require_permission("consents:write"))]
AuditReadKey = Annotated[_Key, Depends(require_permission("audit:read"))]
PrivacyEraseKey = Annotated[_Key, Depends(require_permission("privacy:erase"))]

# Names from before roles, kept for routes not yet moved to a permission of their own.
IngestKey = EventsWriteKey
ReadKey = MembersReadKey
AdminKey = PrivacyEraseKey  # admin only (the privacy routes)
