"""Points over HTTP: balances, history and tiers; redemptions, adjustments, reversals.

``{ref}`` is a member id or any identifier (as in ``GET /v1/members/{identifier}``). Reads
need ``ledger:read``; redemptions ``ledger:redeem``; adjustments and reversals
``ledger:adjust`` (see ``nextbest.api.roles``). Every write needs an ``Idempotency-Key``
header: the first success answers 201, a retry with the same key and body answers 200 with
the same entry and ``replayed: true``, the same key with a different body 409. The key's
name is the actor in the ledger and audit log.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from nextbest.api.deps import (
    IdempotencyKey,
    LedgerAdjustKey,
    LedgerDep,
    LedgerReadKey,
    LedgerRedeemKey,
    NoNul,
    SettingsDep,
    WriteLock,
)
from nextbest.api.keys_store import ApiKey
from nextbest.api.problems import openapi_responses
from nextbest.config import Settings
from nextbest.ledger.service import Ledger
from nextbest.profiles.read import resolve_member

router = APIRouter(prefix="/v1", tags=["ledger"], dependencies=[NoNul])

MAX_ADJUSTMENT = 10_000_000


class RedemptionRequest(BaseModel):
    reward_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(default=1, gt=0, le=100)


class AdjustmentRequest(BaseModel):
    points: int = Field(
        ge=-MAX_ADJUSTMENT, le=MAX_ADJUSTMENT, description="Credit; negative to debit."
    )
    reason: str = Field(max_length=2000)


class ReversalRequest(BaseModel):
    reason: str = Field(max_length=2000)


def _actor(key: ApiKey | None) -> str:
    return key.name if key is not None else "anonymous"


def _member(ledger: Ledger, settings: Settings, ref: str) -> str:
    with ledger.engine.connect() as conn:
        return resolve_member(conn, ref, region=settings.default_region)


def _written(response: Response, done: dict[str, Any]) -> dict[str, Any]:
    response.status_code = status.HTTP_200_OK if done["replayed"] else status.HTTP_201_CREATED
    return done


# --- reads ---------------------------------------------------------------------------------
@router.get(
    "/members/{ref}/points",
    responses=openapi_responses(401, 403, 404),
    summary="Balance, points expiring soon, tier and progress",
)
def get_points(
    ref: str, ledger: LedgerDep, settings: SettingsDep, _key: LedgerReadKey
) -> dict[str, Any]:
    return ledger.account(_member(ledger, settings, ref))


@router.get(
    "/members/{ref}/points/history",
    responses=openapi_responses(401, 403, 404),
    summary="Ledger entries, newest first, with the rules behind each",
)
def get_history(
    ref: str,
    ledger: LedgerDep,
    settings: SettingsDep,
    _key: LedgerReadKey,
    limit: int = Query(50, ge=1, le=1000),
) -> dict[str, Any]:
    member = _member(ledger, settings, ref)
    return {"member_id": member, "entries": ledger.history(member, limit=limit)}


@router.get(
    "/members/{ref}/tier",
    responses=openapi_responses(401, 403, 404),
    summary="Tier, benefits, qualifying balance, next tier and what it needs",
)
def get_tier(
    ref: str, ledger: LedgerDep, settings: SettingsDep, _key: LedgerReadKey
) -> dict[str, Any]:
    view = ledger.account(_member(ledger, settings, ref))
    return {
        "member_id": view["member_id"],
        **view["tier"],
        "currency": view["qualifying"]["currency"],
    }


# --- writes --------------------------------------------------------------------------------
@router.post(
    "/members/{ref}/points/redemptions",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "A replay: the entry the first request made"},
        **openapi_responses(400, 401, 403, 404, 409, 422),
    },
    summary="Spend points on a reward",
)
def redeem(
    ref: str,
    body: RedemptionRequest,
    response: Response,
    ledger: LedgerDep,
    settings: SettingsDep,
    write_lock: WriteLock,
    key: LedgerRedeemKey,
    idempotency_key: IdempotencyKey,
) -> dict[str, Any]:
    member = _member(ledger, settings, ref)
    with write_lock:
        done = ledger.redeem(
            member_id=member,
            reward_id=body.reward_id,
            quantity=body.quantity,
            idempotency_key=idempotency_key,
            actor=_actor(key),
        )
    return _written(response, done)


@router.post(
    "/members/{ref}/points/adjustments",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "A replay: the entry the first request made"},
        **openapi_responses(400, 401, 403, 404, 409, 422),
    },
    summary="Credit or debit points by hand, with a reason",
)
def adjust(
    ref: str,
    body: AdjustmentRequest,
    response: Response,
    ledger: LedgerDep,
    settings: SettingsDep,
    write_lock: WriteLock,
    key: LedgerAdjustKey,
    idempotency_key: IdempotencyKey,
) -> dict[str, Any]:
    member = _member(ledger, settings, ref)
    with write_lock:
        done = ledger.adjust(
            member_id=member,
            points=body.points,
            reason=body.reason,
            idempotency_key=idempotency_key,
            actor=_actor(key),
        )
    return _written(response, done)


@router.post(
    "/ledger/entries/{entry_id}/reversal",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "A replay: the entry the first request made"},
        **openapi_responses(400, 401, 403, 404, 409, 422),
    },
    summary="Undo an earn, redemption, adjustment or clawback",
)
def reverse(
    entry_id: str,
    body: ReversalRequest,
    response: Response,
    ledger: LedgerDep,
    write_lock: WriteLock,
    key: LedgerAdjustKey,
    idempotency_key: IdempotencyKey,
) -> dict[str, Any]:
    with write_lock:
        done = ledger.reverse(
            entry_id=entry_id,
            reason=body.reason,
            idempotency_key=idempotency_key,
            actor=_actor(key),
        )
    return _written(response, done)
