"""The audit report: plain frozen dataclasses, rendered as text, JSON or HTML elsewhere.

Every figure keeps its counts (not only a ratio), so a reader can check the arithmetic.
``OVERALL`` stands for "all sources" wherever a row is per source.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

OVERALL = "(all)"


def share(part: float, whole: float) -> float | None:
    """``part / whole``, or None when there is nothing to divide.

    >>> share(1, 4), share(3, 0)
    (0.25, None)
    """
    return part / whole if whole else None


@dataclass(frozen=True, slots=True)
class SourceCounts:
    """Volumes and attribution of one source (or all of them)."""

    source: str
    events: int
    by_type: dict[str, int]
    unattributed_events: int  # carried no identifier, so no member
    purchases: int
    spend: float
    unattributed_purchases: int
    unattributed_spend: float

    @property
    def unattributed_event_share(self) -> float | None:
        return share(self.unattributed_events, self.events)

    @property
    def unattributed_spend_share(self) -> float | None:
        return share(self.unattributed_spend, self.spend)


@dataclass(frozen=True, slots=True)
class FieldQuality:
    """Completeness and validity of one field in one source (or all of them).

    ``applicable``: events of the types that have the field; ``present``: those carrying a
    non-empty value; ``valid``: present values passing every check (None: no checks).
    ``reasons``: failing checks with their counts, most frequent first.
    """

    field: str
    source: str
    applicable: int
    present: int
    valid: int | None
    reasons: tuple[tuple[str, int], ...] = ()

    @property
    def completeness(self) -> float | None:
        return share(self.present, self.applicable)

    @property
    def validity(self) -> float | None:
        return None if self.valid is None else share(self.valid, self.present)


@dataclass(frozen=True, slots=True)
class Lookalikes:
    """Members that look like one person (same name, birthday, postcode) yet stay apart."""

    groups: int
    members: int
    disagreeing: dict[str, int]  # identifier kind -> groups whose members hold different ones
    examples: tuple[tuple[str, ...], ...]  # a few groups of member ids, to look at

    @property
    def possible_merges(self) -> int:
        return self.members - self.groups


@dataclass(frozen=True, slots=True)
class Duplicates:
    rows: int  # events read, before removing re-sent event ids
    resent_event_ids: int | None  # None: not measurable (the store keeps one copy)
    orders: int  # distinct order ids among purchases
    repeated_orders: int  # order ids carried by more than one purchase event
    extra_purchase_events: int
    double_counted_spend: float
    lookalikes: Lookalikes


@dataclass(frozen=True, slots=True)
class IdentityCoverage:
    members: int  # current members (merged ones not counted)
    with_kind: dict[str, int]  # identifier kind -> members holding at least one
    identifiers: int
    identifiers_per_member: dict[str, float]  # mean, p50, p90, max
    multi_source_members: int  # members with events from more than one source
    reachable: int  # members holding an email or a phone
    stated: dict[str, int]  # profile attribute -> members who ever stated it
    merged_members: int | None  # None when not known (raw files are resolved in one pass)
    merges: int | None

    def kind_share(self, kind: str) -> float | None:
        return share(self.with_kind.get(kind, 0), self.members)


@dataclass(frozen=True, slots=True)
class Freshness:
    source: str
    events: int
    first_occurred: datetime | None
    latest_occurred: datetime | None
    latest_received: datetime | None
    age_days: float | None  # as_of minus the latest occurred_at
    lag_seconds: dict[str, float]  # received_at - occurred_at: p50, p90, p99 (empty: unknown)
    silent_days: int  # days without events in the last ``window_days`` before the newest day
    window_days: int


@dataclass(frozen=True, slots=True)
class Refusals:
    """Records refused by the validator (dead letters), grouped by field and reason."""

    total: int
    by_field: dict[str, int]
    top: tuple[tuple[str, str, int], ...]  # (field, reason pattern, count)


@dataclass(frozen=True, slots=True)
class Fix:
    """One thing to fix, with the measured figure behind it and what fixing it would gain."""

    area: str
    title: str
    figure: str
    impact: str
    score: float  # share of data affected times weight of the area; the ranking key


@dataclass(frozen=True, slots=True)
class AuditReport:
    scope: str  # "store" or "files"
    inputs: tuple[str, ...]
    as_of: datetime
    seconds: float
    sources: tuple[SourceCounts, ...]  # one per source, then OVERALL
    fields: tuple[FieldQuality, ...]  # per field: one per source, then OVERALL
    duplicates: Duplicates
    identity: IdentityCoverage
    freshness: tuple[Freshness, ...]
    refusals: Refusals
    daily: tuple[tuple[str, str, int], ...]  # (day, source, events) for the charts
    fixes: tuple[Fix, ...] = field(default=())

    @property
    def overall(self) -> SourceCounts:
        return next(s for s in self.sources if s.source == OVERALL)

    def source_names(self) -> list[str]:
        return [s.source for s in self.sources if s.source != OVERALL]

    def field_rows(self, source: str = OVERALL) -> list[FieldQuality]:
        return [f for f in self.fields if f.source == source]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: timestamps as ISO text, shares next to their counts."""
        out: dict[str, Any] = _plain(dataclasses.asdict(self))
        for row, src in zip(out["sources"], self.sources, strict=True):
            row["unattributed_event_share"] = src.unattributed_event_share
            row["unattributed_spend_share"] = src.unattributed_spend_share
        for row, fq in zip(out["fields"], self.fields, strict=True):
            row["completeness"] = fq.completeness
            row["validity"] = fq.validity
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
