"""``GET /v1/audit``: the append-only audit log, newest first (permission ``audit:read``).

Merges, unmerges, review decisions, ledger adjustments and reversals, and API key creation
and revocation each leave an entry naming the actor, the action and the subject.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from nextbest.api.deps import ROW_ID_MAX, AuditReadKey, EngineDep, NoNul
from nextbest.api.problems import openapi_responses
from nextbest.store import audit

router = APIRouter(prefix="/v1", tags=["audit"], dependencies=[NoNul])


class AuditEntry(BaseModel):
    audit_id: int
    at: datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]


@router.get(
    "/audit",
    responses=openapi_responses(401, 403, 422),
    summary="The audit log, newest first",
)
def get_audit(
    engine: EngineDep,
    _key: AuditReadKey,
    subject: str | None = Query(None, max_length=200, description="e.g. a member id, key:<id>"),
    action: str | None = Query(None, max_length=64, description="e.g. merge, api_key_revoke"),
    before: int | None = Query(
        None, ge=1, le=ROW_ID_MAX, description="Only entries older than this audit_id."
    ),
    limit: int = Query(100, ge=1, le=1000),
) -> list[AuditEntry]:
    with engine.connect() as conn:
        rows = audit.entries(conn, subject, limit, action=action, before=before)
    # SQLite hands back naive datetimes; every time we store is UTC.
    return [
        AuditEntry.model_validate({**row, "at": row["at"].replace(tzinfo=row["at"].tzinfo or UTC)})
        for row in rows
    ]
