"""Console pages: member search and the member 360 view, with its four forms.

``/console/members?q=`` finds a member by any identifier (one hit: straight to the page).
``/console/members/{id}`` shows the profile, identity graph and merges, ledger, timeline,
scores and the next best action right now (a preview: nothing is logged or reserved). The
forms post to ``.../unmerge`` (members:write), ``.../adjust`` (ledger:adjust),
``.../consents`` and ``.../preferences`` (consents:write). A refused form shows the page
again with the reason and what was typed; a done one redirects back with a flash message.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from nextbest.api.routes.ledger import MAX_ADJUSTMENT
from nextbest.console import member360
from nextbest.console.web import (
    ConsentsWrite,
    LedgerAdjust,
    MembersRead,
    MembersWrite,
    engine_of,
    redirect,
    render,
    settings_of,
)
from nextbest.errors import Conflict, InsufficientPoints, InvalidRequest, NextbestError, NotFound
from nextbest.identity.hashing import key_hasher
from nextbest.ledger.service import Ledger
from nextbest.members.consents import Submit, changes_from, record_consents
from nextbest.members.preferences import record_preferences
from nextbest.members.unmerge import unmerge
from nextbest.profiles.read import resolve_member

router = APIRouter(prefix="/console")

# Form values of a consent cell: keep as stated, grant, withdraw.
CONSENT_VALUES = {"yes": True, "no": False}
CONSENT_FIELD = "consent:"
PREFERENCE_FIELD = "pref:"  # one form field per stated preference: pref:<name>
# Status of a refused form, by what refused it.
_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (InsufficientPoints, 409),
    (InvalidRequest, 422),
)


def _status(exc: Exception) -> int:
    return next((code for kind, code in _STATUS if isinstance(exc, kind)), 400)


def _write_lock(request: Request) -> AbstractContextManager[Any]:
    lock: AbstractContextManager[Any] = request.app.state.write_lock
    return lock


def _path(member: str) -> str:
    return f"/console/members/{member}"


def _new_adjust_form() -> dict[str, str]:
    # A fresh key per rendered form: submitting it twice credits once.
    return {"points": "", "reason": "", "key": f"console-{uuid.uuid4().hex}"}


# --- search --------------------------------------------------------------------------------
@router.get("/members")
def search(request: Request, session: MembersRead, q: str = "") -> Response:
    engine, settings = engine_of(request), settings_of(request)
    query = q.strip()[:320]
    if query:
        found = member360.find_member(
            engine,
            query,
            region=settings.default_region,
            hasher=key_hasher(settings.identity_hash_key),
        )
        if found is not None:
            return redirect(_path(found))
    return render(
        request,
        "members.html.j2",
        {
            "q": query,
            "not_found": bool(query),
            "recent": member360.recent_members(engine) if not query else [],
        },
    )


# --- the 360 view --------------------------------------------------------------------------
def _next_action(request: Request, member: str) -> dict[str, Any]:
    """The decision as it would be now, or why there is none; never fails the page."""
    try:
        return {"decision": request.app.state.decisions.preview(member)}
    except Exception as exc:  # any failure of the decision service is shown, not raised
        return {"error": f"{type(exc).__name__}: {exc}"}


def _member_page(
    request: Request,
    member: str,
    *,
    status: int = 200,
    error: str | None = None,
    adjust: dict[str, str] | None = None,
    unmerge_form: dict[str, Any] | None = None,
) -> Response:
    engine, settings = engine_of(request), settings_of(request)
    try:
        view = member360.member_360(engine, member, region=settings.default_region)
    except NotFound as exc:
        return render(
            request,
            "members.html.j2",
            {"q": member, "not_found": True, "error": str(exc), "recent": []},
            status=404,
        )
    ledger: Ledger = request.app.state.ledger
    member_id = view["member_id"]
    return render(
        request,
        "member.html.j2",
        {
            "m": view,
            "ledger": member360.ledger_view(ledger, member_id),
            "events": member360.timeline(engine, member_id),
            "nba": _next_action(request, member_id),
            "page_error": error,
            "adjust": adjust or _new_adjust_form(),
            "unmerge_form": unmerge_form or {},
            "consent_values": CONSENT_VALUES,
            "consent_field": CONSENT_FIELD,
        },
        status=status,
    )


@router.get("/members/{member_id}")
def member_page(request: Request, session: MembersRead, member_id: str) -> Response:
    engine, region = engine_of(request), settings_of(request).default_region
    with engine.connect() as conn:
        try:
            current = resolve_member(conn, member_id, region=region)
        except NotFound:
            current = member_id
    if current != member_id:
        return redirect(_path(current))  # merged away, or an identifier: the member's page
    return _member_page(request, member_id)


# --- forms ---------------------------------------------------------------------------------
@router.post("/members/{member_id}/unmerge")
def unmerge_post(
    request: Request,
    session: MembersWrite,
    member_id: str,
    merge_id: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    block: Annotated[list[str] | None, Form()] = None,
) -> Response:
    engine, settings = engine_of(request), settings_of(request)
    typed = {"merge_id": merge_id, "reason": reason, "block": block or []}

    def refused(message: str, status: int) -> Response:
        return _member_page(request, member_id, status=status, error=message, unmerge_form=typed)

    if not merge_id.strip().isdigit():
        return refused("choose the merge to undo", 422)
    if not reason.strip():
        return refused("an unmerge needs a reason", 422)
    merge = member360.merge_of(engine, member_id, int(merge_id))
    if merge is None:
        return refused(f"merge {merge_id} is not one of this member's merges in force", 404)
    # Only the identifiers that made this merge may be blocked from its form.
    bridge = member360.bridge_keys(merge["identifier"])
    blocked = sorted({k for k in block or () if k in bridge})
    try:
        with _write_lock(request):
            report = unmerge(
                engine,
                settings,
                merge_id=merge["merge_id"],
                actor=session.user.actor,
                reason=reason.strip(),
                block=blocked,
            )
    except NextbestError as exc:
        return refused(str(exc), _status(exc))
    parts = ", ".join(sorted(report.groups))
    return redirect(
        _path(member_id), flash=f"merge {report.merge_id} undone: now separate members {parts}"
    )


@router.post("/members/{member_id}/adjust")
def adjust_post(
    request: Request,
    session: LedgerAdjust,
    member_id: str,
    points: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    idempotency_key: Annotated[str, Form(max_length=255)] = "",
) -> Response:
    engine, region = engine_of(request), settings_of(request).default_region
    typed = {
        "points": points,
        "reason": reason,
        "key": idempotency_key.strip() or _new_adjust_form()["key"],
    }

    def refused(message: str, status: int) -> Response:
        return _member_page(request, member_id, status=status, error=message, adjust=typed)

    try:
        amount = int(points.strip())
    except ValueError:
        return refused(f"points must be a whole number, not {points!r}", 422)
    if abs(amount) > MAX_ADJUSTMENT:
        return refused(f"at most {MAX_ADJUSTMENT:,} points in one adjustment", 422)
    if not reason.strip():
        return refused("an adjustment needs a reason", 422)
    if not idempotency_key.strip():
        return refused("the form lacks its idempotency key; reload the page", 422)
    ledger: Ledger = request.app.state.ledger
    try:
        with engine.connect() as conn:
            member = resolve_member(conn, member_id, region=region)
        with _write_lock(request):
            done = ledger.adjust(
                member_id=member,
                points=amount,
                reason=reason.strip(),
                idempotency_key=idempotency_key.strip(),
                actor=session.user.actor,
            )
    except NextbestError as exc:
        return refused(str(exc), _status(exc))
    if done["replayed"]:
        return redirect(_path(member), flash="this adjustment was already recorded")
    return redirect(_path(member), flash=f"adjusted by {amount:+d} points: {reason.strip()}")


@router.post("/members/{member_id}/consents")
async def consents_post(request: Request, session: ConsentsWrite, member_id: str) -> Response:
    form = await request.form()
    wanted: dict[str, bool] = {}
    for name, value in form.multi_items():
        if name.startswith(CONSENT_FIELD) and isinstance(value, str) and value in CONSENT_VALUES:
            wanted[name.removeprefix(CONSENT_FIELD)] = CONSENT_VALUES[value]
    return await run_in_threadpool(_save_consents, request, member_id, wanted)


@router.post("/members/{member_id}/preferences")
async def preferences_post(request: Request, session: ConsentsWrite, member_id: str) -> Response:
    form = await request.form()
    wanted: dict[str, str] = {
        name.removeprefix(PREFERENCE_FIELD): value
        for name, value in form.multi_items()
        if name.startswith(PREFERENCE_FIELD) and isinstance(value, str)
    }
    new_name, new_value = form.get("new_name"), form.get("new_value")
    if isinstance(new_name, str) and new_name.strip():
        wanted[new_name] = new_value if isinstance(new_value, str) else ""
    return await run_in_threadpool(_save_preferences, request, member_id, wanted)


def _submit(request: Request, what: str) -> Submit:
    """Hands a console-made event to ingestion (under the app's write lock)."""
    submit: Submit = partial(
        request.app.state.ingestor.submit_one,
        origin="console",
        location=f"console {what}",
        lock=_write_lock(request),
    )
    return submit


def _save_preferences(request: Request, member_id: str, wanted: dict[str, str]) -> Response:
    engine, settings = engine_of(request), settings_of(request)
    try:
        before = member360.member_preferences(engine, member_id)
        member, after = record_preferences(
            engine,
            member_id,
            wanted,
            submit=_submit(request, "preferences"),
            region=settings.default_region,
        )
    except NextbestError as exc:
        return _member_page(request, member_id, status=_status(exc), error=str(exc))
    changed = sorted(k for k, v in after.items() if before.get(k) != v)
    if not changed:
        return redirect(_path(member), flash="no preference changed")
    return redirect(_path(member), flash=f"preferences recorded: {', '.join(changed)}")


def _save_consents(request: Request, member_id: str, wanted: dict[str, bool]) -> Response:
    engine, settings = engine_of(request), settings_of(request)
    try:
        current = member360.member_consents(engine, member_id, region=settings.default_region)
        changes = changes_from(current, wanted)
        if not changes:
            return redirect(_path(member_id), flash="no consent changed")
        member, _ = record_consents(
            engine,
            member_id,
            changes,
            submit=_submit(request, "consents"),
            region=settings.default_region,
        )
    except NextbestError as exc:
        return _member_page(request, member_id, status=_status(exc), error=str(exc))
    said = ", ".join(
        f"{c.channel.value}/{c.purpose.value} {'granted' if c.granted else 'withdrawn'}"
        for c in changes
    )
    return redirect(_path(member), flash=f"consents recorded: {said}")
