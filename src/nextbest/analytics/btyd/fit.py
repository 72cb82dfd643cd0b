"""Maximum likelihood machinery shared by the BTYD models.

Every model is fitted on its log-parameters (so positivity needs no constraint) by BFGS
minimising the *mean* negative log-likelihood per customer, which keeps the objective and
its gradient of order one whatever the number of customers, so one tolerance fits all.

BFGS rather than L-BFGS-B: with three or four parameters its dense update is tiny, while
L-BFGS-B's small BLAS calls cost milliseconds each under a multi-threaded BLAS.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

Floats = npt.NDArray[np.float64]
if TYPE_CHECKING:
    from nextbest.analytics.btyd.histories import Histories

Objective = Callable[[Floats], tuple[float, Floats]]
"""Log-parameters to (mean negative log-likelihood, its gradient in the log-parameters)."""

LOG_BOUND = 25.0  # parameters stay within exp(-25) .. exp(25)


@dataclass(frozen=True)
class FitReport:
    """How a model was fitted and on what: enough to explain and to reproduce the fit."""

    log_likelihood: float
    iterations: int
    evaluations: int
    converged: bool
    message: str
    seconds: float
    gradient: str
    n_customers: int
    n_histories: int
    unit_days: float | None
    calibration_end: str | None
    start: dict[str, float]

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["log_likelihood"] = finite_or_none(self.log_likelihood)
        return out


def finite_or_none(value: float) -> float | None:
    """``value``, or ``None`` when it is NaN or infinite (JSON has no such numbers).

    >>> finite_or_none(1.5), finite_or_none(float("nan"))
    (1.5, None)
    """
    return float(value) if np.isfinite(value) else None


@dataclass(frozen=True)
class Optimum:
    """The minimiser's answer, in log-parameters."""

    log_params: Floats
    mean_negative_ll: float
    iterations: int
    evaluations: int
    converged: bool
    message: str
    seconds: float


def minimise(
    objective: Objective,
    start: Floats,
    *,
    gtol: float = 1e-8,
    max_iterations: int = 2_000,
) -> Optimum:
    """BFGS on an objective that returns its own gradient; ``|log-parameter| <= 25``.

    >>> quadratic = lambda v: (float(((v - 1.0) ** 2).sum()), 2.0 * (v - 1.0))
    >>> found = minimise(quadratic, np.zeros(2))
    >>> found.log_params.round(6).tolist(), found.converged
    ([1.0, 1.0], True)
    """
    calls = 0

    def counted(v: Floats) -> tuple[float, Floats]:
        nonlocal calls
        calls += 1
        if float(np.abs(v).max()) > LOG_BOUND:
            return float(np.finfo(np.float64).max / 1e3), np.zeros_like(v)
        value, grad = objective(v)
        if not np.isfinite(value):
            return float(np.finfo(np.float64).max / 1e3), np.zeros_like(v)
        return value, grad

    started = time.perf_counter()
    result = minimize(
        counted,
        np.asarray(start, dtype=np.float64),
        jac=True,
        method="BFGS",
        options={"gtol": gtol, "maxiter": max_iterations},
    )
    seconds = time.perf_counter() - started
    message = str(result.message)
    grad = np.asarray(result.jac, dtype=np.float64)
    # A line search that can no longer improve a point with a negligible gradient has
    # converged for all practical purposes (finite-difference gradients end this way).
    settled = bool(result.success) or float(np.abs(grad).max()) < 1e-6
    return Optimum(
        log_params=np.asarray(result.x, dtype=np.float64),
        mean_negative_ll=float(result.fun),
        iterations=int(result.nit),
        evaluations=calls,
        converged=settled,
        message=message,
        seconds=seconds,
    )


def dot(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Inner product of two 1-d arrays, summed by numpy rather than BLAS.

    A multi-threaded BLAS spends far longer waking its threads than summing a few hundred
    thousand products, and the likelihoods take several such sums per evaluation.

    >>> dot(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    11.0
    """
    left, right = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.einsum("i,i->", left, right))


def log_add_exp(a: Floats, b: Floats) -> Floats:
    """``log(exp(a) + exp(b))`` elementwise, for finite ``a`` (``b`` may be ``-inf``).

    Several times faster than ``np.logaddexp``, which handles every special case.

    >>> log_add_exp(np.array([0.0, 1.0]), np.array([0.0, -np.inf])).round(6).tolist()
    [0.693147, 1.0]
    """
    top = np.maximum(a, b)
    return np.asarray(top + np.log1p(np.exp(-np.abs(a - b))), dtype=np.float64)


def central_gradient(
    value: Callable[[Floats], float], at: Floats, *, step: float = 1e-5, center: float | None = None
) -> Floats:
    """Central finite differences of a scalar function (used where no analytic form exists).

    Where one side is not finite (the edge of the parameter space) the other side's
    one-sided difference from ``center`` is used, and 0 where neither is finite.

    >>> central_gradient(lambda v: float((v**3).sum()), np.array([1.0, 2.0])).round(6).tolist()
    [3.0, 12.0]
    """
    grad = np.zeros(at.size, dtype=np.float64)
    middle = value(at) if center is None else center
    for i in range(at.size):
        up, down = at.copy(), at.copy()
        up[i] += step
        down[i] -= step
        high, low = value(up), value(down)
        if np.isfinite(high) and np.isfinite(low):
            grad[i] = (high - low) / (2.0 * step)
        elif np.isfinite(high) and np.isfinite(middle):
            grad[i] = (high - middle) / step
        elif np.isfinite(low) and np.isfinite(middle):
            grad[i] = (middle - low) / step
    return grad


def report(
    found: Optimum,
    *,
    total_weight: float,
    n_customers: int,
    n_histories: int,
    unit_days: float | None,
    calibration_end: str | None,
    gradient: str,
    start: dict[str, float],
) -> FitReport:
    """The ``FitReport`` of an optimum, with the total (not mean) log-likelihood."""
    return FitReport(
        log_likelihood=-found.mean_negative_ll * total_weight,
        iterations=found.iterations,
        evaluations=found.evaluations,
        converged=found.converged,
        message=found.message,
        seconds=found.seconds,
        gradient=gradient,
        n_customers=n_customers,
        n_histories=n_histories,
        unit_days=unit_days,
        calibration_end=calibration_end,
        start=start,
    )


class CountModel(Protocol):
    """A fitted purchase-count model (BG/NBD, Pareto/NBD): what forecasting needs."""

    @property
    def name(self) -> str: ...

    def expected_purchases(self, t: npt.ArrayLike) -> Floats:
        """E[X(t)]: repeat purchases of a new customer in ``(0, t]``."""
        ...

    def conditional_expected_purchases(
        self, t: npt.ArrayLike, *, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
    ) -> Floats:
        """E[Y(t) | x, t_x, T]: purchases in ``(T, T + t]`` given the history."""
        ...

    def p_alive(self, *, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> Floats:
        """P(still active at T | x, t_x, T)."""
        ...

    def to_dict(self) -> dict[str, object]: ...


def fit_histories(
    objective: Objective,
    histories: Histories,
    *,
    names: tuple[str, ...],
    start: dict[str, float],
    gradient: str,
) -> tuple[dict[str, float], FitReport]:
    """Maximise a count model's likelihood over grouped histories: parameters and report."""
    found = minimise(objective, np.log([start[k] for k in names]))
    params = {k: float(v) for k, v in zip(names, np.exp(found.log_params), strict=True)}
    fitted = report(
        found,
        total_weight=float(histories.weight.sum()),
        n_customers=histories.n_customers,
        n_histories=histories.n_histories,
        unit_days=histories.unit_days,
        calibration_end=histories.calibration_end,
        gradient=gradient,
        start=dict(start),
    )
    return params, fitted


def grouped_log_likelihood(
    objective: Objective, params: dict[str, float], histories: Histories
) -> float:
    """Total log-likelihood of ``histories`` at ``params`` (the objective is the mean NLL)."""
    value, _ = objective(np.log(list(params.values())))
    return -value * float(histories.weight.sum())


def model_dict(name: str, params: dict[str, float], fit: FitReport | None) -> dict[str, object]:
    return {"model": name, "params": params, "fit": None if fit is None else fit.to_dict()}
