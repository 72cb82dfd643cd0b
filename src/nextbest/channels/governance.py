"""Contact governance for a queued message, as one pure verdict.

The same rules a decision applies (``decide.governance``): consent per channel and
purpose, suppression rules, quiet hours on quiet channels, and the frequency-cap and
cool-down slots. A message a decision already governed keeps its slots (they were taken
when it was decided); a service message passes caps when the policy says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nextbest.channels.message import OutboundMessage
from nextbest.decide.actions import Action, ContactPolicy, Priority
from nextbest.decide.engine import MemberFacts
from nextbest.decide.governance import (
    Slot,
    consent_reason,
    contact_slots,
    in_quiet_hours,
    local,
    quiet_ends,
    suppressed_by,
    zone,
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Exactly one of: ``suppress`` (why), ``defer_until`` (UTC) or go ahead with ``slots``."""

    suppress: str | None = None
    defer_until: datetime | None = None
    slots: tuple[Slot, ...] = ()


def priority_of(message: OutboundMessage) -> Priority:
    try:
        return Priority[message.priority.upper()]
    except KeyError:
        return Priority.MARKETING


def as_action(message: OutboundMessage) -> Action:
    """The message seen as an action, so suppression rules can be asked about it."""
    return Action(
        id=message.template,
        kind="service" if message.purpose == "service" else "message",
        name=message.template,
        priority=priority_of(message),
        channels=(message.channel,),
        purpose=message.purpose,
    )


def verdict(
    policy: ContactPolicy, facts: MemberFacts, message: OutboundMessage, *, now: datetime
) -> Verdict:
    """What governance says about sending ``message`` to this member at ``now``.

    >>> from datetime import UTC
    >>> from nextbest.decide.actions import Cap
    >>> p = ContactPolicy(caps=(Cap(1, "day", "email"),), quiet_start=21, quiet_end=8)
    >>> f = MemberFacts(member_id="m", env={}, consent={"email/marketing": True},
    ...                 timezone="UTC")
    >>> m = OutboundMessage(message_id="x", member_id="m", channel="email", template="t")
    >>> [s.reason for s in verdict(p, f, m, now=datetime(2027, 1, 1, 12, tzinfo=UTC)).slots]
    ['cap 1 per day on email']
    >>> verdict(p, f, OutboundMessage(message_id="y", member_id="m", channel="sms",
    ...         template="t"), now=datetime(2027, 1, 1, 12, tzinfo=UTC)).suppress
    'no consent to sms for marketing'
    """
    action = as_action(message)
    why = consent_reason(
        facts.consent, channel=message.channel, purpose=message.purpose, kind=action.kind
    )
    if why is not None:
        return Verdict(suppress=why)
    if not message.governed:
        rule = suppressed_by(policy, action, facts.env)
        if rule is not None:
            return Verdict(suppress=f"suppressed: {rule}")
    local_now = local(now, zone(facts.timezone, policy.default_timezone))
    if message.channel in policy.quiet_channels and in_quiet_hours(policy, local_now):
        return Verdict(defer_until=quiet_ends(policy, local_now))
    if message.governed:
        return Verdict()
    if policy.service_bypasses_caps and action.priority is Priority.SERVICE:
        return Verdict()
    slots = contact_slots(
        policy, member_id=facts.member_id, channel=message.channel, local_at=local_now
    )
    return Verdict(slots=tuple(slots))
