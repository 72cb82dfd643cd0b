"""The decision log: search by member (any identifier), action or contact, and open one
decision to see why (rules, ranking, candidates, model versions)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from nextbest.console import decisions_data
from nextbest.console.web import DecisionsRead, engine_of, render, settings_of
from nextbest.errors import NotFound
from nextbest.identity.hashing import key_hasher

router = APIRouter(prefix="/console")


@router.get("/decisions")
async def decisions_page(
    request: Request,
    _session: DecisionsRead,
    member: str | None = Query(None, max_length=320),
    action: str | None = Query(None, max_length=128),
    contacted: bool = False,
    before: str | None = Query(None, max_length=200),
) -> Response:
    error = None
    try:
        found = await run_in_threadpool(
            lambda: decisions_data.search(
                engine_of(request),
                member=member or None,
                action=action or None,
                contacted_only=contacted,
                before=before or None,
                region=settings_of(request).default_region,
                hasher=key_hasher(settings_of(request).identity_hash_key),
            )
        )
    except NotFound as exc:
        error = str(exc)
        found = decisions_data.DecisionPage(rows=[], member_id=None, older=None, actions=[])
    return render(
        request,
        "decisions.html.j2",
        {
            "page": found,
            "member": member or "",
            "action": action or "",
            "contacted": contacted,
            "error": error,
        },
        status=200 if error is None else 404,
    )


@router.get("/decisions/{decision_id}")
async def decision_page(request: Request, decision_id: str, _session: DecisionsRead) -> Response:
    try:
        d = await run_in_threadpool(decisions_data.decision, engine_of(request), decision_id)
    except NotFound as exc:
        return render(request, "decision.html.j2", {"d": None, "error": str(exc)}, status=404)
    facts = orjson.dumps(
        d["record"].get("facts") or {}, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    ).decode()
    return render(request, "decision.html.j2", {"d": d, "facts": facts, "error": None})
