"""The identity review queue and unmerge over HTTP.

``GET /v1/identity/review`` lists probable links waiting for a person; ``POST
/v1/identity/review/{id}`` accepts (merge) or rejects one; ``POST
/v1/members/{member_id}/unmerge`` undoes the latest merge that folded that member away.
Reads need ``members:read``, decisions and unmerges ``members:write``; the key's name is
the actor in the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from nextbest.api.deps import (
    ROW_ID_MAX,
    EngineDep,
    MembersReadKey,
    MembersWriteKey,
    NoNul,
    SettingsDep,
)
from nextbest.api.keys_store import actor_of
from nextbest.api.problems import openapi_responses
from nextbest.members import review
from nextbest.members.unmerge import unmerge

router = APIRouter(prefix="/v1", tags=["identity"], dependencies=[NoNul])


class Decision(BaseModel):
    decision: Literal["accept", "reject"]
    note: str = Field(default="", max_length=2000)


class UnmergeRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
    merge_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX)
    block: list[str] = Field(default_factory=list, max_length=20)


@router.get("/identity/review", responses=openapi_responses(401, 403), summary="Review queue")
def list_candidates(
    engine: EngineDep,
    _key: MembersReadKey,
    status: Literal["pending", "accepted", "rejected", "merged", "blocked"] = "pending",
    limit: int = Query(50, ge=1, le=1000),
) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [c.to_dict() for c in review.candidates(conn, status=status, limit=limit)]


@router.post(
    "/identity/review/{candidate_id}",
    responses=openapi_responses(401, 403, 404, 409),
    summary="Accept or reject a probable link",
)
def decide(
    candidate_id: Annotated[int, Path(ge=1, le=ROW_ID_MAX)],
    body: Decision,
    engine: EngineDep,
    key: MembersWriteKey,
) -> dict[str, Any]:
    cand = review.decide(
        engine, candidate_id, accept=body.decision == "accept", actor=actor_of(key), note=body.note
    )
    return cand.to_dict()


@router.post(
    "/members/{member_id}/unmerge",
    responses=openapi_responses(401, 403, 404, 409),
    summary="Undo a merge",
)
def unmerge_member(
    member_id: str,
    body: UnmergeRequest,
    engine: EngineDep,
    settings: SettingsDep,
    key: MembersWriteKey,
) -> dict[str, Any]:
    report = unmerge(
        engine,
        settings,
        member_id=None if body.merge_id is not None else member_id,
        merge_id=body.merge_id,
        actor=actor_of(key),
        reason=body.reason,
        block=body.block,
    )
    return report.to_dict()
