"""``GET /v1/members/{identifier}``: the unified profile behind any identifier."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from nextbest.api.deps import EngineDep, MembersReadKey, NoNul, SettingsDep
from nextbest.api.problems import openapi_responses
from nextbest.identity.hashing import key_hasher
from nextbest.profiles.read import member_view

router = APIRouter(prefix="/v1", tags=["members"], dependencies=[NoNul])


@router.get(
    "/members/{identifier}",
    responses=openapi_responses(401, 403, 404),
    summary="A member by id or identifier",
)
def get_member(
    identifier: str, engine: EngineDep, settings: SettingsDep, _key: MembersReadKey
) -> dict[str, Any]:
    """``identifier`` is a member id (``m_…``), ``email:…``, ``phone:…``, ``pos_card:…``,
    ``device_id:…``, ``loyalty_id:…`` or a bare email address."""
    return member_view(
        engine,
        identifier,
        region=settings.default_region,
        hasher=key_hasher(settings.identity_hash_key),
    )
