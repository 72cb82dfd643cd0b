"""Privacy: erase a member (``DELETE /v1/members/{identifier}``), manage consents and
preferences.

Erasure needs the ``privacy:erase`` permission (admins), reading consents or preferences
``members:read`` and changing them ``consents:write``. The erasure's answer is its report
(per-store counts, the anonymous id the ledger now carries). Consent and preference changes
are ``profile_update`` events through the ingestion pipeline, so the profile, governance
and the event log see them at once (the logic is ``nextbest.members.consents`` and
``preferences``; the console's member page uses it too).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict

from nextbest.api.deps import (
    ConsentsWriteKey,
    EngineDep,
    IngestorDep,
    MembersReadKey,
    NoNul,
    PrivacyEraseKey,
    SettingsDep,
    WriteLock,
)
from nextbest.api.keys_store import actor_of
from nextbest.api.problems import openapi_responses
from nextbest.events.types import Channel, Purpose
from nextbest.identity.hashing import key_hasher
from nextbest.ingest.pipeline import Ingestor
from nextbest.members.consents import (
    Consent,
    ConsentChange,
    Submit,
    consents_of,
    record_consents,
)
from nextbest.members.erasure import erase_member
from nextbest.members.preferences import Value, preferences_of, record_preferences
from nextbest.profiles.read import resolve_member

router = APIRouter(prefix="/v1", tags=["privacy"], dependencies=[NoNul])

ORIGIN = "http:consents"


class ErasureOut(BaseModel):
    erasure_id: str
    anonymous_id: str
    erased_at: str
    actor: str
    counts: dict[str, int]
    unreachable: dict[str, str] = {}


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
            settings=settings,
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


def _out(member: str, stated: list[Consent]) -> ConsentsOut:
    return ConsentsOut(
        member_id=member,
        consents=[
            ConsentOut(
                channel=c.channel,
                purpose=c.purpose,
                granted=c.granted,
                stated_at=None if c.stated_at is None else c.stated_at.isoformat(),
                event_id=c.event_id,
            )
            for c in stated
        ],
    )


def ingest_submitter(ingestor: Ingestor, write_lock: AbstractContextManager[Any]) -> Submit:
    """Hands one event to ``ingestor`` under ``write_lock``; answers the refusal reasons.
    The console records consents through it too."""
    submit: Submit = partial(
        ingestor.submit_one, origin=ORIGIN, location="consents", lock=write_lock
    )
    return submit


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
        member = resolve_member(
            conn,
            identifier,
            region=settings.default_region,
            hasher=key_hasher(settings.identity_hash_key),
        )
        return _out(member, consents_of(conn, member))


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
    member, stated = record_consents(
        engine,
        identifier,
        [ConsentChange(c.channel, c.purpose, c.granted) for c in changes],
        submit=ingest_submitter(ingestor, write_lock),
        region=settings.default_region,
        hasher=key_hasher(settings.identity_hash_key),
    )
    return _out(member, stated)


class PreferencesOut(BaseModel):
    member_id: str
    preferences: dict[str, Value]


@router.get(
    "/members/{identifier}/preferences",
    responses=openapi_responses(401, 403, 404),
    summary="A member's stated preferences",
)
def get_preferences(
    identifier: str, engine: EngineDep, settings: SettingsDep, _key: MembersReadKey
) -> PreferencesOut:
    with engine.connect() as conn:
        member = resolve_member(
            conn,
            identifier,
            region=settings.default_region,
            hasher=key_hasher(settings.identity_hash_key),
        )
        return PreferencesOut(member_id=member, preferences=preferences_of(conn, member))


@router.put(
    "/members/{identifier}/preferences",
    responses=openapi_responses(401, 403, 404, 409, 422),
    summary="Record preference changes (a profile_update event)",
)
def put_preferences(
    identifier: str,
    wanted: Annotated[dict[str, Value], Body(min_length=1, max_length=50)],
    engine: EngineDep,
    settings: SettingsDep,
    ingestor: IngestorDep,
    write_lock: WriteLock,
    _key: ConsentsWriteKey,
) -> PreferencesOut:
    """Each ``name: value`` is stated now (values: text, number or true/false); names not
    given stay as they are. Answers the preferences as they stand after."""
    member, stated = record_preferences(
        engine,
        identifier,
        wanted,
        submit=ingest_submitter(ingestor, write_lock),
        region=settings.default_region,
        hasher=key_hasher(settings.identity_hash_key),
    )
    return PreferencesOut(member_id=member, preferences=stated)
