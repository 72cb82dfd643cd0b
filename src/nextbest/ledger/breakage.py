"""Breakage: the share of outstanding points that will never be redeemed, learned from history.

The model is a point-weighted actuarial life table over lot age in calendar months (the
same months :func:`~nextbest.ledger.program.add_months` counts, so a 12-month expiry ends a
lot at age exactly 12). Each point is a unit at risk of redemption from the moment its lot
is earned. Over age month ``k`` (ages ``[k, k + 1)``):

- a burn is the event;
- an expiry, a clawback or the end of observation (``as_of``) withdraws points without an
  event: expiry is the competing outcome the model predicts, clawbacks are neither
  redeemed nor broken, so for the redemption hazard all three are censoring;
- ``h_k = burned_k / (at_risk_k - sum(withdrawn * (1 - f)))`` where ``f`` is the fraction
  of the month a withdrawn point was still at risk (the actuarial correction with the
  exact withdrawal time instead of the usual one half). This assumes redemptions spread
  uniformly within a month, so the survival over a fraction ``f`` of month ``k`` is
  ``1 - f * h_k``; predictions use the same assumption for partial months.

Pooling rule: an age whose hazard rests on fewer than ``min_lots_at_risk`` lots is too thin
to stand alone. Lots at risk never grow with age (every lot enters at age 0), so the thin
ages form a tail: every age after the last well-observed age ``K`` gets the pooled hazard
of ages ``K`` and older (sum of burns over sum of effective points at risk). Ages nobody
has reached yet take the same value: a constant-hazard extrapolation. With no
well-observed age at all, one hazard is pooled over all ages.

>>> from datetime import UTC
>>> jan = datetime(2025, 1, 1, tzinfo=UTC)
>>> lots = [LotFlow(f"l{i}", f"m{i}", None, jan, datetime(2025, 3, 1, tzinfo=UTC), 100,
...                 (Outflow(datetime(2025, 1, 16, tzinfo=UTC), 100, "burn"),) if i < 2 else ())
...         for i in range(4)]
>>> model = fit_breakage(lots, as_of=datetime(2025, 6, 1, tzinfo=UTC), max_age_months=3,
...                      min_lots_at_risk=1)
>>> model.hazards  # half the points burned in month 0, none in month 1, month 2 never reached
(0.5, 0.0, 0.0)
>>> model.breakage_share(lots[3], as_of=jan)
0.5
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from nextbest.errors import NextbestError
from nextbest.ledger.flows import LotFlow, Outflow
from nextbest.ledger.program import add_months

METHOD = "point-weighted actuarial life table by lot age in calendar months"
DEFAULT_MAX_AGE_MONTHS = 36
DEFAULT_MIN_LOTS_AT_RISK = 30


class InsufficientHistory(NextbestError, ValueError):
    """Not enough history to fit or evaluate a breakage model; says what is missing."""


def lot_age_months(earned_at: datetime, at: datetime) -> float:
    """Age of a lot at ``at`` in calendar months, the fraction measured within the month.

    >>> from datetime import UTC
    >>> lot_age_months(datetime(2026, 1, 31, tzinfo=UTC), datetime(2026, 2, 28, tzinfo=UTC))
    1.0
    >>> round(lot_age_months(datetime(2026, 1, 1, tzinfo=UTC),
    ...                      datetime(2026, 1, 16, 12, tzinfo=UTC)), 3)
    0.5
    """
    if at <= earned_at:
        return 0.0
    if earned_at.tzinfo is not None:
        at = at.astimezone(earned_at.tzinfo)  # count months on the earning clock
    months = (at.year - earned_at.year) * 12 + at.month - earned_at.month
    start = add_months(earned_at, months)
    if start > at:
        months -= 1
        start = add_months(earned_at, months)
    end = add_months(earned_at, months + 1)
    return months + (at - start) / (end - start)


def outstanding_points(lot: LotFlow, *, as_of: datetime) -> int:
    """Points of ``lot`` still spendable at ``as_of``.

    Zero for a lot not yet earned, and for one whose ``expires_at`` has passed: its
    remaining points are due to expire, whether or not the expiry posting has run.

    >>> from datetime import UTC
    >>> lot = LotFlow("l1", "m1", None, datetime(2026, 1, 5, tzinfo=UTC),
    ...               datetime(2027, 1, 5, tzinfo=UTC), 120,
    ...               (Outflow(datetime(2026, 2, 1, tzinfo=UTC), 100, "burn"),))
    >>> outstanding_points(lot, as_of=datetime(2026, 6, 30, tzinfo=UTC))
    20
    >>> outstanding_points(lot, as_of=datetime(2027, 1, 5, tzinfo=UTC))
    0
    """
    if lot.earned_at > as_of or (lot.expires_at is not None and lot.expires_at <= as_of):
        return 0
    return max(lot.remaining_at(as_of), 0)


class BreakageEstimate(NamedTuple):
    """Outstanding points and how many of them are expected never to be redeemed."""

    outstanding_points: int
    expected_broken_points: float

    @property
    def share(self) -> float:
        """Expected broken share of the outstanding points (0.0 when nothing is outstanding)."""
        if not self.outstanding_points:
            return 0.0
        return self.expected_broken_points / self.outstanding_points


@dataclass(frozen=True, slots=True)
class BreakageModel:
    """Redemption hazards by lot age month and the life table they came from.

    Every tuple has one entry per age month ``0 … max_age_months - 1``; ``hazards`` are the
    ones predictions use (pooled from ``pooled_from`` on), ``raw_hazards`` the unpooled
    estimates (``None`` where no point was at risk).
    """

    as_of: datetime
    hazards: tuple[float, ...]
    raw_hazards: tuple[float | None, ...]
    points_at_risk: tuple[int, ...]
    effective_points_at_risk: tuple[float, ...]
    lots_at_risk: tuple[int, ...]
    points_burned: tuple[int, ...]
    points_withdrawn: tuple[int, ...]
    pooled_from: int  # first age month that uses the pooled tail hazard (== horizon: none)
    min_lots_at_risk: int

    @property
    def max_age_months(self) -> int:
        """The model horizon: points unredeemed at this age count as broken."""
        return len(self.hazards)

    @property
    def version(self) -> str:
        """Content hash of the parameters: the same fit always has the same version."""
        canonical = json.dumps(
            {
                "method": METHOD,
                "as_of": self.as_of.isoformat(),
                "hazards": list(self.hazards),
                "pooled_from": self.pooled_from,
                "min_lots_at_risk": self.min_lots_at_risk,
            },
            sort_keys=True,
        )
        return "breakage-" + hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def survival(self, start_age: float, end_age: float) -> float:
        """Probability a point unredeemed at ``start_age`` is still unredeemed at ``end_age``.

        Ages are in months and clipped to the horizon; within a month redemptions are
        spread uniformly, which is what the fit assumed too.

        >>> from datetime import UTC
        >>> m = BreakageModel(datetime(2026, 1, 1, tzinfo=UTC), (0.5, 0.2), (0.5, 0.2),
        ...                   (10, 5), (10.0, 5.0), (2, 1), (5, 1), (0, 0), 2, 1)
        >>> m.survival(0, 2)  # (1 - 0.5) * (1 - 0.2)
        0.4
        >>> round(m.survival(0.5, 1), 4)  # (1 - 0.5) / (1 - 0.5 * 0.5)
        0.6667
        """
        end_age = min(end_age, self.max_age_months)
        start_age = max(start_age, 0.0)
        survive = 1.0
        k = math.floor(start_age)
        while k < end_age:
            lo, hi = max(start_age - k, 0.0), min(end_age - k, 1.0)
            h = self.hazards[k]
            # lo < 1 always, so the denominator stays positive even when h == 1
            survive *= (1.0 - hi * h) / (1.0 - lo * h)
            k += 1
        return survive

    def cumulative_redemption(self) -> tuple[float, ...]:
        """Share of a new lot's points redeemed by each age ``0 … max_age_months``.

        >>> from datetime import UTC
        >>> m = BreakageModel(datetime(2026, 1, 1, tzinfo=UTC), (0.5, 0.2), (0.5, 0.2),
        ...                   (10, 5), (10.0, 5.0), (2, 1), (5, 1), (0, 0), 2, 1)
        >>> m.cumulative_redemption()
        (0.0, 0.5, 0.6)
        """
        return tuple(1.0 - self.survival(0, age) for age in range(self.max_age_months + 1))

    def breakage_share(self, lot: LotFlow, *, as_of: datetime) -> float:
        """Expected share of the lot's points still unredeemed at ``as_of`` that will break.

        With an ``expires_at``, the points not redeemed before expiry break. Without one
        (inactivity or no expiry), the points not redeemed by the model horizon
        (``max_age_months``) count as broken; an expiry beyond the horizon is cut to it.
        A lot already at or past its end (expired, or older than the horizon) breaks fully.
        A lot earned after ``as_of`` is valued from age 0.

        >>> from datetime import UTC
        >>> m = BreakageModel(datetime(2026, 1, 1, tzinfo=UTC), (0.5, 0.2), (0.5, 0.2),
        ...                   (10, 5), (10.0, 5.0), (2, 1), (5, 1), (0, 0), 2, 1)
        >>> lot = LotFlow("l1", "m1", None, datetime(2026, 1, 1, tzinfo=UTC),
        ...               datetime(2026, 2, 1, tzinfo=UTC), 100)
        >>> m.breakage_share(lot, as_of=datetime(2026, 1, 1, tzinfo=UTC))
        0.5
        """
        if lot.expires_at is not None and lot.expires_at <= as_of:
            return 1.0
        age = lot_age_months(lot.earned_at, as_of)
        end = float(self.max_age_months)
        if lot.expires_at is not None:
            end = min(end, lot_age_months(lot.earned_at, lot.expires_at))
        if end <= age:
            return 1.0
        return self.survival(age, end)

    def expected_breakage(self, lots: Iterable[LotFlow], *, as_of: datetime) -> BreakageEstimate:
        """Outstanding points at ``as_of`` (see :func:`outstanding_points`) and their breakage.

        >>> from datetime import UTC
        >>> m = BreakageModel(datetime(2026, 1, 1, tzinfo=UTC), (0.5, 0.2), (0.5, 0.2),
        ...                   (10, 5), (10.0, 5.0), (2, 1), (5, 1), (0, 0), 2, 1)
        >>> lot = LotFlow("l1", "m1", None, datetime(2026, 1, 1, tzinfo=UTC), None, 100)
        >>> est = m.expected_breakage([lot], as_of=datetime(2026, 1, 1, tzinfo=UTC))
        >>> est.outstanding_points, round(est.expected_broken_points, 6), round(est.share, 6)
        (100, 40.0, 0.4)
        """
        outstanding, broken = 0, 0.0
        for lot in lots:
            points = outstanding_points(lot, as_of=as_of)
            if points:
                outstanding += points
                broken += points * self.breakage_share(lot, as_of=as_of)
        return BreakageEstimate(outstanding, broken)

    def to_dict(self) -> dict[str, Any]:
        """The life table behind the model, JSON-ready, for explanation."""
        redeemed = self.cumulative_redemption()
        return {
            "version": self.version,
            "method": METHOD,
            "fitted_as_of": self.as_of.isoformat(),
            "max_age_months": self.max_age_months,
            "min_lots_at_risk": self.min_lots_at_risk,
            "pooled_from_age_month": self.pooled_from,
            "ages": [
                {
                    "age_month": k,
                    "points_at_risk": self.points_at_risk[k],
                    "effective_points_at_risk": self.effective_points_at_risk[k],
                    "lots_at_risk": self.lots_at_risk[k],
                    "points_burned": self.points_burned[k],
                    "points_withdrawn": self.points_withdrawn[k],
                    "raw_hazard": self.raw_hazards[k],
                    "hazard": self.hazards[k],
                    "pooled": k >= self.pooled_from,
                    "cumulative_redeemed": redeemed[k + 1],
                }
                for k in range(self.max_age_months)
            ],
        }


class _LifeTable:
    """Accumulates one lot at a time; difference arrays keep a lot O(its outflows)."""

    def __init__(self, horizon: int) -> None:
        self.horizon = horizon
        self.points_diff = [0] * (horizon + 1)
        self.lots_diff = [0] * (horizon + 1)
        self.burned = [0] * horizon
        self.withdrawn = [0] * horizon
        # withdrawn points x the part of the month they missed; summed with fsum at the end
        # so the fit (and its version hash) does not depend on the order of the lots
        self.unexposed: list[list[float]] = [[] for _ in range(horizon)]

    def _withdraw(self, age: float, points: int) -> None:
        k = math.floor(age)
        self.withdrawn[k] += points
        self.unexposed[k].append(points * (1.0 - (age - k)))

    def add(self, lot: LotFlow, *, as_of: datetime) -> None:
        if lot.earned_at > as_of or lot.points <= 0:
            return
        ends = [as_of] if lot.expires_at is None else [as_of, lot.expires_at]
        end_age = min(lot_age_months(lot.earned_at, min(ends)), float(self.horizon))
        stop = math.ceil(end_age)  # first age month the lot is not at risk in
        if stop == 0:
            return
        self.points_diff[0] += lot.points
        self.lots_diff[0] += 1
        remaining, lot_stop = lot.points, stop
        outflows: list[Outflow] = sorted(lot.outflows, key=lambda o: o.at)
        for o in outflows:
            age = lot_age_months(lot.earned_at, o.at)
            points = min(o.points, remaining)  # never more than is left, whatever the data
            if o.at > as_of or age >= end_age or points <= 0:
                continue  # not yet known, or after the lot left the risk set
            k = math.floor(age)
            if o.kind == "burn":
                self.burned[k] += points
            else:
                self._withdraw(age, points)
            self.points_diff[k + 1] -= points
            remaining -= points
            if remaining <= 0 and lot_stop == stop:
                lot_stop = k + 1
        self.lots_diff[lot_stop] -= 1
        self.points_diff[stop] -= remaining
        if remaining > 0 and end_age < stop:
            self._withdraw(end_age, remaining)  # expiry or end of observation mid-month

    def model(self, *, as_of: datetime, min_lots_at_risk: int) -> BreakageModel:
        at_risk, lots = [0] * self.horizon, [0] * self.horizon
        points, count = 0, 0
        for k in range(self.horizon):
            points += self.points_diff[k]
            count += self.lots_diff[k]
            at_risk[k], lots[k] = points, count
        effective = [
            max(n - math.fsum(u), 0.0) for n, u in zip(at_risk, self.unexposed, strict=True)
        ]
        if not any(effective):
            raise InsufficientHistory(
                f"no points at risk before as_of {as_of:%Y-%m-%d}: no lot earned by then"
            )
        raw = [d / e if e > 0 else None for d, e in zip(self.burned, effective, strict=True)]
        well_observed = [k for k in range(self.horizon) if lots[k] >= min_lots_at_risk]
        last = well_observed[-1] if well_observed else -1
        pool_start = max(last, 0)
        pooled_events = sum(self.burned[pool_start:])
        pooled_exposure = sum(effective[pool_start:])
        pooled = pooled_events / pooled_exposure if pooled_exposure > 0 else 0.0
        hazards = [
            pooled if k > last else (h if h is not None else pooled) for k, h in enumerate(raw)
        ]
        return BreakageModel(
            as_of=as_of,
            hazards=tuple(hazards),
            raw_hazards=tuple(raw),
            points_at_risk=tuple(at_risk),
            effective_points_at_risk=tuple(effective),
            lots_at_risk=tuple(lots),
            points_burned=tuple(self.burned),
            points_withdrawn=tuple(self.withdrawn),
            pooled_from=last + 1,
            min_lots_at_risk=min_lots_at_risk,
        )


def fit_breakage(
    lots: Iterable[LotFlow],
    *,
    as_of: datetime,
    max_age_months: int = DEFAULT_MAX_AGE_MONTHS,
    min_lots_at_risk: int = DEFAULT_MIN_LOTS_AT_RISK,
) -> BreakageModel:
    """Fit redemption hazards by lot age from what was known at ``as_of``.

    Lots earned after ``as_of`` and outflows after it are ignored; a lot still open at
    ``as_of`` is censored there. Ages at or beyond ``max_age_months`` are not fitted.

    >>> from datetime import UTC
    >>> lot = LotFlow("l1", "m1", None, datetime(2026, 1, 1, tzinfo=UTC), None, 100,
    ...               (Outflow(datetime(2026, 2, 1, tzinfo=UTC), 25, "burn"),))
    >>> fit_breakage([lot], as_of=datetime(2026, 3, 1, tzinfo=UTC), max_age_months=2,
    ...              min_lots_at_risk=1).hazards  # the burn on 1 Feb is at age 1.0
    (0.0, 0.25)
    """
    if max_age_months < 1:
        raise ValueError(f"max_age_months must be at least 1, got {max_age_months}")
    if min_lots_at_risk < 1:
        raise ValueError(f"min_lots_at_risk must be at least 1, got {min_lots_at_risk}")
    table = _LifeTable(max_age_months)
    for lot in lots:
        table.add(lot, as_of=as_of)
    return table.model(as_of=as_of, min_lots_at_risk=min_lots_at_risk)


@dataclass(frozen=True, slots=True)
class Backtest:
    """Predicted against realised breakage of the points outstanding at ``cutoff``.

    Shares are over points whose fate is redeemed or broken (clawed-back points are in
    neither); ``lot_*`` give each lot equal weight instead of each point.
    """

    cutoff: datetime
    as_of: datetime
    model_version: str
    lots_evaluated: int
    points_evaluated: int
    points_clawed_back: int  # outstanding at cutoff, later clawed back: left out
    lots_unresolved: int  # outstanding at cutoff, fate still open at as_of: left out
    predicted_share: float
    actual_share: float
    lot_predicted_share: float
    lot_actual_share: float

    @property
    def abs_error_pp(self) -> float:
        """Absolute error of the point-weighted share, in percentage points."""
        return abs(self.predicted_share - self.actual_share) * 100.0

    @property
    def lot_abs_error_pp(self) -> float:
        return abs(self.lot_predicted_share - self.lot_actual_share) * 100.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "as_of": self.as_of.isoformat(),
            "model_version": self.model_version,
            "lots_evaluated": self.lots_evaluated,
            "points_evaluated": self.points_evaluated,
            "points_clawed_back": self.points_clawed_back,
            "lots_unresolved": self.lots_unresolved,
            "predicted_share": self.predicted_share,
            "actual_share": self.actual_share,
            "abs_error_pp": self.abs_error_pp,
            "lot_predicted_share": self.lot_predicted_share,
            "lot_actual_share": self.lot_actual_share,
            "lot_abs_error_pp": self.lot_abs_error_pp,
        }


def _fate_at(lot: LotFlow, horizon: int) -> datetime:
    """When the model settles the lot: its expiry, or the horizon if that comes first."""
    end = add_months(lot.earned_at, horizon)
    return end if lot.expires_at is None else min(end, lot.expires_at)


def backtest(
    lots: Iterable[LotFlow],
    *,
    cutoff: datetime,
    as_of: datetime,
    max_age_months: int = DEFAULT_MAX_AGE_MONTHS,
    min_lots_at_risk: int = DEFAULT_MIN_LOTS_AT_RISK,
) -> Backtest:
    """Fit at ``cutoff``, predict the outstanding points, compare with what happened by ``as_of``.

    A lot outstanding at cutoff is evaluated when its fate is settled by ``as_of``: every
    point burned, expired or clawed back, or the lot reached its expiry (or the model
    horizon, where the model counts unredeemed points as broken). Burns after cutoff and
    before that end are redeemed, clawbacks are left out, the rest broke. Lots without an
    expiry settle early only by being used up, so a short window favours them; see
    ``lots_unresolved`` for how much was left out.

    >>> from datetime import UTC
    >>> def lots(earned, expires, n, burn_on):
    ...     return [LotFlow(f"{earned}-{i}", f"m{i}", None, datetime.fromisoformat(earned),
    ...                     datetime.fromisoformat(expires), 100,
    ...                     (Outflow(datetime.fromisoformat(burn_on), 100, "burn"),)
    ...                     if i % 4 == 0 else ()) for i in range(n)]
    >>> history = lots("2024-11-01T00:00+00:00", "2024-12-01T00:00+00:00", 4,
    ...                "2024-11-15T00:00+00:00")  # a quarter redeemed in month 0
    >>> fresh = lots("2025-01-10T00:00+00:00", "2025-02-10T00:00+00:00", 8,
    ...              "2025-01-20T00:00+00:00")
    >>> bt = backtest(history + fresh, cutoff=datetime(2025, 1, 10, tzinfo=UTC),
    ...               as_of=datetime(2025, 3, 1, tzinfo=UTC), max_age_months=1,
    ...               min_lots_at_risk=1)
    >>> bt.lots_evaluated, bt.points_evaluated, bt.predicted_share, bt.actual_share
    (8, 800, 0.75, 0.75)
    """
    if as_of <= cutoff:
        raise ValueError(
            f"backtest as_of {as_of:%Y-%m-%d} must come after cutoff {cutoff:%Y-%m-%d}"
        )
    lots = list(lots)
    try:
        model = fit_breakage(
            lots, as_of=cutoff, max_age_months=max_age_months, min_lots_at_risk=min_lots_at_risk
        )
    except InsufficientHistory as exc:
        raise InsufficientHistory(f"backtest at cutoff {cutoff:%Y-%m-%d}: {exc}") from exc
    weighted_pred, broken_total, base_total, clawed_total = 0.0, 0, 0, 0
    lot_preds: list[float] = []
    lot_actuals: list[float] = []
    outstanding_lots = unresolved = 0
    for lot in lots:
        outstanding = outstanding_points(lot, as_of=cutoff)
        if not outstanding:
            continue
        outstanding_lots += 1
        fate_at = _fate_at(lot, max_age_months)
        if fate_at > as_of and lot.remaining_at(as_of) > 0:
            unresolved += 1
            continue
        window = [o for o in lot.outflows if cutoff < o.at < fate_at and o.at <= as_of]
        burned = sum(o.points for o in window if o.kind == "burn")
        clawed = sum(o.points for o in window if o.kind == "clawback")
        broken = max(outstanding - burned - clawed, 0)  # expired, or unredeemed at the end
        clawed_total += clawed
        base = burned + broken
        if not base:
            continue  # all clawed back: neither redeemed nor broken
        predicted = model.breakage_share(lot, as_of=cutoff)
        weighted_pred += base * predicted
        broken_total += broken
        base_total += base
        lot_preds.append(predicted)
        lot_actuals.append(broken / base)
    if not lot_preds:
        what = (
            f"no lots outstanding at cutoff {cutoff:%Y-%m-%d}"
            if not outstanding_lots
            else f"no lots outstanding at cutoff {cutoff:%Y-%m-%d} resolve by {as_of:%Y-%m-%d}"
            f" ({outstanding_lots} outstanding, {unresolved} still open)"
        )
        raise InsufficientHistory(what)
    return Backtest(
        cutoff=cutoff,
        as_of=as_of,
        model_version=model.version,
        lots_evaluated=len(lot_preds),
        points_evaluated=base_total,
        points_clawed_back=clawed_total,
        lots_unresolved=unresolved,
        predicted_share=weighted_pred / base_total,
        actual_share=broken_total / base_total,
        lot_predicted_share=math.fsum(lot_preds) / len(lot_preds),
        lot_actual_share=math.fsum(lot_actuals) / len(lot_actuals),
    )
