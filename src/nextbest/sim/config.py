"""Simulation settings and the calendar they imply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime


@dataclass(frozen=True, slots=True)
class SimConfig:
    """What to simulate. Same config (and seed) ⇒ byte-identical output.

    >>> SimConfig(members=10, months=2, start=date(2025, 1, 1)).days
    59
    """

    members: int = 20_000
    months: int = 12
    seed: int = 7
    start: date = date(2025, 1, 1)
    initial_share: float = 0.6
    """Share of persons already members at ``start``; the rest join over the period."""
    newsletter_every_days: int = 14
    part_rows: int = 2_000_000
    """Rows per events part file (memory bound for large runs)."""
    paired_draws: bool = False
    """Common random numbers for paired policy comparisons: a person's draws depend only on
    the seed, the day and the person, so a person never treated gets the same events
    whatever happens to others (``nextbest.sim.draws``). Off: the one stream a day of the
    published demo data. Either way the same response model."""

    def __post_init__(self) -> None:
        if self.members < 1:
            raise ValueError(f"members must be at least 1, got {self.members}")
        if self.months < 1:
            raise ValueError(f"months must be at least 1, got {self.months}")
        if not 0.0 <= self.initial_share <= 1.0:
            raise ValueError(f"initial_share must be in [0, 1], got {self.initial_share}")

    @property
    def end(self) -> date:
        """First day after the simulated period."""
        month0 = self.start.month - 1 + self.months
        year = self.start.year + month0 // 12
        month = month0 % 12 + 1
        day = min(self.start.day, 28)
        return date(year, month, day)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def epoch0(self) -> int:
        """Unix seconds of ``start`` at 00:00 UTC."""
        return int(
            datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC).timestamp()
        )
