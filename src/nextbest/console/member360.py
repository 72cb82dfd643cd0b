"""The queries behind the console's member pages: search, recent members, the 360 view.

Every list is limited in SQL (a member's events, ledger entries, merges), so a page costs
the same on a store of 100k members as on ten. No web framework here: the page module
parses and renders, these functions read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Engine, func, select

from nextbest.errors import NotFound
from nextbest.identity.hashing import KeyHasher
from nextbest.identity.repository import as_utc
from nextbest.ledger.service import Ledger
from nextbest.members.consents import Consent, consents_of
from nextbest.members.preferences import preferences_of
from nextbest.profiles.read import member_view, resolve_member
from nextbest.store import tables as t

RECENT_LIMIT = 50
TIMELINE_LIMIT = 100
LEDGER_LIMIT = 50
# A bare value that is neither an email nor a +phone: the kinds tried, in this order.
BARE_KINDS = ("loyalty_id", "pos_card", "device_id", "phone")
# Payload fields every event has: left out of the timeline's one-line summary.
_COMMON = frozenset({"type", "event_id", "occurred_at", "source", "identifiers", "schema_version"})
SUMMARY_CHARS = 160


def find_member(
    engine: Engine, query: str, *, region: str = "US", hasher: KeyHasher | None = None
) -> str | None:
    """The member ``query`` names: a member id, ``kind:value``, a bare email or phone, or a
    bare loyalty id, card or device id; None when nothing matches."""
    text = query.strip()
    if not text:
        return None
    with engine.connect() as conn:
        try:
            return resolve_member(conn, text, region=region, hasher=hasher)
        except NotFound:
            pass
        if ":" in text or "@" in text or text.startswith("m_"):
            return None
        for kind in BARE_KINDS:
            try:
                return resolve_member(conn, f"{kind}:{text}", region=region, hasher=hasher)
            except (NotFound, ValueError):
                continue
    return None


def recent_members(engine: Engine, *, limit: int = RECENT_LIMIT) -> list[dict[str, Any]]:
    """The newest members (not merged away), each with one identifier to recognise it by."""
    m, p = t.members, t.profiles
    with engine.connect() as conn:
        rows = conn.execute(
            select(m.c.member_id, m.c.first_seen_at, p.c.event_count, p.c.last_event_at)
            .select_from(m.outerjoin(p, p.c.member_id == m.c.member_id))
            .where(m.c.merged_into.is_(None))
            .order_by(m.c.recorded_at.desc(), m.c.member_id)
            .limit(limit)
        ).all()
        ids = [r.member_id for r in rows]
        shown: dict[str, str] = {}
        if ids:
            # One identifier per member, the alphabetically first: email before phone etc.
            for member, key in conn.execute(
                select(t.identifiers.c.member_id, func.min(t.identifiers.c.key))
                .where(t.identifiers.c.member_id.in_(ids))
                .group_by(t.identifiers.c.member_id)
            ):
                shown[member] = key
    return [
        {
            "member_id": r.member_id,
            "identifier": shown.get(r.member_id),
            "first_seen_at": as_utc(r.first_seen_at),
            "event_count": r.event_count or 0,
            "last_event_at": None if r.last_event_at is None else as_utc(r.last_event_at),
        }
        for r in rows
    ]


def _group(engine: Engine, member: str) -> list[str]:
    with engine.connect() as conn:
        folded = conn.execute(
            select(t.members.c.member_id).where(t.members.c.merged_into == member)
        ).scalars()
        return [member, *folded]


def _summary(payload: dict[str, Any]) -> str:
    rest = {k: v for k, v in payload.items() if k not in _COMMON and v not in (None, [], {})}
    text = orjson.dumps(rest, option=orjson.OPT_SORT_KEYS).decode()
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "\u2026"


def timeline(engine: Engine, member: str, *, limit: int = TIMELINE_LIMIT) -> list[dict[str, Any]]:
    """The member's latest events (theirs and those of members folded into them), newest
    first, each with a one-line summary of what it says."""
    e = t.events
    group = _group(engine, member)
    with engine.connect() as conn:
        rows = conn.execute(
            select(e.c.event_id, e.c.type, e.c.occurred_at, e.c.source, e.c.payload)
            .where(e.c.member_id.in_(group))
            .order_by(e.c.occurred_at.desc(), e.c.event_id.desc())
            .limit(limit)
        ).all()
    return [
        {
            "event_id": r.event_id,
            "type": r.type,
            "occurred_at": as_utc(r.occurred_at),
            "source": r.source,
            "summary": _summary(orjson.loads(r.payload)),
        }
        for r in rows
    ]


def _sources(engine: Engine, event_ids: Sequence[str]) -> dict[str, str]:
    if not event_ids:
        return {}
    with engine.connect() as conn:
        return dict(
            conn.execute(
                select(t.events.c.event_id, t.events.c.source).where(
                    t.events.c.event_id.in_(sorted(set(event_ids)))
                )
            ).all()
        )


def ledger_view(ledger: Ledger, member: str, *, limit: int = LEDGER_LIMIT) -> dict[str, Any]:
    """Balance, tier with progress, and the latest entries; ``error`` says why not (no
    program applied yet, say) instead of failing the page."""
    try:
        return {"account": ledger.account(member), "history": ledger.history(member, limit=limit)}
    except NotFound as exc:
        return {"error": str(exc)}


def member_360(
    engine: Engine, member: str, *, region: str = "US", hasher: KeyHasher | None = None
) -> dict[str, Any]:
    """The unified profile, identity graph, merge history, scores and consents of ``member``
    (a member id or any identifier); raises NotFound."""
    view = member_view(engine, member, region=region, hasher=hasher)
    sources = _sources(engine, [i["first_event_id"] for i in view["identifiers"]])
    identifiers = [
        {
            **i,
            "kind": i["key"].split(":", 1)[0],
            "value": i["key"].split(":", 1)[1],
            "source": sources.get(i["first_event_id"]),
        }
        for i in view["identifiers"]
    ]
    with engine.connect() as conn:
        consents = consents_of(conn, view["member_id"])
        preferences = preferences_of(conn, view["member_id"])
    own = {i["key"] for i in identifiers}
    merges = [
        {**g, "bridge": [k for k in bridge_keys(g["identifier"]) if k in own]}
        for g in reversed(view["merged_from"])  # newest first
    ]
    return {
        **view,
        "identifiers": identifiers,
        "merges": merges,
        "consents": consent_grid(consents),
        "preferences": preferences,
    }


def consent_grid(consents: Sequence[Consent]) -> dict[str, Any]:
    """Consents as a table: channels as rows, purposes as columns."""
    channels: list[str] = []
    purposes: list[str] = []
    cells: dict[str, Consent] = {}
    for c in consents:
        if c.channel not in channels:
            channels.append(c.channel)
        if c.purpose not in purposes:
            purposes.append(c.purpose)
        cells[c.key] = c
    return {"channels": channels, "purposes": purposes, "cells": cells}


def bridge_keys(identifier: str) -> list[str]:
    """The identifiers a merge's ``identifier`` names (``"a + b"`` for one an event made;
    a manual or probabilistic merge names none).

    >>> bridge_keys("email:a@x.co + pos_card:C1"), bridge_keys("manual: same person")
    (['email:a@x.co', 'pos_card:C1'], [])
    """
    parts = identifier.split(" + ")
    return parts if len(parts) > 1 else []


def merge_of(engine: Engine, member: str, merge_id: int) -> dict[str, Any] | None:
    """Merge ``merge_id`` if it is in force inside ``member``'s group (None otherwise), so
    a form on one member's page cannot undo another member's merge."""
    mm = t.member_merges
    group = _group(engine, member)
    with engine.connect() as conn:
        row = conn.execute(
            select(mm.c.merge_id, mm.c.survivor_id, mm.c.merged_id, mm.c.identifier).where(
                mm.c.merge_id == merge_id,
                mm.c.undone_at.is_(None),
                mm.c.survivor_id.in_(group) | mm.c.merged_id.in_(group),
            )
        ).first()
    return None if row is None else dict(row._mapping)


def member_preferences(engine: Engine, member: str) -> dict[str, Any]:
    """The preferences of the member ``member`` (a member id) states; raises NotFound."""
    with engine.connect() as conn:
        return dict(preferences_of(conn, resolve_member(conn, member)))


def member_consents(
    engine: Engine, member: str, *, region: str = "US", hasher: KeyHasher | None = None
) -> list[Consent]:
    """The consents of the member ``member`` names; raises NotFound."""
    with engine.connect() as conn:
        return consents_of(conn, resolve_member(conn, member, region=region, hasher=hasher))
