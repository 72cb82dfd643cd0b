"""What readers hand to the pipeline, and what the pipeline reports back."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from nextbest.events import Rejection
from nextbest.ledger.from_events import LedgerReport

MAX_REPORTED = 1000  # rejections kept in a report; all of them go to the dead-letter store


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record as read: decoded ``data``, or ``error=(field, reason)`` if it could not be."""

    location: str
    data: dict[str, Any] | None
    raw: str
    error: tuple[str, str] | None = None


@dataclass(slots=True)
class IngestReport:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    members_created: int = 0
    merges: int = 0
    anonymous: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    points: LedgerReport = field(default_factory=LedgerReport)  # what the ledger posted

    def add(self, other: IngestReport) -> None:
        self.points.add(other.points)
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.members_created += other.members_created
        self.merges += other.merges
        self.anonymous += other.anonymous
        room = MAX_REPORTED - len(self.rejections)
        self.rejections.extend(other.rejections[: max(room, 0)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "members_created": self.members_created,
            "merges": self.merges,
            "anonymous": self.anonymous,
            "points": asdict(self.points),
            "rejections": [
                {
                    "location": r.location,
                    "field": r.field,
                    "reason": r.reason,
                    "event_id": r.event_id,
                }
                for r in self.rejections
            ],
        }
