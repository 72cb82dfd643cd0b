"""The audit log in the console: every configuration change, points adjustment, merge,
unmerge, approval and login, newest first, filtered by subject or action, paged."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from nextbest.console.web import AuditRead, engine_of, render
from nextbest.store import audit

router = APIRouter(prefix="/console")
PAGE = 100


@router.get("/audit")
async def audit_page(
    request: Request,
    _session: AuditRead,
    subject: str | None = Query(None, max_length=320),
    action: str | None = Query(None, max_length=64),
    before: int | None = Query(None, ge=1),
) -> Response:
    def read() -> list[dict[str, object]]:
        with engine_of(request).connect() as conn:
            return audit.entries(
                conn, subject or None, PAGE + 1, action=action or None, before=before
            )

    rows = await run_in_threadpool(read)
    older = rows[PAGE - 1]["audit_id"] if len(rows) > PAGE else None
    return render(
        request,
        "audit.html.j2",
        {
            "rows": rows[:PAGE],
            "subject": subject or "",
            "action": action or "",
            "older": older,
        },
    )
