"""Next-best-action over HTTP: one member now, a segment in a batch, the assisted view.

Every decision is logged with its propensity and candidates. ``Idempotency-Key`` is optional
here: with it, a retry returns the first decision (``replayed: true``) and takes no second
contact slot. The assisted view (a till or call-centre screen) keys itself by member,
placement and hour, so refreshing the screen shows the same decision.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, Field

from nextbest.api.deps import IDEMPOTENCY_HEADER, DecideKey, NoNul
from nextbest.api.problems import openapi_responses
from nextbest.decide.actions import CHANNELS
from nextbest.decide.engine import Request as DecisionRequest
from nextbest.decide.segments import segment_members
from nextbest.decide.service import DecisionService
from nextbest.errors import InvalidRequest

router = APIRouter(prefix="/v1", tags=["decisions"], dependencies=[NoNul])

BATCH_MAX = 10_000
Detail = Literal["summary", "full", "none"]


class DecisionContext(BaseModel):
    channel: str | None = Field(
        default=None,
        max_length=32,
        description="Ask for one channel or placement (pos, web, app, kiosk, call_centre, "
        "email, sms, push, in_app...); omitted, each action takes its best outbound channel.",
    )
    placement: str | None = Field(default=None, max_length=64, description="e.g. home_banner.")
    at: AwareDatetime | None = Field(default=None, description="Decision time; default now.")
    location: str | None = Field(default=None, max_length=64, description="Store or region.")
    event: dict[str, Any] | None = Field(
        default=None, description="The triggering event, readable by rules as context.event."
    )
    send_now: bool = Field(default=False, description="Skip send-time optimisation.")
    actions: list[str] | None = Field(
        default=None, max_length=1000, description="Only these actions may be chosen."
    )


class DecisionBody(BaseModel):
    member: str = Field(
        min_length=1, max_length=320, description="Member id or any identifier (email:…)."
    )
    context: DecisionContext = Field(default_factory=DecisionContext)
    seed: int = Field(default=0, ge=0, le=2**31, description="Exploration seed.")
    detail: Detail = Field(
        default="summary",
        description="summary: why without every filtered action; full: everything; none.",
    )


class SegmentBody(BaseModel):
    score: str = Field(min_length=1, max_length=64, description="A score name, e.g. rfm.")
    label: str | None = Field(default=None, max_length=200, description="Members with this label")
    min: float | None = Field(default=None, description="Members whose score is at least this")
    max: float | None = Field(default=None, description="... and at most this")


class BatchBody(BaseModel):
    segment: SegmentBody | None = None
    members: list[str] | None = Field(default=None, max_length=BATCH_MAX)
    context: DecisionContext = Field(default_factory=DecisionContext)
    limit: int = Field(default=1000, ge=1, le=BATCH_MAX)
    seed: int = Field(default=0, ge=0, le=2**31)


def _service(request: Request) -> DecisionService:
    service: DecisionService = request.app.state.decisions
    return service


def _json(payload: Any) -> Response:
    # orjson straight to bytes: a decision's explanation is a deep dict and FastAPI's
    # encoder walks it in Python.
    return Response(orjson.dumps(payload), media_type="application/json")


def _request(ctx: DecisionContext, *, seed: int, key: str | None, now: datetime) -> DecisionRequest:
    if ctx.channel is not None and ctx.channel not in CHANNELS:
        raise InvalidRequest(
            f"context.channel: unknown channel {ctx.channel!r}; known: {', '.join(CHANNELS)}"
        )
    return DecisionRequest(
        at=(ctx.at or now).astimezone(UTC),
        channel=ctx.channel,
        placement=ctx.placement,
        location=ctx.location,
        event=ctx.event,
        send_now=ctx.send_now,
        actions=frozenset(ctx.actions) if ctx.actions is not None else None,
        seed=seed,
        key=key,
    )


def _shaped(view: dict[str, Any], detail: Detail) -> dict[str, Any]:
    why = view.get("explanation")
    if detail == "none":
        view.pop("explanation", None)
    elif detail == "summary" and why is not None:
        view["explanation"] = {k: v for k, v in why.items() if k != "filtered"}
        view["explanation"]["filtered_count"] = len(why.get("filtered", {}))
    return view


@router.post(
    "/decisions",
    responses=openapi_responses(401, 403, 404, 422),
    summary="The next best action for a member now: action, channel, send time and why",
)
async def post_decision(
    body: DecisionBody,
    request: Request,
    _key: DecideKey,
    idempotency_key: Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER, max_length=255)] = None,
) -> Response:
    service = _service(request)
    req = _request(body.context, seed=body.seed, key=idempotency_key, now=service.clock())
    view = await to_thread.run_sync(service.decide, body.member, req, limiter=_limiter(request))
    return _json(_shaped(view, body.detail))


def _limiter(request: Request) -> CapacityLimiter:
    """Decisions run on a few threads of their own: the engine is CPU-bound, and forty
    threads queueing for the GIL make each one's Redis round trip wait for a time slice."""
    limiter: CapacityLimiter = request.app.state.decide_limiter
    return limiter


@router.post(
    "/decisions/batch",
    # 404: a listed member that no identifier finds.
    responses=openapi_responses(401, 403, 404, 422),
    summary="Decisions for a segment or a list of members (without explanations)",
)
def post_batch(body: BatchBody, request: Request, _key: DecideKey) -> Response:
    service = _service(request)
    if (body.segment is None) == (body.members is None):
        raise InvalidRequest("give exactly one of segment or members")
    now = service.clock()
    if body.segment is not None:
        seg = body.segment
        with service.db.connect() as conn:
            members = segment_members(
                conn, score=seg.score, label=seg.label, low=seg.min, high=seg.max, limit=body.limit
            )
        resolved = True
    else:
        members, resolved = list(body.members or [])[: body.limit], False
    req = _request(body.context, seed=body.seed, key=None, now=now)
    out: list[dict[str, Any]] = []
    by_action: dict[str, int] = {}
    for member in members:
        view = service.decide(member, req, explain=False, resolved=resolved)
        out.append(view)
        by_action[view["action"]["id"]] = by_action.get(view["action"]["id"], 0) + 1
    return _json(
        {
            "members": len(out),
            "by_action": dict(sorted(by_action.items(), key=lambda kv: -kv[1])),
            "contacts": sum(1 for v in out if v["contacts"]),
            "decisions": out,
        }
    )


@router.get(
    "/members/{identifier}/next-best-action",
    responses=openapi_responses(401, 403, 404, 422),
    summary="Assisted view: what a barista or call-centre agent should offer this member",
)
def get_assisted(
    identifier: str,
    request: Request,
    _key: DecideKey,
    channel: str = Query("call_centre", max_length=32, description="pos, call_centre, ..."),
    placement: str | None = Query(None, max_length=64),
) -> Response:
    service = _service(request)
    now = service.clock()
    member = service.member_id(identifier)
    # One decision per member, screen and hour: refreshing the screen replays it.
    key = f"assist:{member}:{channel}:{placement or ''}:{now:%Y-%m-%dT%H}"
    req = _request(
        DecisionContext(channel=channel, placement=placement, send_now=True),
        seed=0,
        key=key,
        now=now,
    )
    view = service.decide(member, req, resolved=True)
    why = view.get("explanation") or {}
    action = view["action"]
    view["script"] = (
        "Nothing to offer right now."
        if action["kind"] == "nothing"
        else f"Offer: {action['name']}"
        + (f" ({action['points']} points)" if action.get("points") else "")
        + f". Why: {why.get('summary', '')}"
    )
    return _json(_shaped(view, "summary"))
