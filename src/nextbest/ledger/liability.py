"""What the outstanding points are worth: gross and net of expected breakage, broken down.

Outstanding means spendable at ``as_of`` (:func:`~nextbest.ledger.breakage.outstanding_points`):
a lot whose expiry has passed is due to expire and no longer a liability. Gross liability is
points x cost per point (the cost to the program of honouring a point, in program
currency); net liability is gross less the value of the points expected to break.

Every breakdown (tier, earning cohort, expiry month) partitions the same outstanding lots,
so its lots, points, liabilities and breakage add up to the total; member counts do not
add up (a member holds lots in several cohorts), they count distinct members per line.
Months are calendar months in UTC.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from nextbest.ledger.breakage import BreakageModel, outstanding_points
from nextbest.ledger.flows import LotFlow

NO_TIER = "none"
NO_EXPIRY = "never"
UNITS = {
    "points": "points",
    "expected_breakage_points": "points",
    "gross_liability": "program currency",
    "net_liability": "program currency",
    "cost_per_point": "program currency per point",
    "breakage_share": "fraction of outstanding points",
}


@dataclass(frozen=True, slots=True)
class LiabilityLine:
    """One line of a breakdown; breakage fields are ``None`` without a model."""

    key: str
    lots: int
    members: int  # distinct members: not additive across lines
    points: int
    gross_liability: float
    expected_breakage_points: float | None
    net_liability: float | None

    @property
    def breakage_share(self) -> float | None:
        if self.expected_breakage_points is None or not self.points:
            return None
        return self.expected_breakage_points / self.points

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "lots": self.lots,
            "members": self.members,
            "points": self.points,
            "gross_liability": self.gross_liability,
            "expected_breakage_points": self.expected_breakage_points,
            "breakage_share": self.breakage_share,
            "net_liability": self.net_liability,
        }


@dataclass(frozen=True, slots=True)
class ExpiringWindow:
    """Outstanding points expiring within ``days`` of the report date (windows nest)."""

    days: int
    lots: int
    members: int
    points: int
    gross_liability: float
    expected_breakage_points: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "lots": self.lots,
            "members": self.members,
            "points": self.points,
            "gross_liability": self.gross_liability,
            "expected_breakage_points": self.expected_breakage_points,
        }


@dataclass(frozen=True, slots=True)
class LiabilityReport:
    as_of: datetime
    cost_per_point: float
    model_version: str | None
    model_as_of: datetime | None
    total: LiabilityLine
    by_tier: tuple[LiabilityLine, ...]
    by_cohort: tuple[LiabilityLine, ...]  # key: month earned, "YYYY-MM"
    by_expiry_month: tuple[LiabilityLine, ...]  # key: "YYYY-MM" or "never"
    points_by_expiry_month_and_tier: tuple[tuple[str, str, int], ...]  # for the chart
    expiring: tuple[ExpiringWindow, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: points in points, money in program currency (see ``units``)."""
        return {
            "as_of": self.as_of.isoformat(),
            "units": dict(UNITS),
            "cost_per_point": self.cost_per_point,
            "breakage_model": None
            if self.model_version is None or self.model_as_of is None
            else {"version": self.model_version, "fitted_as_of": self.model_as_of.isoformat()},
            "total": self.total.to_dict(),
            "by_tier": [line.to_dict() for line in self.by_tier],
            "by_cohort": [line.to_dict() for line in self.by_cohort],
            "by_expiry_month": [line.to_dict() for line in self.by_expiry_month],
            "points_by_expiry_month_and_tier": [
                {"expiry_month": month, "tier": tier, "points": points}
                for month, tier, points in self.points_by_expiry_month_and_tier
            ],
            "expiring": [window.to_dict() for window in self.expiring],
        }


@dataclass(slots=True)
class _Sum:
    lots: int = 0
    points: int = 0
    broken: list[float] = field(default_factory=list)
    members: set[str] = field(default_factory=set)

    def add(self, lot: LotFlow, points: int, broken: float | None) -> None:
        self.lots += 1
        self.points += points
        self.members.add(lot.member_id)
        if broken is not None:
            self.broken.append(broken)

    def line(self, key: str, *, cost_per_point: float, with_model: bool) -> LiabilityLine:
        gross = self.points * cost_per_point
        broken = math.fsum(self.broken) if with_model else None
        return LiabilityLine(
            key=key,
            lots=self.lots,
            members=len(self.members),
            points=self.points,
            gross_liability=gross,
            expected_breakage_points=broken,
            net_liability=None if broken is None else (self.points - broken) * cost_per_point,
        )


def _month(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m")


def _month_order(key: str) -> tuple[int, str]:
    return (1, key) if key == NO_EXPIRY else (0, key)


def _tier_order(key: str) -> tuple[int, str]:
    return (1, key) if key == NO_TIER else (0, key)


def liability_report(
    lots: Iterable[LotFlow],
    *,
    as_of: datetime,
    cost_per_point: float,
    model: BreakageModel | None,
    expiring_days: Iterable[int] = (30, 60, 90),
) -> LiabilityReport:
    """Outstanding points at ``as_of`` valued at ``cost_per_point``, net of ``model``'s breakage.

    ``model`` must have been fitted no later than ``as_of`` (a report never uses what
    happened after its date); ``None`` gives gross figures only. ``expiring_days`` sets
    the windows of the expiring-soon schedule: lots with ``as_of < expires_at <= as_of +
    days``.

    >>> from datetime import UTC, datetime
    >>> lots = [LotFlow("l1", "m1", "gold", datetime(2026, 1, 5, tzinfo=UTC),
    ...                 datetime(2027, 1, 5, tzinfo=UTC), 1000),
    ...         LotFlow("l2", "m2", None, datetime(2026, 2, 5, tzinfo=UTC), None, 500)]
    >>> report = liability_report(lots, as_of=datetime(2026, 6, 30, tzinfo=UTC),
    ...                           cost_per_point=0.01, model=None)
    >>> report.total.points, report.total.gross_liability, report.total.net_liability
    (1500, 15.0, None)
    >>> [(line.key, line.points) for line in report.by_expiry_month]
    [('2027-01', 1000), ('never', 500)]
    """
    if not math.isfinite(cost_per_point) or cost_per_point < 0:
        raise ValueError(f"cost_per_point must be a finite number >= 0, got {cost_per_point}")
    windows = sorted(set(expiring_days))
    if any(days < 1 for days in windows):
        raise ValueError(f"expiring_days must be positive, got {windows}")
    if model is not None and model.as_of > as_of:
        raise ValueError(
            f"breakage model {model.version} was fitted as of {model.as_of:%Y-%m-%d},"
            f" after the report date {as_of:%Y-%m-%d}"
        )
    total = _Sum()
    tiers: dict[str, _Sum] = {}
    cohorts: dict[str, _Sum] = {}
    expiries: dict[str, _Sum] = {}
    cross: dict[tuple[str, str], int] = {}
    soon = {days: _Sum() for days in windows}
    for lot in lots:
        points = outstanding_points(lot, as_of=as_of)
        if not points:
            continue
        broken = None if model is None else points * model.breakage_share(lot, as_of=as_of)
        tier = lot.tier or NO_TIER
        expiry = NO_EXPIRY if lot.expires_at is None else _month(lot.expires_at)
        for bucket in (
            total,
            tiers.setdefault(tier, _Sum()),
            cohorts.setdefault(_month(lot.earned_at), _Sum()),
            expiries.setdefault(expiry, _Sum()),
        ):
            bucket.add(lot, points, broken)
        cross[expiry, tier] = cross.get((expiry, tier), 0) + points
        if lot.expires_at is not None:
            for days in windows:
                if lot.expires_at <= as_of + timedelta(days=days):
                    soon[days].add(lot, points, broken)

    def lines(
        groups: dict[str, _Sum], order: Callable[[str], tuple[int, str]]
    ) -> tuple[LiabilityLine, ...]:
        return tuple(
            groups[key].line(key, cost_per_point=cost_per_point, with_model=model is not None)
            for key in sorted(groups, key=order)
        )

    return LiabilityReport(
        as_of=as_of,
        cost_per_point=cost_per_point,
        model_version=None if model is None else model.version,
        model_as_of=None if model is None else model.as_of,
        total=total.line("total", cost_per_point=cost_per_point, with_model=model is not None),
        by_tier=lines(tiers, _tier_order),
        by_cohort=lines(cohorts, _month_order),
        by_expiry_month=lines(expiries, _month_order),
        points_by_expiry_month_and_tier=tuple(
            (month, tier, points)
            for (month, tier), points in sorted(
                cross.items(), key=lambda kv: (_month_order(kv[0][0]), _tier_order(kv[0][1]))
            )
        ),
        expiring=tuple(
            ExpiringWindow(
                days=days,
                lots=s.lots,
                members=len(s.members),
                points=s.points,
                gross_liability=s.points * cost_per_point,
                expected_breakage_points=None if model is None else math.fsum(s.broken),
            )
            for days, s in soon.items()
        ),
    )
