"""Customers grouped by identical ``(x, t_x, T)``: what the BTYD likelihoods are evaluated on.

A likelihood term depends on a customer only through ``(x, t_x, T)``, so customers sharing
a history share a term: fitting on the distinct histories weighted by their counts gives the
same log-likelihood as fitting on every customer, at a cost that grows with the number of
distinct histories. Each column is also factorised (its distinct values and an index into
them) so special functions of ``x`` or of ``T`` alone are evaluated once per distinct value.

Grouping sorts nothing when the columns are small integers (days): it counts composite keys
with ``np.bincount``; otherwise it falls back to ``np.unique``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Index = npt.NDArray[np.intp]

_DENSE_KEYS = 1 << 16  # a key space up to max(this, 2 n) is counted, not sorted


@dataclass(frozen=True, eq=False)
class Histories:
    """Distinct ``(x, t_x, T)`` rows with their customer counts (``weight``)."""

    x: Floats
    t_x: Floats
    T: Floats
    weight: Floats
    x_values: Floats
    x_index: Index
    t_x_values: Floats
    t_x_index: Index
    T_values: Floats
    T_index: Index
    inverse: Index
    """Row of each input customer: ``per_history[inverse]`` is per customer."""
    n_customers: int
    unit_days: float = 7.0
    calibration_end: str | None = None

    @property
    def n_histories(self) -> int:
        return int(self.x.size)

    def expand(self, per_history: Floats) -> Floats:
        """Per-history values repeated out to one per input customer."""
        return per_history[self.inverse]

    def describe(self) -> dict[str, object]:
        """What a fit on these histories was given."""
        return {
            "n_customers": self.n_customers,
            "n_histories": self.n_histories,
            "unit_days": self.unit_days,
            "calibration_end": self.calibration_end,
        }


def group_histories(
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,
    *,
    unit_days: float = 7.0,
    calibration_end: str | None = None,
) -> Histories:
    """Group customers given in units (e.g. weeks) by identical ``(x, t_x, T)``.

    The three columns of a history are positional, in the papers' order (the one exception
    to keyword-only arguments here: a history is one thing in three arrays).

    >>> h = group_histories([0, 2, 2, 0], [0.0, 3.5, 3.5, 0.0], [10.0, 10.0, 10.0, 8.0])
    >>> h.n_customers, h.n_histories, h.weight.tolist(), h.x.tolist()
    (4, 3, [1.0, 1.0, 2.0], [0.0, 0.0, 2.0])
    """
    cx, ct, cT = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    _check(x=cx, t_x=ct, T=cT)
    return _group(
        x=cx, t_x=ct, T=cT, scale=1.0, unit_days=unit_days, calibration_end=calibration_end
    )


def group_day_histories(
    x: npt.ArrayLike,
    t_x_days: npt.ArrayLike,
    T_days: npt.ArrayLike,
    *,
    unit_days: float = 7.0,
    calibration_end: str | None = None,
) -> Histories:
    """Group customers whose times are whole days; the result is in units of ``unit_days``.

    >>> h = group_day_histories([0, 1, 1], [0, 7, 7], [14, 14, 14])
    >>> h.n_histories, h.t_x.tolist(), h.T.tolist(), h.weight.tolist()
    (2, [0.0, 1.0], [2.0, 2.0], [1.0, 2.0])
    """
    cx, ct, cT = (np.asarray(v) for v in (x, t_x_days, T_days))
    for name, column in (("x", cx), ("t_x_days", ct), ("T_days", cT)):
        if column.size and not np.issubdtype(column.dtype, np.integer):
            raise TypeError(f"{name} must hold integers, got {column.dtype}")
    cx, ct, cT = (v.astype(np.int64, copy=False) for v in (cx, ct, cT))
    _check(x=cx, t_x=ct, T=cT)
    return _group(
        x=cx,
        t_x=ct,
        T=cT,
        scale=float(unit_days),
        unit_days=unit_days,
        calibration_end=calibration_end,
    )


def ungrouped_histories(
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,
    *,
    unit_days: float = 7.0,
    calibration_end: str | None = None,
) -> Histories:
    """One row per customer (weight 1): the same likelihood as grouped, without the saving.

    >>> ungrouped_histories([1, 1], [2.0, 2.0], [5.0, 5.0]).n_histories
    2
    """
    cx, ct, cT = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    _check(x=cx, t_x=ct, T=cT)
    (ux, ix), (ut, it), (uT, iT) = (_factorise(v) for v in (cx, ct, cT))
    n = cx.size
    return Histories(
        x=cx,
        t_x=ct,
        T=cT,
        weight=np.ones(n, dtype=np.float64),
        x_values=ux,
        x_index=ix,
        t_x_values=ut,
        t_x_index=it,
        T_values=uT,
        T_index=iT,
        inverse=np.arange(n, dtype=np.intp),
        n_customers=n,
        unit_days=float(unit_days),
        calibration_end=calibration_end,
    )


def _check(
    *, x: npt.NDArray[np.generic], t_x: npt.NDArray[np.generic], T: npt.NDArray[np.generic]
) -> None:
    if not (x.ndim == t_x.ndim == T.ndim == 1 and x.size == t_x.size == T.size):
        raise ValueError(
            f"x, t_x and T must be 1-d of one length: {x.shape}, {t_x.shape}, {T.shape}"
        )
    if x.size == 0:
        raise ValueError("no customers")
    xf, tf, Tf = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    if not (np.isfinite(xf).all() and np.isfinite(tf).all() and np.isfinite(Tf).all()):
        raise ValueError("x, t_x and T must be finite")
    problems = [
        (xf < 0) | (xf != np.floor(xf)),
        (tf < 0) | (tf > Tf),
        (xf == 0) & (tf != 0),
    ]
    reasons = [
        "x must be a non-negative whole number",
        "t_x must lie in [0, T]",
        "t_x must be 0 when x is 0",
    ]
    for bad, reason in zip(problems, reasons, strict=True):
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"customer {at}: {reason} (x={xf[at]:g}, t_x={tf[at]:g}, T={Tf[at]:g}); "
                f"{int(bad.sum())} such customer(s)"
            )


def _factorise(values: npt.NDArray[np.generic]) -> tuple[Floats, Index]:
    """Distinct values (ascending, as floats) and each element's index into them."""
    if np.issubdtype(values.dtype, np.integer):
        ints = values.astype(np.int64, copy=False)
        low = int(ints.min())
        span = int(ints.max()) - low + 1
        if span <= max(_DENSE_KEYS, 2 * ints.size):
            shifted = ints - low
            present = np.bincount(shifted, minlength=span) > 0
            rank = np.cumsum(present) - 1
            uniques = (np.flatnonzero(present) + low).astype(np.float64)
            return uniques, rank[shifted].astype(np.intp)
    uniques = np.unique(values)
    codes = np.searchsorted(uniques, values).astype(np.intp)
    return uniques.astype(np.float64), codes


def _group(
    *,
    x: npt.NDArray[np.generic],
    t_x: npt.NDArray[np.generic],
    T: npt.NDArray[np.generic],
    scale: float,
    unit_days: float,
    calibration_end: str | None,
) -> Histories:
    (ux, ix), (ut, it), (uT, iT) = (_factorise(v) for v in (x, t_x, T))
    nx, nt, nT = ux.size, ut.size, uT.size
    n = x.size
    if nx * nt * nT >= 2**62:  # cannot happen with fewer than 2**20 distinct values per column
        raise ValueError("too many distinct values to group")
    key = (ix.astype(np.int64) * nt + it) * nT + iT
    size = nx * nt * nT
    if size <= max(_DENSE_KEYS, 2 * n):
        counts = np.bincount(key, minlength=size)
        present = counts > 0
        keys = np.flatnonzero(present)
        weight = counts[keys]
        inverse = (np.cumsum(present) - 1)[key].astype(np.intp)
    else:
        keys, inverse_raw, weight = np.unique(key, return_inverse=True, return_counts=True)
        inverse = inverse_raw.astype(np.intp).reshape(-1)
    row_T = (keys % nT).astype(np.intp)
    rest = keys // nT
    row_t = (rest % nt).astype(np.intp)
    row_x = (rest // nt).astype(np.intp)
    t_values, T_values = ut / scale, uT / scale
    return Histories(
        x=ux[row_x],
        t_x=t_values[row_t],
        T=T_values[row_T],
        weight=weight.astype(np.float64),
        x_values=ux,
        x_index=row_x,
        t_x_values=t_values,
        t_x_index=row_t,
        T_values=T_values,
        T_index=row_T,
        inverse=inverse,
        n_customers=int(n),
        unit_days=float(unit_days),
        calibration_end=calibration_end,
    )
