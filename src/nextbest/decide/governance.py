"""Contact governance as pure checks: consent, suppression, quiet hours, caps and cool-down.

A contact needs *slots*: one per frequency cap window, one for the cool-down, one for the
action's per-member cap and one for its overall budget. ``slots_for`` names them; a
``ContactBudget`` adapter (memory, database or Redis) takes them all or none, atomically, so
two concurrent decisions can never both use the last one. ``check`` reads current usage to
explain why a candidate was filtered before anything is reserved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nextbest.decide.actions import INBOUND, Action, ContactPolicy, Priority

DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Slot:
    """A counter ``key`` that may reach ``limit``; it resets at ``expires_at`` (epoch s,
    None: never)."""

    key: str
    limit: int
    expires_at: float | None
    reason: str  # said when the slot is full, e.g. "cap 1 per day on email"


@lru_cache(maxsize=512)
def zone(name: str | None, default: str = "UTC") -> ZoneInfo:
    """The member's time zone, or the default when unknown or invalid."""
    for candidate in (name, default, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def local(at: datetime, tz: ZoneInfo) -> datetime:
    return at.astimezone(tz)


def in_quiet_hours(policy: ContactPolicy, local_at: datetime) -> bool:
    """Whether ``local_at`` falls in quiet hours (which may wrap midnight).

    >>> p = ContactPolicy(quiet_start=21, quiet_end=8)
    >>> [in_quiet_hours(p, datetime(2026, 1, 1, h)) for h in (7, 8, 20, 21, 23)]
    [True, False, False, True, True]
    """
    start, end = policy.quiet_start, policy.quiet_end
    if start is None or end is None or start == end:
        return False
    h = local_at.hour
    return start <= h < end if start < end else (h >= start or h < end)


def quiet_ends(policy: ContactPolicy, local_at: datetime) -> datetime:
    """The first moment at or after ``local_at`` outside quiet hours (local time)."""
    if not in_quiet_hours(policy, local_at) or policy.quiet_end is None:
        return local_at
    end = local_at.replace(hour=policy.quiet_end, minute=0, second=0, microsecond=0)
    if end <= local_at:
        end += timedelta(days=1)
    return end


def _period(period: str, local_at: datetime) -> tuple[str, float]:
    """Window id and its end (epoch seconds) for a day or an ISO week in local time."""
    midnight = local_at.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return midnight.strftime("%Y-%m-%d"), (midnight + timedelta(days=1)).timestamp()
    year, week, weekday = local_at.isocalendar()
    end = midnight + timedelta(days=8 - weekday)
    return f"{year}-W{week:02d}", end.timestamp()


def caps_cover(policy: ContactPolicy, action: Action) -> bool:
    """Whether contacts of ``action`` on outbound channels count against caps and cool-down
    (inbound placements never do)."""
    if action.kind == "nothing":
        return False
    return not (policy.service_bypasses_caps and action.priority is Priority.SERVICE)


def contact_slots(
    policy: ContactPolicy, *, member_id: str, channel: str, local_at: datetime
) -> list[Slot]:
    """The frequency-cap and cool-down slots of any capped contact on ``channel`` at
    ``local_at``: the same for every action, so a decision computes them once a channel."""
    out: list[Slot] = []
    windows: dict[str, tuple[str, float]] = {}
    for cap in policy.caps:
        if cap.channel is not None and cap.channel != channel:
            continue
        got = windows.get(cap.period)
        if got is None:
            got = windows[cap.period] = _period(cap.period, local_at)
        window, ends = got
        scope = cap.channel or "all"
        out.append(
            Slot(
                key=f"m:{member_id}:{scope}:{window}",
                limit=cap.limit,
                expires_at=ends,
                reason=f"cap {cap.limit} per {cap.period} on {scope} channels"
                if scope == "all"
                else f"cap {cap.limit} per {cap.period} on {scope}",
            )
        )
    if policy.cooldown_hours > 0:
        out.append(
            Slot(
                key=f"m:{member_id}:cooldown",
                limit=1,
                expires_at=local_at.timestamp() + policy.cooldown_hours * 3600.0,
                reason=f"cool-down of {policy.cooldown_hours:g} h after a contact",
            )
        )
    out.sort(key=lambda s: s.key)
    return out


def member_cap_key(member_id: str, action_id: str) -> str:
    return f"m:{member_id}:action:{action_id}"


def budget_key(action_id: str) -> str:
    return f"budget:{action_id}"


def action_slots(action: Action, *, member_id: str) -> list[Slot]:
    """The slots of the action itself, on any channel: its per-member cap and its budget."""
    out: list[Slot] = []
    if action.member_cap is not None:
        out.append(
            Slot(
                key=member_cap_key(member_id, action.id),
                limit=action.member_cap,
                expires_at=None,
                reason=f"member cap {action.member_cap} for {action.id}",
            )
        )
    if action.budget is not None:
        end = action.ends_at.timestamp() if action.ends_at else None
        out.append(
            Slot(
                key=budget_key(action.id),
                limit=action.budget,
                expires_at=end,
                reason=f"budget of {action.budget} contacts for {action.id} spent",
            )
        )
    out.sort(key=lambda s: s.key)
    return out


def slots_for(
    policy: ContactPolicy,
    *,
    member_id: str,
    action: Action,
    channel: str,
    local_at: datetime,
) -> list[Slot]:
    """Every slot a contact of ``action`` on ``channel`` to this member takes, keys sorted
    (a fixed order keeps database locks free of deadlocks)."""
    out = action_slots(action, member_id=member_id)
    if channel not in INBOUND and caps_cover(policy, action):
        out += contact_slots(policy, member_id=member_id, channel=channel, local_at=local_at)
    out.sort(key=lambda s: s.key)
    return out


def full_slot(slots: Sequence[Slot], usage: Mapping[str, int]) -> Slot | None:
    """The first slot already at its limit, by current usage."""
    for s in slots:
        if usage.get(s.key, 0) >= s.limit:
            return s
    return None


def consent_reason(
    consent: Mapping[str, Any], *, channel: str, purpose: str, kind: str
) -> str | None:
    """Why consent forbids this contact, or None.

    Marketing and loyalty contacts need an explicit yes for the channel and purpose;
    service contacts go out unless the member said no. Inbound placements (the member is
    on the till, app or web page) carry no contact and need none.

    >>> consent_reason({"email/marketing": True}, channel="email", purpose="marketing",
    ...                kind="offer") is None
    True
    >>> consent_reason({}, channel="sms", purpose="marketing", kind="offer")
    'no consent to sms for marketing'
    >>> consent_reason({}, channel="sms", purpose="service", kind="service") is None
    True
    """
    if kind == "nothing" or channel in INBOUND:
        return None
    given = consent.get(f"{channel}/{purpose}")
    if purpose == "service":
        return f"member refused {channel} for service" if given is False else None
    if given is not True:
        return f"no consent to {channel} for {purpose}"
    return None


def suppressed_by(policy: ContactPolicy, action: Action, env: Mapping[str, Any]) -> str | None:
    """The name of the first suppression rule that holds and covers this action."""
    for rule in policy.suppressions:
        covers = action.priority in rule.priorities or bool(action.tags & rule.tags)
        if covers and rule.when.holds(env):
            return rule.name
    return None


def utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at
