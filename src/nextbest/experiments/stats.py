"""Treatment against control: lift with intervals, CUPED, probability to beat, sample size.

Pure array functions over one value per unit (member). Binary metrics (conversion,
unsubscribes) take 0/1 arrays and get a Wald interval; continuous metrics (revenue, points
cost, profit) get a Welch interval with Welch-Satterthwaite degrees of freedom. The
relative lift's interval comes from the delta method on the ratio of the two means.

Peeking guard: **fixed horizon**. An experiment is read once, when each arm has reached the
sample size :func:`sample_size_proportions` or :func:`sample_size_means` plans for the
minimum detectable effect; :func:`verdict` refuses to call a winner before then, however
the interval looks. (Reading a fixed-horizon test every day and stopping at the first
significant look inflates the false-positive rate far above alpha.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special
from scipy import stats as sps

Array = npt.NDArray[np.float64]
Kind = Literal["binary", "continuous"]


class StatsError(ValueError):
    """Inputs a statistic cannot be computed from; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Lift:
    """One metric, treatment against control."""

    kind: Kind
    n_treatment: int
    n_control: int
    mean_treatment: float
    mean_control: float
    absolute: float  # treatment mean minus control mean
    se: float
    ci: tuple[float, float]
    p_value: float  # two-sided, no difference
    relative: float | None  # treatment mean over control mean, minus 1 (None: control 0)
    relative_ci: tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class CupedLift:
    """A lift estimated on CUPED-adjusted values, and how much variance that removed."""

    lift: Lift
    plain: Lift  # the same metric without the adjustment
    theta: float
    variance_reduction: float  # 1 - var(adjusted difference) / var(plain difference)


def _array(values: npt.ArrayLike, name: str) -> Array:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size < 2:
        raise StatsError(f"{name}: {arr.size} values, need at least 2")
    if not np.all(np.isfinite(arr)):
        raise StatsError(f"{name}: contains NaN or infinite values")
    return arr


def _quantile(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise StatsError(f"alpha {alpha} is not in (0, 1)")
    return float(sps.norm.ppf(1 - alpha / 2))


def relative_interval(
    *, m1: float, se1: float, m0: float, se0: float, q: float
) -> tuple[float | None, tuple[float, float] | None]:
    """``m1 / m0 - 1`` and its delta-method interval (``q`` the normal quantile).

    >>> r, (lo, hi) = relative_interval(m1=0.12, se1=0.01, m0=0.10, se0=0.01, q=1.96)
    >>> round(r, 3), round(lo, 3), round(hi, 3)
    (0.2, -0.106, 0.506)
    """
    if m0 == 0:
        return None, None
    r = m1 / m0 - 1
    se = math.sqrt(se1**2 / m0**2 + m1**2 * se0**2 / m0**4)
    return r, (r - q * se, r + q * se)


def lift(
    treatment: npt.ArrayLike, control: npt.ArrayLike, *, kind: Kind, alpha: float = 0.05
) -> Lift:
    """Difference of means with a ``1 - alpha`` interval: Wald (binary) or Welch (continuous).

    >>> got = lift([1] * 30 + [0] * 70, [1] * 20 + [0] * 80, kind="binary")
    >>> round(got.absolute, 3), tuple(round(c, 3) for c in got.ci)
    (0.1, (-0.019, 0.219))
    >>> round(got.relative, 2)
    0.5
    """
    y1, y0 = _array(treatment, "treatment"), _array(control, "control")
    if kind == "binary" and not all(np.all((y == 0) | (y == 1)) for y in (y1, y0)):
        raise StatsError("binary metric: values must be 0 or 1")
    n1, n0 = y1.size, y0.size
    m1, m0 = float(y1.mean()), float(y0.mean())
    ddof = 0 if kind == "binary" else 1  # Wald uses p(1 - p) / n
    v1, v0 = float(y1.var(ddof=ddof)), float(y0.var(ddof=ddof))
    se1, se0 = math.sqrt(v1 / n1), math.sqrt(v0 / n0)
    se = math.sqrt(se1**2 + se0**2)
    d = m1 - m0
    if kind == "binary":
        q = _quantile(alpha)
        p = 2 * float(sps.norm.sf(abs(d) / se)) if se > 0 else (1.0 if d == 0 else 0.0)
    else:
        df = _welch_df(se1**2, n1, se0**2, n0)
        q = float(sps.t.ppf(1 - alpha / 2, df)) if math.isfinite(df) else _quantile(alpha)
        p = 2 * float(sps.t.sf(abs(d) / se, df)) if se > 0 else (1.0 if d == 0 else 0.0)
    rel, rel_ci = relative_interval(m1=m1, se1=se1, m0=m0, se0=se0, q=q)
    return Lift(
        kind=kind,
        n_treatment=n1,
        n_control=n0,
        mean_treatment=m1,
        mean_control=m0,
        absolute=d,
        se=se,
        ci=(d - q * se, d + q * se),
        p_value=p,
        relative=rel,
        relative_ci=rel_ci,
    )


def _welch_df(s1: float, n1: int, s0: float, n0: int) -> float:
    """Welch-Satterthwaite degrees of freedom from the two squared standard errors."""
    den = s1**2 / (n1 - 1) + s0**2 / (n0 - 1)
    return (s1 + s0) ** 2 / den if den > 0 else math.inf


def cuped_theta(y: npt.ArrayLike, x: npt.ArrayLike) -> float:
    """``cov(y, x) / var(x)`` over all units of both arms (0 when x does not vary).

    >>> cuped_theta([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])
    0.5
    """
    ya, xa = _array(y, "metric"), _array(x, "covariate")
    if ya.size != xa.size:
        raise StatsError(f"metric has {ya.size} values, covariate {xa.size}")
    vx = float(xa.var(ddof=1))
    if vx == 0:
        return 0.0
    return float(np.cov(ya, xa, ddof=1)[0, 1]) / vx


def cuped_lift(
    treatment: npt.ArrayLike,
    control: npt.ArrayLike,
    *,
    treatment_pre: npt.ArrayLike,
    control_pre: npt.ArrayLike,
    kind: Kind,
    alpha: float = 0.05,
) -> CupedLift:
    """The lift on ``y - theta * (x - mean(x))``, theta pooled over both arms.

    The covariate must be measured before assignment (a pre-period), so the treatment cannot
    move it; the adjustment then leaves the difference unbiased and removes the share of the
    variance the covariate explains. The adjusted interval is a Welch interval (the adjusted
    values are no longer 0/1); the means keep their original scale.
    """
    y1, y0 = _array(treatment, "treatment"), _array(control, "control")
    x1, x0 = _array(treatment_pre, "treatment_pre"), _array(control_pre, "control_pre")
    if x1.size != y1.size or x0.size != y0.size:
        raise StatsError("each arm needs one covariate value per unit")
    plain = lift(y1, y0, kind=kind, alpha=alpha)
    y, x = np.concatenate([y1, y0]), np.concatenate([x1, x0])
    theta = cuped_theta(y, x)
    centre = float(x.mean())
    adjusted = lift(
        y1 - theta * (x1 - centre), y0 - theta * (x0 - centre), kind="continuous", alpha=alpha
    )
    # Against the unadjusted difference under the same (Welch) estimator, so that a binary
    # metric's Wald ``p(1 - p) / n`` does not count as variance the covariate removed.
    reference = lift(y1, y0, kind="continuous", alpha=alpha).se if kind == "binary" else plain.se
    reduction = 1 - adjusted.se**2 / reference**2 if reference > 0 else 0.0
    return CupedLift(
        lift=Lift(
            kind=kind,
            n_treatment=adjusted.n_treatment,
            n_control=adjusted.n_control,
            mean_treatment=adjusted.mean_treatment,
            mean_control=adjusted.mean_control,
            absolute=adjusted.absolute,
            se=adjusted.se,
            ci=adjusted.ci,
            p_value=adjusted.p_value,
            relative=adjusted.relative,
            relative_ci=adjusted.relative_ci,
        ),
        plain=plain,
        theta=theta,
        variance_reduction=reduction,
    )


def prob_beat_binary(*, x1: int, n1: int, x0: int, n0: int) -> float:
    """P(treatment rate > control rate) under independent uniform Beta(1, 1) priors, exact.

    The closed form sums over the treatment's successes (Evan Miller's formula), in logs.

    >>> prob_beat_binary(x1=10, n1=100, x0=10, n0=100)
    0.5
    >>> round(prob_beat_binary(x1=30, n1=100, x0=20, n0=100), 3)
    0.948
    """
    for name, x, n in (("treatment", x1, n1), ("control", x0, n0)):
        if not 0 <= x <= n:
            raise StatsError(f"{name}: {x} successes out of {n}")
    a1, b1 = x1 + 1, n1 - x1 + 1
    a0, b0 = x0 + 1, n0 - x0 + 1
    if a1 > a0:  # sum over the shorter side: P(p1 > p0) = 1 - P(p0 > p1)
        return 1.0 - _prob_b_beats_a(a1, b1, a0, b0)
    return _prob_b_beats_a(a0, b0, a1, b1)


def _prob_b_beats_a(a_a: int, b_a: int, a_b: int, b_b: int) -> float:
    i = np.arange(a_b, dtype=np.float64)
    terms = (
        special.betaln(a_a + i, b_a + b_b)
        - np.log(b_b + i)
        - special.betaln(1 + i, b_b)
        - special.betaln(a_a, b_a)
    )
    got = float(np.exp(special.logsumexp(terms)))
    return round(min(max(got, 0.0), 1.0), 12)


def prob_beat_normal(difference: float, se: float) -> float:
    """P(treatment > control) for a continuous metric: normal approximation, flat prior.

    >>> prob_beat_normal(0.0, 1.0)
    0.5
    >>> round(prob_beat_normal(1.96, 1.0), 3)
    0.975
    """
    if se <= 0:
        return 0.5 if difference == 0 else float(difference > 0)
    return float(sps.norm.cdf(difference / se))


def sample_size_proportions(
    *,
    baseline: float,
    mde: float,
    alpha: float = 0.05,
    power: float = 0.8,
    treatment_share: float = 0.5,
) -> tuple[int, int]:
    """Units needed in (treatment, control) to detect an absolute change ``mde`` in a rate.

    Two-sided test of two proportions, pooled variance under the null (Fleiss, no
    continuity correction); unequal splits by ``treatment_share``.

    >>> sample_size_proportions(baseline=0.10, mde=0.02)
    (3841, 3841)
    """
    p0, p1 = baseline, baseline + mde
    if not (0 < p0 < 1 and 0 < p1 < 1) or mde == 0:
        raise StatsError(f"baseline {baseline} and mde {mde}: both rates must be in (0, 1)")
    s1, s0 = _shares(treatment_share)
    za, zb = _quantile(alpha), _power_quantile(power)
    pbar = s1 * p1 + s0 * p0
    null = math.sqrt(pbar * (1 - pbar) * (1 / s1 + 1 / s0))
    alt = math.sqrt(p1 * (1 - p1) / s1 + p0 * (1 - p0) / s0)
    total = (za * null + zb * alt) ** 2 / mde**2
    return math.ceil(total * s1 - 1e-9), math.ceil(total * s0 - 1e-9)


def sample_size_means(
    *,
    sd: float,
    mde: float,
    alpha: float = 0.05,
    power: float = 0.8,
    treatment_share: float = 0.5,
) -> tuple[int, int]:
    """Units needed in (treatment, control) to detect a change ``mde`` in a mean.

    >>> sample_size_means(sd=1.0, mde=0.2)
    (393, 393)
    """
    if sd <= 0 or mde == 0:
        raise StatsError(f"sd {sd} and mde {mde}: need sd > 0 and a non-zero effect")
    s1, s0 = _shares(treatment_share)
    za, zb = _quantile(alpha), _power_quantile(power)
    total = (za + zb) ** 2 * sd**2 * (1 / s1 + 1 / s0) / mde**2
    return math.ceil(total * s1 - 1e-9), math.ceil(total * s0 - 1e-9)


def _shares(treatment_share: float) -> tuple[float, float]:
    if not 0 < treatment_share < 1:
        raise StatsError(f"treatment_share {treatment_share} is not in (0, 1)")
    return treatment_share, 1 - treatment_share


def _power_quantile(power: float) -> float:
    if not 0 < power < 1:
        raise StatsError(f"power {power} is not in (0, 1)")
    return float(sps.norm.ppf(power))


Verdict = Literal["too early", "better", "worse", "no difference", "sample ratio mismatch"]


def verdict(
    ci: tuple[float, float],
    *,
    reached: bool,
    higher_is_better: bool = True,
    srm: bool = False,
) -> Verdict:
    """The fixed-horizon call: nothing before the planned size, nothing under a broken split.

    >>> verdict((0.01, 0.03), reached=False)
    'too early'
    >>> verdict((0.01, 0.03), reached=True)
    'better'
    >>> verdict((0.01, 0.03), reached=True, higher_is_better=False)
    'worse'
    """
    if srm:
        return "sample ratio mismatch"
    if not reached:
        return "too early"
    lo, hi = ci
    if lo > 0:
        return "better" if higher_is_better else "worse"
    if hi < 0:
        return "worse" if higher_is_better else "better"
    return "no difference"
