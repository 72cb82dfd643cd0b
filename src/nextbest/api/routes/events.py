"""``POST /v1/events``: one event, an array of events, or ``{"events": [...]}``."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from pydantic import BaseModel

from nextbest.api.deps import EventsWriteKey, IngestorDep, NoNulOutsideBody, RawBody, WriteLock
from nextbest.api.problems import BatchRejected, openapi_responses
from nextbest.errors import InvalidEvent
from nextbest.ingest.records import RawRecord

# The body is checked per event (a NUL in one is that event's rejection, not the batch's).
router = APIRouter(prefix="/v1", tags=["events"], dependencies=[NoNulOutsideBody])

MAX_EVENTS = 10_000
ORIGIN = "http"


class RejectionOut(BaseModel):
    location: str
    field: str
    reason: str
    event_id: str | None = None


class IngestResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    members_created: int
    merges: int
    anonymous: int = 0
    rejections: list[RejectionOut]


def _invalid(reason: str, field: str = "(body)") -> InvalidEvent:
    return InvalidEvent(record="body", field=field, reason=reason)


def records_from_body(body: bytes) -> list[RawRecord]:
    """Decode the request body into records located ``events[i]``.

    A body that is not JSON, or holds neither an object nor an array, is refused as a whole;
    an array element that is not an object becomes a record carrying its decode error.
    """
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _invalid(f"not JSON: {exc}") from None
    items: Any
    if isinstance(decoded, dict) and "events" in decoded and "type" not in decoded:
        items = decoded["events"]
        if not isinstance(items, list):
            raise _invalid(f"expected an array, got {type(items).__name__}", "events")
    elif isinstance(decoded, dict):
        items = [decoded]
    elif isinstance(decoded, list):
        items = decoded
    else:
        raise _invalid(f"expected an event object or an array, got {type(decoded).__name__}")
    if not items:
        raise _invalid("no events in the request", "events")
    if len(items) > MAX_EVENTS:
        raise _invalid(f"{len(items)} events in one request; at most {MAX_EVENTS}", "events")
    records = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            # raw is filled in only if the record is refused (prepare dumps it then).
            records.append(RawRecord(location=f"events[{i}]", data=item, raw=""))
        else:
            reason = f"expected a JSON object, got {type(item).__name__}"
            raw = orjson.dumps(item).decode()
            records.append(
                RawRecord(location=f"events[{i}]", data=None, raw=raw, error=("(record)", reason))
            )
    return records


_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": 'One event object, an array of events, or {"events": [...]} '
        f"(at most {MAX_EVENTS} events).",
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "object", "description": "one canonical event"},
                        {"type": "array", "items": {"type": "object"}},
                        {
                            "type": "object",
                            "properties": {
                                "events": {"type": "array", "items": {"type": "object"}}
                            },
                            "required": ["events"],
                        },
                    ]
                }
            }
        },
    }
}


@router.post(
    "/events",
    openapi_extra=_BODY_DOC,
    responses=openapi_responses(400, 401, 403, 422),
    summary="Ingest events (idempotent by event_id)",
)
def post_events(
    body: RawBody, ingestor: IngestorDep, write_lock: WriteLock, _key: EventsWriteKey
) -> IngestResult:
    """Validate, dedupe and ingest; bad records are dead-lettered and listed, never fatal.

    Every valid event is committed before the response. If every record was refused the
    answer is 422 with the reasons; re-sending accepted events counts them as duplicates.
    """
    # Validation needs no lock: requests validate side by side and queue only to write.
    prepared = ingestor.prepare_records(records_from_body(body))
    with write_lock:
        report = ingestor.store_prepared(prepared, origin=ORIGIN)
    rejections = [
        RejectionOut(location=r.location, field=r.field, reason=r.reason, event_id=r.event_id)
        for r in report.rejections
    ]
    if report.rejected and not report.accepted and not report.duplicates:
        raise BatchRejected(
            f"all {report.rejected} event(s) were rejected (kept in the dead-letter store)",
            errors=[r.model_dump() for r in rejections],
        )
    return IngestResult(
        accepted=report.accepted,
        duplicates=report.duplicates,
        rejected=report.rejected,
        members_created=report.members_created,
        merges=report.merges,
        anonymous=report.anonymous,
        rejections=rejections,
    )
