"""CLV: the discounting arithmetic, and its agreement with the count model's forecast."""

from __future__ import annotations

import numpy as np
import pytest

from nextbest.analytics.btyd import BGNBD, ParetoNBD, customer_lifetime_value, discounted_value
from nextbest.analytics.btyd.clv import WEEKS_PER_MONTH


def test_discounting_by_hand() -> None:
    # 1 purchase in each of two periods, spend 10, 10 % a period: 10/1.1 + 10/1.21
    got = discounted_value(cumulative=[[1.0, 2.0], [0.0, 0.5]], spend=[10.0, 4.0], rate=0.1)
    np.testing.assert_allclose(got, [10 / 1.1 + 10 / 1.21, 2 / 1.21])
    margin = discounted_value(cumulative=[[1.0, 2.0]], spend=[10.0], rate=0.1, margin=0.3)
    assert float(margin[0]) == pytest.approx(0.3 * (10 / 1.1 + 10 / 1.21))
    with pytest.raises(ValueError, match="exceed -1"):
        discounted_value(cumulative=[[1.0]], spend=[1.0], rate=-1.0)


@pytest.mark.parametrize(
    "model",
    [
        BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426),
        ParetoNBD(r=0.553, alpha=10.578, s=0.606, beta=11.669),
    ],
)
def test_undiscounted_value_is_forecast_times_spend(model: BGNBD | ParetoNBD) -> None:
    x, t_x, T = np.array([0.0, 2.0, 7.0]), np.array([0.0, 30.4, 12.0]), np.full(3, 38.9)
    spend = np.array([35.0, 40.0, 70.0])
    flat = customer_lifetime_value(model, x=x, t_x=t_x, T=T, spend=spend, periods=12, rate=0.0)
    year = model.conditional_expected_purchases(12 * WEEKS_PER_MONTH, x=x, t_x=t_x, T=T)
    np.testing.assert_allclose(flat, year * spend, rtol=1e-12)
    discounted = customer_lifetime_value(model, x=x, t_x=t_x, T=T, spend=spend, rate=0.01)
    assert (discounted < flat).all() and (discounted > flat / 1.01**12).all()
    longer = customer_lifetime_value(model, x=x, t_x=t_x, T=T, spend=spend, periods=24)
    assert (longer > discounted).all()
