"""Channel and send time: predicted engagement per channel, and each member's habitual hours."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from nextbest.decide.actions import INBOUND, ContactPolicy
from nextbest.decide.governance import in_quiet_hours, quiet_ends

# Prior for a channel the member has not been reached on: 1 open in 4 deliveries.
PRIOR_OPENS, PRIOR_DELIVERIES = 1.0, 4.0
MIN_ACTIVE = 3  # fewer active moments than this say nothing about a member's hours
NEAR_BEST = 0.8  # send now when this hour is at least this good as the best one ahead


def engagement(counts: Mapping[str, int], channel: str) -> float:
    """Smoothed probability that a contact on ``channel`` is seen (opened); 1 for inbound
    placements, where the member is already in front of us.

    >>> engagement({"email.delivered": 16, "email.opened": 7}, "email")
    0.4
    >>> engagement({}, "push"), engagement({}, "pos")
    (0.25, 1.0)
    """
    if channel in INBOUND:
        return 1.0
    delivered = counts.get(f"{channel}.delivered", 0)
    opened = counts.get(f"{channel}.opened", 0)
    return (min(opened, delivered) + PRIOR_OPENS) / (delivered + PRIOR_DELIVERIES)


def local_activity(active_hours: Mapping[str, int], offset_hours: int) -> list[int]:
    """Counts by local hour of day from counts by UTC hour."""
    out = [0] * 24
    for hour, n in active_hours.items():
        out[(int(hour) + offset_hours) % 24] += n
    return out


def send_time(
    policy: ContactPolicy,
    *,
    channel: str,
    local_now: datetime,
    active_hours: Mapping[str, int],
    send_now: bool,
) -> tuple[datetime | None, str]:
    """When to send on ``channel`` (local time) and why; None when it cannot go out now and
    the caller asked for now (quiet hours).

    Outside quiet hours, the member's most active hour in the next 24 hours wins, unless
    the current hour is nearly as good; members with too little history get it now.
    """
    quiet_channel = channel in policy.quiet_channels
    quiet = quiet_channel and in_quiet_hours(policy, local_now)
    if channel in INBOUND:
        return local_now, "inbound placement: answered now"
    if send_now:
        if quiet:
            return None, "quiet hours"
        return local_now, "sent now as asked"
    offset = local_now.utcoffset()
    hours = local_activity(active_hours, int(offset.total_seconds() // 3600) if offset else 0)
    total = sum(hours)
    earliest = quiet_ends(policy, local_now) if quiet else local_now
    if total < MIN_ACTIVE:
        why = "outside quiet hours" if quiet else "no habitual hours known"
        return earliest, f"sent at the first moment {why}"
    best_at, best_n = earliest, -1
    start = earliest.replace(minute=0, second=0, microsecond=0)
    for step in range(24):
        slot = start + timedelta(hours=step)
        if quiet_channel and in_quiet_hours(policy, slot):
            continue
        n = hours[slot.hour]
        if n > best_n:
            best_at, best_n = max(slot, earliest), n
    now_n = hours[earliest.hour]
    if now_n >= NEAR_BEST * best_n:
        return earliest, f"local hour {earliest.hour} is among the member's active hours"
    return best_at, f"member most active around {best_at.hour}:00 local ({best_n} of {total})"
