"""Offers, rules and journeys (the program's configuration): the effective catalogue and
journeys, their flow and stats, and the editor that proposes a change (validated as you
type, and again when posted).

A proposal is never applied here: it waits on the approvals page for a second person.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from nextbest.agents import proposals
from nextbest.agents.changes import CATALOGUE_TARGET, MAX_TEXT, InvalidChange, Issue, validate
from nextbest.console.journey_flow import describe, flow_svg, funnel_svg, trigger_text
from nextbest.console.web import (
    ApprovalsPropose,
    MembersRead,
    engine_of,
    redirect,
    render,
    settings_of,
)
from nextbest.decide.actions import Catalogue
from nextbest.decide.catalogue import CatalogueError, parse_catalogue
from nextbest.decide.expressions import Expression
from nextbest.decide.service import effective_catalogue_text
from nextbest.journeys.catalog import load_journeys
from nextbest.journeys.definition import Journey, JourneyError
from nextbest.journeys.stats import journey_stats

router = APIRouter(prefix="/console")
NEW_JOURNEY = """journey: my_journey
name: My journey
trigger: {event: purchase}
steps:
  - {id: thanks, send: {channel: email, template: thanks}}
"""


def _src(e: Expression | None) -> str:
    return e.source if e is not None else "0"


def catalogue_view(catalogue: Catalogue) -> dict[str, Any]:
    """What the page shows of a catalogue, as plain values."""
    p = catalogue.policy
    return {
        "version": catalogue.version,
        "cost_per_point": catalogue.cost_per_point,
        "breakage": catalogue.breakage,
        "actions": [
            {
                "id": a.id,
                "name": a.name,
                "kind": a.kind,
                "priority": a.priority.name.lower(),
                "channels": a.channels,
                "value": _src(a.value),
                "cost": a.cost,
                "points": a.points,
                "eligibility": [e.source for e in a.eligibility],
                "tags": sorted(a.tags),
                "budget": a.budget,
                "member_cap": a.member_cap,
            }
            for a in catalogue.actions
        ],
        "caps": [
            {"limit": c.limit, "period": c.period, "channel": c.channel or "all channels"}
            for c in p.caps
        ],
        "quiet": (
            {"start": p.quiet_start, "end": p.quiet_end, "channels": sorted(p.quiet_channels)}
            if p.quiet_start is not None
            else None
        ),
        "cooldown_hours": p.cooldown_hours,
        "default_timezone": p.default_timezone,
        "service_bypasses_caps": p.service_bypasses_caps,
        "suppressions": [
            {
                "name": s.name,
                "when": s.when.source,
                "priorities": sorted(x.name.lower() for x in s.priorities),
                "tags": sorted(s.tags),
            }
            for s in p.suppressions
        ],
        "formula": catalogue.arbitration.source,
        "levers": dict(sorted(catalogue.arbitration.levers.items())),
        "learning": catalogue.learning,
        "experiments": [
            {"id": x.id, "arms": [{"id": a.id, "share": a.share} for a in x.arms]}
            for x in catalogue.experiments
        ],
    }


def _editor(
    kind: str, target: str, text: str, issues: list[Issue], editor_id: str
) -> dict[str, Any]:
    return {
        "kind": kind,
        "target": target,
        "text": text,
        "issues": [i.as_dict() for i in issues],
        "id": editor_id,
    }


def _program_context(request: Request, text: str | None, issues: list[Issue]) -> dict[str, Any]:
    current = effective_catalogue_text(settings_of(request))
    try:
        view: dict[str, Any] | None = catalogue_view(parse_catalogue(current))
        broken: list[str] = []
    except CatalogueError as exc:  # a hand-edited file: show why, still offer the editor
        view, broken = None, [str(i) for i in exc.issues]
    return {
        "catalogue": view,
        "broken": broken,
        "source": current,
        "editor": _editor(
            "catalogue",
            CATALOGUE_TARGET,
            current if text is None else text,
            issues,
            "catalogue-editor",
        ),
    }


@router.get("/program")
async def program_page(request: Request, _session: MembersRead) -> Response:
    context = await run_in_threadpool(_program_context, request, None, [])
    return render(request, "program.html.j2", context)


def _journeys(request: Request) -> tuple[list[Journey], list[str]]:
    try:
        return load_journeys(settings_of(request).effective_journeys_dir()), []
    except JourneyError as exc:
        return [], [str(i) for i in exc.issues]


def _journeys_context(request: Request) -> dict[str, Any]:
    journeys, broken = _journeys(request)
    db = engine_of(request)
    rows: list[dict[str, Any]] = []
    for j in journeys:
        stats = journey_stats(db, j)
        rows.append(
            {
                "id": j.id,
                "name": j.name,
                "trigger": trigger_text(j),
                "steps": len(j.order),
                "holdout": j.holdout,
                "stats": stats,
                "funnel": funnel_svg(stats.steps),
            }
        )
    editor = _editor("journey", "", NEW_JOURNEY, [], "journey-editor")
    return {"journeys": rows, "broken": broken, "editor": editor}


@router.get("/journeys")
async def journeys_page(request: Request, _session: MembersRead) -> Response:
    context = await run_in_threadpool(_journeys_context, request)
    return render(request, "journeys.html.j2", context)


def _journey_context(
    request: Request, journey_id: str, text: str | None, issues: list[Issue]
) -> dict[str, Any] | None:
    journeys, _broken = _journeys(request)
    journey = next((j for j in journeys if j.id == journey_id), None)
    if journey is None:
        return None
    return {
        "journey": journey,
        "trigger": trigger_text(journey),
        "steps": [(journey.steps[s], describe(journey.steps[s])) for s in journey.order],
        "flow": flow_svg(journey),
        "stats": journey_stats(engine_of(request), journey),
        "editor": _editor(
            "journey",
            journey.id,
            journey.source if text is None else text,
            issues,
            "journey-editor",
        ),
    }


@router.get("/journeys/{journey_id}")
async def journey_page(request: Request, journey_id: str, _session: MembersRead) -> Response:
    context = await run_in_threadpool(_journey_context, request, journey_id, None, [])
    if context is None:
        return render(request, "journey_missing.html.j2", {"journey_id": journey_id}, status=404)
    return render(request, "journey.html.j2", context)


@router.post("/proposals")
async def propose(
    request: Request,
    session: ApprovalsPropose,
    kind: str = Form(..., max_length=32),
    target: str = Form("", max_length=300),
    text: str = Form(..., max_length=MAX_TEXT),
) -> Response:
    try:
        proposal = await run_in_threadpool(
            lambda: proposals.propose(
                engine_of(request),
                settings_of(request),
                kind=kind,
                target=target,
                text=text,
                actor=session.user.actor,
            )
        )
    except InvalidChange as exc:
        return await _invalid(request, kind=kind, target=target, text=text, issues=exc.issues)
    return redirect(
        "/console/approvals",
        flash=f"Proposed a change to {proposal.kind} {proposal.target}: "
        "it applies once another person approves it.",
    )


async def _invalid(
    request: Request, *, kind: str, target: str, text: str, issues: list[Issue]
) -> Response:
    """The editor again, with the submitted text and its issues (nothing was stored)."""
    if kind == "journey":
        context = await run_in_threadpool(_journey_context, request, target, text, issues)
        if context is not None:
            return render(request, "journey.html.j2", context, status=422)
        context = await run_in_threadpool(_journeys_context, request)
        context["editor"] = _editor("journey", target, text, issues, "journey-editor")
        context["new_journey"] = True
        return render(request, "journeys.html.j2", context, status=422)
    context = await run_in_threadpool(_program_context, request, text, issues)
    context["editor"]["kind"] = kind
    return render(request, "program.html.j2", context, status=422)


class ValidateIn(BaseModel):
    kind: str = Field(max_length=32)
    target: str = Field(default="", max_length=300)
    text: str = Field(max_length=MAX_TEXT)


@router.post("/validate")
async def validate_text(request: Request, body: ValidateIn, _session: ApprovalsPropose) -> Response:
    issues = await run_in_threadpool(
        lambda: validate(settings_of(request), kind=body.kind, target=body.target, text=body.text)
    )
    return JSONResponse({"ok": not issues, "issues": [i.as_dict() for i in issues]})
