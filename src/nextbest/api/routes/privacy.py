"""Privacy: erase a member (``DELETE /v1/members/{identifier}``) and manage consents.

Erasure needs the ``privacy:erase`` permission (admins), reading consents ``members:read``
and changing them ``consents:write``. The erasure's answer is its report (per-store counts,
the anonymous id the ledger now carries). Consent changes are ``profile_update`` events
through the ingestion pipeline, so the profile, governance and the event log see them at once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, select

from nextbest.api.deps import (
    ConsentsWriteKey,
    EngineDep,
    IngestorDep,
    MembersReadKey,
    PrivacyEraseKey,
    SettingsDep,
    WriteLock,
)
from nextbest.api.keys_store import actor_of
from nextbest.api.problems import openapi_responses
from nextbest.errors import Conflict, InvalidRequest
from nextbest.events.types import Channel, Purpose
from nextbest.ingest.records import RawRecord
from nextbest.members.erasure import erase_member
from nextbest.profiles.read import resolve_member
from nextbest.profiles.state import ProfileState
from nextbest.store import tables as t

router = APIRouter(prefix="/v1", tags=["privacy"])

ORIGIN = "http:consents"
# Identifier kinds a profile_update can carry, the most specific first.
ATTACH_KINDS = ("loyalty_id", "email", "phone", "pos_card", "device_id")


class ErasureOut(BaseModel):
    erasure_id: str
    anonymous_id: str
    erased_at: str
    actor: str
    counts: dict[str, int]


@router.delete(
    "/members/{identifier}",
    responses=openapi_responses(401, 403, 404),
    summary="Erase a member's personal data everywhere",
)
def delete_member(
    identifier: str,
    engine: EngineDep,
    settings: SettingsDep,
    ingestor: IngestorDep,
    write_lock: WriteLock,
    key: PrivacyEraseKey,
) -> ErasureOut:
    """Deletes the member (and those merged into it) from every store and file; the points
    ledger stays, re-keyed to an anonymous id. A second erasure is a 404."""
    with write_lock:
        if ingestor.history is not None:
            ingestor.history.flush()  # buffered events reach the files erasure rewrites
        report = erase_member(
            engine,
            identifier,
            data_dir=settings.data_dir,
            history_dir=settings.event_history_dir,
            actor=actor_of(key),
            region=settings.default_region,
        )
    return ErasureOut(**report.to_dict())


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    purpose: Purpose
    granted: bool


class ConsentOut(BaseModel):
    channel: str
    purpose: str
    granted: bool | None  # None: never stated
    stated_at: str | None = None
    event_id: str | None = None


class ConsentsOut(BaseModel):
    member_id: str
    consents: list[ConsentOut]


def _consents(conn: Connection, member: str) -> ConsentsOut:
    row = conn.execute(select(t.profiles.c.state).where(t.profiles.c.member_id == member)).first()
    state = ProfileState.from_dict(orjson.loads(row.state)) if row else ProfileState()
    out = []
    for channel in Channel:
        for purpose in Purpose:
            stated = state.consent.get(f"{channel.value}/{purpose.value}")
            out.append(
                ConsentOut(
                    channel=channel.value,
                    purpose=purpose.value,
                    granted=None if stated is None else bool(stated[0]),
                    stated_at=None
                    if stated is None
                    else datetime.fromtimestamp(float(stated[1]), UTC).isoformat(),
                    event_id=None if stated is None else str(stated[2]),
                )
            )
    return ConsentsOut(member_id=member, consents=out)


@router.get(
    "/members/{identifier}/consents",
    responses=openapi_responses(401, 403, 404),
    summary="A member's consent per channel and purpose",
)
def get_consents(
    identifier: str, engine: EngineDep, settings: SettingsDep, _key: MembersReadKey
) -> ConsentsOut:
    """Every channel and purpose; ``granted`` is null where the member never said."""
    with engine.connect() as conn:
        member = resolve_member(conn, identifier, region=settings.default_region)
        return _consents(conn, member)


def _attach(conn: Connection, member: str) -> dict[str, str]:
    """An identifier of the member for the event to carry (events find members by them)."""
    rows = conn.execute(
        select(t.identifiers.c.kind, t.identifiers.c.key).where(
            t.identifiers.c.member_id == member, t.identifiers.c.shared_at.is_(None)
        )
    ).all()
    by_kind = {kind: key.split(":", 1)[1] for kind, key in rows}
    for kind in ATTACH_KINDS:
        if kind in by_kind:
            return {kind: by_kind[kind]}
    raise Conflict(f"member {member} has no unshared identifier to record the consent under")


@router.put(
    "/members/{identifier}/consents",
    responses=openapi_responses(401, 403, 404, 409, 422),
    summary="Record consent changes (a profile_update event)",
)
def put_consents(
    identifier: str,
    changes: Annotated[list[ConsentIn], Body(min_length=1, max_length=100)],
    engine: EngineDep,
    settings: SettingsDep,
    ingestor: IngestorDep,
    write_lock: WriteLock,
    _key: ConsentsWriteKey,
) -> ConsentsOut:
    """Each ``{channel, purpose, granted}`` is stated now; an unknown channel or purpose is
    a 422 naming the field. Answers the consents as they stand after the change."""
    with engine.connect() as conn:
        member = resolve_member(conn, identifier, region=settings.default_region)
        identifiers = _attach(conn, member)
    event: dict[str, Any] = {
        "type": "profile_update",
        "event_id": f"consent-{uuid.uuid4().hex}",
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": "system",
        "identifiers": identifiers,
        "consents": [c.model_dump(mode="json") for c in changes],
    }
    prepared = ingestor.prepare_records([RawRecord(location="consents", data=event, raw="")])
    with write_lock:
        report = ingestor.store_prepared(prepared, origin=ORIGIN)
    if report.rejected:
        reasons = "; ".join(f"{r.field}: {r.reason}" for r in report.rejections)
        raise InvalidRequest(f"the consent change was refused: {reasons}")
    with engine.connect() as conn:
        return _consents(conn, resolve_member(conn, member))
