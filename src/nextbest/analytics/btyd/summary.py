"""Per-customer purchase histories from transactions, in the conventions of the BTYD papers.

Transactions on the same day are merged into one purchase (their amounts summed). For each
customer whose first purchase is on or before ``calibration_end``:

- ``x`` (frequency): repeat purchases in calibration, i.e. purchase days after the first;
- ``t_x`` (recency): time from the first purchase to the last calibration purchase;
- ``T`` (age): time from the first purchase to ``calibration_end``;
- ``monetary``: mean amount of the repeat purchases in calibration (the first purchase is
  left out, as Fader and Hardie do for the Gamma-Gamma model); NaN when ``x == 0``;
- ``holdout_frequency``: purchase days in ``(calibration_end, holdout_end]``.

Times are kept in whole days and exposed in ``unit_days`` (7: weeks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from nextbest.analytics.btyd.histories import Histories, group_day_histories

DateLike = str | date | np.datetime64
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


def as_day(value: DateLike) -> np.datetime64:
    """A calendar day as ``datetime64[D]``.

    >>> as_day("1997-09-30")
    np.datetime64('1997-09-30')
    """
    day = cast(np.datetime64, np.asarray(value, dtype="datetime64[D]")[()])
    if np.isnat(day):
        raise ValueError(f"not a date: {value!r}")
    return day


@dataclass(frozen=True, eq=False)
class Summary:
    """Calibration histories (and holdout counts) of the customers seen by ``calibration_end``."""

    customer_ids: npt.NDArray[Any]
    first_day: npt.NDArray[np.datetime64]
    frequency: Ints
    recency_days: Ints
    age_days: Ints
    monetary: Floats
    holdout_frequency: Ints | None
    calibration_end: np.datetime64
    holdout_end: np.datetime64 | None
    unit_days: float
    daily_repeats: Ints
    """Repeat purchases per calendar day from ``first_day.min()`` to the last day summarised."""
    n_transactions: int

    @property
    def n_customers(self) -> int:
        return int(self.frequency.size)

    @property
    def x(self) -> Floats:
        return self.frequency.astype(np.float64)

    @property
    def t_x(self) -> Floats:
        return self.recency_days / self.unit_days

    @property
    def T(self) -> Floats:
        return self.age_days / self.unit_days

    @property
    def holdout_length(self) -> float | None:
        """Length of the holdout period in units (weeks by default)."""
        if self.holdout_end is None:
            return None
        days = (self.holdout_end - self.calibration_end).astype(np.int64)
        return float(days) / self.unit_days

    @property
    def origin(self) -> np.datetime64:
        """The first day of ``daily_repeats``: the earliest first purchase."""
        return np.datetime64(self.first_day.min(), "D")

    def histories(self) -> Histories:
        """Customers grouped by identical ``(x, t_x, T)``, for fitting."""
        return group_day_histories(
            self.frequency,
            self.recency_days,
            self.age_days,
            unit_days=self.unit_days,
            calibration_end=str(self.calibration_end),
        )

    def repeat_customers(self) -> tuple[Floats, Floats]:
        """``(x, monetary)`` of the customers with at least one repeat purchase."""
        keep = self.frequency > 0
        return self.x[keep], self.monetary[keep]


def summarise(
    *,
    customer_ids: npt.ArrayLike,
    dates: npt.ArrayLike,
    amounts: npt.ArrayLike | None = None,
    calibration_end: DateLike,
    holdout_end: DateLike | None = None,
    unit_days: float = 7.0,
) -> Summary:
    """Summarise transactions (one row each) into calibration histories.

    >>> s = summarise(
    ...     customer_ids=["a", "a", "a", "a", "b"],
    ...     dates=["2024-01-01", "2024-01-01", "2024-01-15", "2024-02-12", "2024-01-08"],
    ...     amounts=[5.0, 5.0, 20.0, 30.0, 9.0],
    ...     calibration_end="2024-01-29",
    ...     holdout_end="2024-02-26",
    ... )
    >>> s.frequency.tolist(), s.t_x.tolist(), s.T.tolist(), s.monetary.tolist()[:1]
    ([1, 0], [2.0, 0.0], [4.0, 3.0], [20.0])
    >>> s.holdout_frequency.tolist(), s.holdout_length
    ([1, 0], 4.0)
    """
    if unit_days <= 0:
        raise ValueError(f"unit_days must be positive, got {unit_days}")
    ids = np.asarray(customer_ids)
    days = np.asarray(dates, dtype="datetime64[D]")
    money = (
        np.zeros(ids.shape, dtype=np.float64)
        if amounts is None
        else np.asarray(amounts, dtype=np.float64)
    )
    if not (ids.ndim == days.ndim == money.ndim == 1) or not (ids.size == days.size == money.size):
        raise ValueError(
            f"customer_ids, dates and amounts must be 1-d of one length, got "
            f"{ids.shape}, {days.shape}, {money.shape}"
        )
    if ids.size == 0:
        raise ValueError("no transactions")
    if np.isnat(days).any():
        raise ValueError(f"dates: {int(np.isnat(days).sum())} missing (NaT)")
    if not np.isfinite(money).all():
        raise ValueError(f"amounts: {int((~np.isfinite(money)).sum())} not finite")
    cal_end = as_day(calibration_end)
    hold_end = None if holdout_end is None else as_day(holdout_end)
    if hold_end is not None and hold_end <= cal_end:
        raise ValueError(f"holdout_end {hold_end} must be after calibration_end {cal_end}")

    labels, codes = _factorise_ids(ids)
    day_no = days.astype(np.int64)
    customer, day, amount = _purchase_days(customer=codes, day=day_no, amount=money)
    n_all = labels.size
    starts = np.flatnonzero(np.r_[True, customer[1:] != customer[:-1]])
    first = day[starts]  # rows are sorted by (customer, day); every customer has a row
    end = int(cal_end.astype(np.int64))
    keep = first <= end
    if not keep.any():
        raise ValueError(f"no customer made a first purchase on or before {cal_end}")
    repeat = day > first[customer]
    in_cal = day <= end
    cal_repeat = repeat & in_cal
    x = np.bincount(customer[cal_repeat], minlength=n_all)
    spend = np.bincount(customer[cal_repeat], weights=amount[cal_repeat], minlength=n_all)
    cal_customer, cal_day = customer[in_cal], day[in_cal]
    ends = np.flatnonzero(np.r_[cal_customer[1:] != cal_customer[:-1], True])
    last = first.copy()
    last[cal_customer[ends]] = cal_day[ends]

    holdout = None
    stop = end
    if hold_end is not None:
        stop = int(hold_end.astype(np.int64))
        in_hold = (day > end) & (day <= stop)
        holdout = np.bincount(customer[in_hold], minlength=n_all)[keep].astype(np.int64)
    origin = int(first[keep].min())
    counted = repeat & (day <= stop) & keep[customer]
    daily = np.bincount(day[counted] - origin, minlength=stop - origin + 1).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(x > 0, spend / np.maximum(x, 1), np.nan)
    return Summary(
        customer_ids=labels[keep],
        first_day=first[keep].astype("datetime64[D]"),
        frequency=x[keep].astype(np.int64),
        recency_days=(last - first)[keep].astype(np.int64),
        age_days=(end - first[keep]).astype(np.int64),
        monetary=monetary[keep].astype(np.float64),
        holdout_frequency=holdout,
        calibration_end=cal_end,
        holdout_end=hold_end,
        unit_days=float(unit_days),
        daily_repeats=daily,
        n_transactions=int(ids.size),
    )


def _factorise_ids(ids: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], Ints]:
    """Sorted distinct ids and each row's index into them (no sort for compact integers)."""
    if np.issubdtype(ids.dtype, np.integer) and ids.size:
        low, high = int(ids.min()), int(ids.max())
        if high - low <= 4 * ids.size:
            shifted = (ids - low).astype(np.int64)
            present = np.bincount(shifted) > 0
            rank = np.cumsum(present) - 1
            return (np.flatnonzero(present) + low).astype(ids.dtype), rank[shifted]
    labels, codes = np.unique(ids, return_inverse=True)
    return labels, codes.reshape(-1).astype(np.int64)


def _purchase_days(*, customer: Ints, day: Ints, amount: Floats) -> tuple[Ints, Ints, Floats]:
    """Transactions merged per (customer, day), sorted by customer then day, amounts summed."""
    low = int(day.min())
    span = int(day.max()) - low + 1
    key = customer * span + (day - low)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    unique_key = sorted_key[starts]
    summed = np.add.reduceat(amount[order], starts)
    return unique_key // span, unique_key % span + low, summed.astype(np.float64)


def cumulative_by_day(daily: Ints, days: npt.ArrayLike) -> Ints:
    """Cumulative totals of a per-day count series at the given day offsets (inclusive).

    >>> cumulative_by_day(np.array([1, 0, 2, 3]), [0, 2, 3]).tolist()
    [1, 3, 6]
    """
    at = np.asarray(days, dtype=np.int64)
    running = np.cumsum(daily)
    return running[np.clip(at, 0, running.size - 1)].astype(np.int64)
