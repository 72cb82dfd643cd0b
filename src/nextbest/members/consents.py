"""A member's consent per channel and purpose: read it, and record changes to it.

A change is a ``profile_update`` event, so the profile, contact governance and the event
log see it at once. This module builds the event; the caller hands it to ingestion through
``submit`` (``nextbest.ingest`` sits downstream of members, so it is not imported here).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, select

from nextbest.errors import Conflict, InvalidRequest
from nextbest.events.types import Channel, Purpose
from nextbest.identity.hashing import KeyHasher, carriable
from nextbest.profiles.read import resolve_member
from nextbest.profiles.state import ProfileState
from nextbest.store import tables as t

# Identifier kinds a profile_update can carry, the most specific first.
ATTACH_KINDS = ("loyalty_id", "email", "phone", "pos_card", "device_id")

# Records one event through ingestion; answers the reasons it was refused (empty: stored).
Submit = Callable[[dict[str, Any]], Sequence[str]]


@dataclass(frozen=True, slots=True)
class ConsentChange:
    channel: Channel
    purpose: Purpose
    granted: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel.value,
            "purpose": self.purpose.value,
            "granted": self.granted,
        }


@dataclass(frozen=True, slots=True)
class Consent:
    """What the member stated for one channel and purpose (``granted`` None: never said)."""

    channel: str
    purpose: str
    granted: bool | None
    stated_at: datetime | None = None
    event_id: str | None = None

    @property
    def key(self) -> str:
        return f"{self.channel}/{self.purpose}"


def consents_of(conn: Connection, member: str) -> list[Consent]:
    """Every channel and purpose, in enum order, as the member's profile holds it."""
    row = conn.execute(select(t.profiles.c.state).where(t.profiles.c.member_id == member)).first()
    state = ProfileState.from_dict(orjson.loads(row.state)) if row else ProfileState()
    out = []
    for channel in Channel:
        for purpose in Purpose:
            stated = state.consent.get(f"{channel.value}/{purpose.value}")
            if stated is None:
                out.append(Consent(channel.value, purpose.value, None))
            else:
                out.append(
                    Consent(
                        channel.value,
                        purpose.value,
                        bool(stated[0]),
                        datetime.fromtimestamp(float(stated[1]), UTC),
                        str(stated[2]),
                    )
                )
    return out


def changes_from(current: Iterable[Consent], wanted: Mapping[str, bool]) -> list[ConsentChange]:
    """The changes that turn ``current`` into ``wanted`` (``"channel/purpose" -> granted``);
    a key not in ``wanted`` is left as it stands, an unknown key is an InvalidRequest.

    >>> now = [Consent("email", "marketing", True), Consent("sms", "service", None)]
    >>> [c.to_dict() for c in changes_from(now, {"email/marketing": True, "sms/service": False})]
    [{'channel': 'sms', 'purpose': 'service', 'granted': False}]
    """
    stated = {c.key: c.granted for c in current}
    out = []
    for key, granted in wanted.items():
        channel, _, purpose = key.partition("/")
        try:
            change = ConsentChange(Channel(channel), Purpose(purpose), granted)
        except ValueError:
            raise InvalidRequest(f"unknown channel or purpose {key!r}") from None
        if stated.get(key) is not granted:
            out.append(change)
    return out


def attach_identifier(conn: Connection, member: str) -> dict[str, str]:
    """An identifier of the member for the event to carry (events find members by them)."""
    rows = conn.execute(
        select(t.identifiers.c.kind, t.identifiers.c.key).where(
            t.identifiers.c.member_id == member, t.identifiers.c.shared_at.is_(None)
        )
    ).all()
    # Identifiers stored hashed: only kinds an event can carry hashed will do.
    by_kind = {kind: key.split(":", 1)[1] for kind, key in rows if carriable(key)}
    for kind in ATTACH_KINDS:
        if kind in by_kind:
            return {kind: by_kind[kind]}
    raise Conflict(f"member {member} has no unshared identifier to record the change under")


def consent_event(
    identifiers: Mapping[str, str], changes: Sequence[ConsentChange], *, now: datetime
) -> dict[str, Any]:
    """The ``profile_update`` event stating ``changes`` now."""
    return {
        "type": "profile_update",
        "event_id": f"consent-{uuid.uuid4().hex}",
        "occurred_at": now.isoformat(),
        "source": "system",
        "identifiers": dict(identifiers),
        "consents": [c.to_dict() for c in changes],
    }


def record_consents(
    engine: Engine,
    identifier: str,
    changes: Sequence[ConsentChange],
    *,
    submit: Submit,
    region: str = "US",
    hasher: KeyHasher | None = None,
    now: datetime | None = None,
) -> tuple[str, list[Consent]]:
    """State ``changes`` for the member ``identifier`` names; answers the member id and
    the consents as they stand after. NotFound for no such member, Conflict when it has
    no identifier to carry the event, InvalidRequest when ingestion refuses it."""
    with engine.connect() as conn:
        member = resolve_member(conn, identifier, region=region, hasher=hasher)
        if not changes:
            return member, consents_of(conn, member)
        identifiers = attach_identifier(conn, member)
    refused = submit(consent_event(identifiers, changes, now=now or datetime.now(UTC)))
    if refused:
        raise InvalidRequest(f"the consent change was refused: {'; '.join(refused)}")
    with engine.connect() as conn:
        member = resolve_member(conn, member)
        return member, consents_of(conn, member)
