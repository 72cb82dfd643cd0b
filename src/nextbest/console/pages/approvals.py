"""Approvals: proposed changes wait here for a person with approve rights (never the one who
proposed them). Approving a catalogue change swaps it into this process's decisions at once.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from nextbest.agents import proposals
from nextbest.agents.changes import InvalidChange
from nextbest.console.web import (
    ApprovalsDecide,
    ApprovalsRead,
    engine_of,
    redirect,
    render,
    settings_of,
)
from nextbest.errors import Conflict, Forbidden, NotFound

router = APIRouter(prefix="/console")
PENDING_SHOWN = 100
DECIDED_SHOWN = 50
PAGE = "/console/approvals"
REFUSED = (Conflict, Forbidden, NotFound, InvalidChange)


@router.get("/approvals")
async def approvals_page(request: Request, session: ApprovalsRead) -> Response:
    db = engine_of(request)

    def read() -> tuple[list[proposals.Proposal], list[proposals.Proposal]]:
        pending = proposals.list_proposals(db, statuses=[proposals.PENDING], limit=PENDING_SHOWN)
        decided = proposals.list_proposals(
            db, statuses=[proposals.APPROVED, proposals.REJECTED], limit=DECIDED_SHOWN
        )
        return pending, decided

    pending, decided = await run_in_threadpool(read)
    return render(
        request,
        "approvals.html.j2",
        {
            "pending": pending,
            "decided": decided,
            "can_decide": session.user.allows("approvals:decide"),
            "actor": session.user.actor,
        },
    )


@router.post("/approvals/{proposal_id}/approve")
async def approve(
    request: Request,
    proposal_id: str,
    session: ApprovalsDecide,
    note: str = Form("", max_length=proposals.MAX_NOTE),
) -> Response:
    try:
        approved = await run_in_threadpool(
            lambda: proposals.approve(
                engine_of(request),
                settings_of(request),
                proposal_id,
                actor=session.user.actor,
                note=note,
            )
        )
    except REFUSED as exc:
        return redirect(PAGE, error=f"Not approved: {exc}")
    if approved.catalogue is not None:
        request.app.state.decisions.use_catalogue(approved.catalogue)
    p = approved.proposal
    return redirect(PAGE, flash=f"Approved and applied: {p.kind} {p.target}.")


@router.post("/approvals/{proposal_id}/reject")
async def reject(
    request: Request,
    proposal_id: str,
    session: ApprovalsDecide,
    note: str = Form("", max_length=proposals.MAX_NOTE),
) -> Response:
    try:
        p = await run_in_threadpool(
            lambda: proposals.reject(
                engine_of(request), proposal_id, actor=session.user.actor, note=note
            )
        )
    except REFUSED as exc:
        return redirect(PAGE, error=f"Not rejected: {exc}")
    return redirect(PAGE, flash=f"Rejected: {p.kind} {p.target}; nothing changed.")
