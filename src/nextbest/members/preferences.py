"""A member's stated preferences (favourite item, milk, ...): read them, and record changes.

Like consents (``members.consents``), a change is a ``profile_update`` event handed to
ingestion through ``submit``, so the profile, decisions and the event log see it at once.
A preference is a name and a short value; a stated one can be changed, not unsaid (the
profile keeps each name's latest statement).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, select

from nextbest.errors import InvalidRequest
from nextbest.identity.hashing import KeyHasher
from nextbest.members.consents import Submit, attach_identifier
from nextbest.profiles.read import resolve_member
from nextbest.profiles.state import ProfileState
from nextbest.store import tables as t

Value = str | bool | int | float
MAX_NAME = 64
MAX_VALUE = 200


def preferences_of(conn: Connection, member: str) -> dict[str, Value]:
    """The member's preferences, by name, as the profile holds them."""
    row = conn.execute(select(t.profiles.c.state).where(t.profiles.c.member_id == member)).first()
    state = ProfileState.from_dict(orjson.loads(row.state)) if row else ProfileState()
    return {name: stated[0] for name, stated in sorted(state.preferences.items())}


def checked(wanted: Mapping[str, Any]) -> dict[str, Value]:
    """Names and values a preference may have; InvalidRequest naming the first that may not.

    >>> checked({" milk ": "oat"})
    {'milk': 'oat'}
    >>> checked({"": "x"})
    Traceback (most recent call last):
    nextbest.errors.InvalidRequest: a preference needs a name of 1 to 64 characters
    """
    out: dict[str, Value] = {}
    for raw, value in wanted.items():
        name = raw.strip()
        if not name or len(name) > MAX_NAME:
            raise InvalidRequest(f"a preference needs a name of 1 to {MAX_NAME} characters")
        if isinstance(value, str):
            value = value.strip()
            if not value or len(value) > MAX_VALUE:
                raise InvalidRequest(f"preference {name!r}: a value of 1 to {MAX_VALUE} characters")
        elif not isinstance(value, bool | int | float):
            raise InvalidRequest(f"preference {name!r}: a text, number or true/false value")
        out[name] = value
    return out


def record_preferences(
    engine: Engine,
    identifier: str,
    wanted: Mapping[str, Any],
    *,
    submit: Submit,
    region: str = "US",
    hasher: KeyHasher | None = None,
    now: datetime | None = None,
) -> tuple[str, dict[str, Value]]:
    """State the preferences in ``wanted`` that differ from the profile's; answers the
    member id and the preferences after. NotFound, Conflict (no identifier to carry the
    event) or InvalidRequest (a bad name or value, or ingestion refused it)."""
    values = checked(wanted)
    with engine.connect() as conn:
        member = resolve_member(conn, identifier, region=region, hasher=hasher)
        current = preferences_of(conn, member)
        changes = {k: v for k, v in values.items() if current.get(k) != v}
        if not changes:
            return member, current
        identifiers = attach_identifier(conn, member)
    at = now or datetime.now(UTC)
    refused = submit(
        {
            "type": "profile_update",
            "event_id": f"preferences-{uuid.uuid4().hex}",
            "occurred_at": at.isoformat(),
            "source": "system",
            "identifiers": identifiers,
            "preferences": changes,
        }
    )
    if refused:
        raise InvalidRequest(f"the preference change was refused: {'; '.join(refused)}")
    with engine.connect() as conn:
        member = resolve_member(conn, member)
        return member, preferences_of(conn, member)
