"""Who a message goes to: the member as of now (after merges), their facts, their addresses.

Consent, time zone, profile and ledger come from ``decide.facts.load_facts``, the same reads
a decision makes, so a journey send and a decision never disagree about a member.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from nextbest.decide.engine import MemberFacts
from nextbest.decide.facts import load_facts
from nextbest.identity.hashing import carriable, is_hashed
from nextbest.identity.repository import current_member
from nextbest.store import tables as t

# The identifier kind that addresses each channel; the rest need none.
ADDRESS_KIND = {"email": "email", "sms": "phone", "push": "device_id"}
# Identifier kinds an event may name the member by, most trustworthy first.
EVENT_KINDS = ("loyalty_id", "email", "phone", "pos_card", "ext", "device_id")


@dataclass(frozen=True, slots=True)
class Recipient:
    member_id: str
    facts: MemberFacts
    keys: tuple[str, ...]  # the member's identifier keys, not shared, newest first


def recipient(conn: Connection, member_id: str, *, now: datetime) -> Recipient:
    member = current_member(conn, member_id) or member_id
    keys = conn.execute(
        select(t.identifiers.c.key)
        .where(t.identifiers.c.member_id == member, t.identifiers.c.shared_at.is_(None))
        .order_by(t.identifiers.c.first_seen_at.desc(), t.identifiers.c.key)
    ).scalars()
    return Recipient(member_id=member, facts=load_facts(conn, member, now=now), keys=tuple(keys))


def address(rec: Recipient, channel: str) -> str | None:
    """The newest identifier of the channel's kind (``email:a@b.co`` gives ``a@b.co``).

    With identifiers stored hashed the key holds no address: the profile's contact point
    of that kind (kept by ingestion in that mode) is used, or none.

    >>> from nextbest.decide.engine import MemberFacts
    >>> r = Recipient("m_1", MemberFacts(member_id="m_1", env={}), ("phone:+1415", "email:a@b.co"))
    >>> address(r, "email"), address(r, "sms"), address(r, "push")
    ('a@b.co', '+1415', None)
    >>> hashed = ("email:h:" + "0" * 64,)
    >>> facts = MemberFacts(member_id="m_1", env={"member": {"email": "a@b.co"}})
    >>> bare = MemberFacts(member_id="m_1", env={})
    >>> [address(Recipient("m_1", f, hashed), "email") for f in (facts, bare)]
    ['a@b.co', None]
    """
    kind = ADDRESS_KIND.get(channel)
    if kind is None:
        return None
    prefix = f"{kind}:"
    key = next((k for k in rec.keys if k.startswith(prefix)), None)
    if key is None or not is_hashed(key):
        return None if key is None else key[len(prefix) :]
    contact = rec.facts.env.get("member", {}).get(kind)
    return contact if isinstance(contact, str) and contact else None


def event_identifiers(keys: tuple[str, ...]) -> dict[str, Any] | None:
    """Identifiers that resolve an outcome event to this member, or None if it has none.

    >>> event_identifiers(("email:a@b.co", "loyalty_id:L1"))
    {'loyalty_id': 'L1'}
    >>> event_identifiers(("ext:crm:42",))
    {'external_ids': {'crm': '42'}}
    >>> event_identifiers(("email:h:" + "0" * 64,)) is None
    True
    """
    for kind in EVENT_KINDS:
        for key in keys:
            head, _, rest = key.partition(":")
            if head != kind:
                continue
            if not carriable(key):
                continue  # a hashed email or phone: the event would be refused
            if kind == "ext":
                system, _, ident = rest.partition(":")
                return {"external_ids": {system: ident}}
            return {kind: rest}
    return None


def template_context(rec: Recipient, data: Any) -> dict[str, Any]:
    """What a template sees: member, ledger, scores, recommendations and the message data."""
    env = rec.facts.env
    member = dict(env.get("member", {}))
    member["member_id"] = rec.member_id
    return {
        "member": member,
        "ledger": dict(env.get("ledger", {})),
        "scores": dict(env.get("scores", {})),
        # No per-member recommendation table yet: templates must cope with an empty list.
        "recommendations": [],
        "data": dict(data),
    }
