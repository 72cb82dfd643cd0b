"""The unified member view: profile, identifiers and merge history, by any identifier."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, select

from nextbest.errors import NotFound
from nextbest.events.identifiers import parse_key
from nextbest.identity.hashing import KeyHasher, is_hashed
from nextbest.identity.repository import as_utc, current_member
from nextbest.profiles.state import ProfileState
from nextbest.store import tables as t


def resolve_member(
    conn: Connection, identifier: str, *, region: str = "US", hasher: KeyHasher | None = None
) -> str:
    """Member id for a member id (``m_…``) or any identifier; raises NotFound.

    With a ``hasher`` (identifiers stored hashed) the identifier is normalised and hashed
    as ingestion stored it; a key given already hashed (``email:h:<hex>``) is used as is.
    """
    text = identifier.strip()
    if "\x00" in text:  # no identifier holds NUL, and PostgreSQL refuses it in a query
        raise NotFound(f"no member with identifier {identifier!r}: it contains a NUL character")
    if text.startswith("m_"):
        member = current_member(conn, text)
    else:
        try:
            key = text if is_hashed(text) else parse_key(text, region=region)
        except ValueError as exc:
            raise NotFound(str(exc)) from None
        if hasher is not None:
            key = hasher.key(key)
        member = conn.execute(
            select(t.identifiers.c.member_id).where(t.identifiers.c.key == key)
        ).scalar_one_or_none()
    if member is None:
        raise NotFound(f"no member with identifier {identifier!r}")
    return member


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def profile_fields(state: ProfileState) -> dict[str, Any]:
    """The profile as people read it: derived features, ISO times, stated values flattened."""
    return {
        "event_count": state.event_count,
        "first_event_at": _iso(state.first_event_at),
        "last_event_at": _iso(state.last_event_at),
        "purchase_count": state.purchase_count,
        "spend": round(state.spend, 2),
        "average_order_value": None
        if state.average_order_value is None
        else round(state.average_order_value, 2),
        "items": state.items,
        "first_purchase_at": _iso(state.first_purchase_at),
        "last_purchase_at": _iso(state.last_purchase_at),
        "category_affinity": state.category_affinity(),
        "events_by_source": dict(sorted(state.source_counts.items())),
        "engagement": dict(sorted(state.engagement.items())),
        "app_opens": state.app_opens,
        "product_views": state.product_views,
        "cart_adds": state.cart_adds,
        "carts_abandoned": state.carts_abandoned,
        "offers_redeemed": state.offers_redeemed,
        "feedback_count": state.feedback_count,
        "average_rating": round(state.rating_sum / state.rating_count, 2)
        if state.rating_count
        else None,
        "open_tickets": state.open_tickets,
        "consent": {k: bool(v[0]) for k, v in sorted(state.consent.items())},
        "preferences": {k: v[0] for k, v in sorted(state.preferences.items())},
        **{name: value[0] for name, value in sorted(state.attributes.items())},
    }


def member_view(
    engine: Engine, identifier: str, *, region: str = "US", hasher: KeyHasher | None = None
) -> dict[str, Any]:
    """JSON-ready unified profile for ``identifier``; raises NotFound."""
    with engine.connect() as conn:
        member = resolve_member(conn, identifier, region=region, hasher=hasher)
        row = conn.execute(select(t.profiles).where(t.profiles.c.member_id == member)).first()
        state = ProfileState.from_dict(orjson.loads(row.state)) if row else ProfileState()
        idents = conn.execute(
            select(
                t.identifiers.c.key,
                t.identifiers.c.first_event_id,
                t.identifiers.c.first_seen_at,
                t.identifiers.c.shared_at,
            )
            .where(t.identifiers.c.member_id == member)
            .order_by(t.identifiers.c.key)
        ).all()
        # Every merge inside this member's group (chains were re-pointed to one hop), and
        # merges undone since, which the history keeps.
        folded = select(t.members.c.member_id).where(t.members.c.merged_into == member)
        merges = conn.execute(
            select(t.member_merges)
            .where(
                (t.member_merges.c.survivor_id == member)
                | (t.member_merges.c.merged_id == member)
                | t.member_merges.c.merged_id.in_(folded)
            )
            .order_by(t.member_merges.c.merge_id)
        ).all()
        first = conn.execute(
            select(t.members.c.first_seen_at).where(t.members.c.member_id == member)
        ).scalar_one()
        scores = conn.execute(
            select(t.member_scores)
            .where(t.member_scores.c.member_id == member)
            .order_by(t.member_scores.c.name)
        ).all()
    return {
        "member_id": member,
        "first_seen_at": as_utc(first).isoformat(),
        "profile_version": row.version if row else 0,
        "identifiers": [
            {
                "key": k,
                "first_event_id": e,
                "first_seen_at": as_utc(at).isoformat(),
                "shared": shared is not None,
            }
            for k, e, at, shared in idents
        ],
        "merged_from": [
            {
                "merge_id": m.merge_id,
                "member_id": m.merged_id,
                "into": m.survivor_id,
                "kind": m.kind,
                "event_id": m.event_id,
                "identifier": m.identifier,
                "match_probability": m.match_probability,
                "explanation": orjson.loads(m.explanation) if m.explanation else None,
                "occurred_at": as_utc(m.occurred_at).isoformat(),
                "undone_at": as_utc(m.undone_at).isoformat() if m.undone_at else None,
            }
            for m in merges
        ],
        "profile": profile_fields(state),
        # written by the scoring job: value or label, the model version, and why
        "scores": {
            sc.name: {
                "value": sc.value,
                "label": sc.label,
                "model_version": sc.model_version,
                "as_of": as_utc(sc.as_of).isoformat(),
                "why": orjson.loads(sc.explanation) if sc.explanation else None,
            }
            for sc in scores
        },
    }
