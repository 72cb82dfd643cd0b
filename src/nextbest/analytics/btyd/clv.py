"""Customer lifetime value: expected purchases per future period x expected spend, discounted.

A discrete sum, not the closed-form DERT of Fader, Hardie & Lee (2005): for periods
``k = 1..K`` of ``period_length`` units,

    CLV = margin * E[spend] * sum_k (E[Y(k L)] - E[Y((k - 1) L)]) / (1 + rate)^k

where ``E[Y(t)]`` is the count model's conditional expectation given the customer's history
and ``E[spend]`` the Gamma-Gamma conditional mean. Each period's purchases are discounted
at its end. With a monthly ``rate`` and ``period_length = 52 / 12`` weeks this is a
monthly-discounted CLV over ``K`` months.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from nextbest.analytics.btyd.fit import CountModel, Floats

WEEKS_PER_MONTH = 52.0 / 12.0


def discounted_value(
    *, cumulative: npt.ArrayLike, spend: npt.ArrayLike, rate: float, margin: float = 1.0
) -> Floats:
    """Value of expected cumulative purchases at the end of each period (one row a customer).

    >>> discounted_value(cumulative=[[1.0, 2.0]], spend=[10.0], rate=0.1).round(4).tolist()
    [17.3554]
    """
    if rate <= -1.0:
        raise ValueError(f"discount rate must exceed -1, got {rate}")
    cum = np.atleast_2d(np.asarray(cumulative, dtype=np.float64))
    per_period = np.diff(cum, axis=1, prepend=0.0)
    factors = (1.0 + rate) ** -np.arange(1, cum.shape[1] + 1, dtype=np.float64)
    value = margin * np.asarray(spend, dtype=np.float64) * (per_period @ factors)
    return np.asarray(value, dtype=np.float64)


def customer_lifetime_value(
    model: CountModel,
    *,
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,
    spend: npt.ArrayLike,
    periods: int = 12,
    period_length: float = WEEKS_PER_MONTH,
    rate: float = 0.01,
    margin: float = 1.0,
) -> Floats:
    """Discounted value of each customer's next ``periods`` periods.

    >>> from nextbest.analytics.btyd.bgnbd import BGNBD
    >>> model = BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426)
    >>> customer_lifetime_value(model, x=[0, 2], t_x=[0.0, 30.43], T=[38.86, 38.86],
    ...                         spend=[35.0, 40.0]).round(2).tolist()
    [8.3, 58.72]
    """
    if periods < 1 or period_length <= 0:
        raise ValueError(f"need periods >= 1 and period_length > 0, got {periods}, {period_length}")
    ends = period_length * np.arange(1, periods + 1, dtype=np.float64)
    xs, tx, age = (np.asarray(v, dtype=np.float64).reshape(-1, 1) for v in (x, t_x, T))
    cumulative = model.conditional_expected_purchases(ends[None, :], x=xs, t_x=tx, T=age)
    return discounted_value(cumulative=cumulative, spend=spend, rate=rate, margin=margin)
