"""Buy-till-you-die scores from a feature snapshot: the literature's inputs from our columns.

x = repeat purchase days, t_x = first to last purchase, T = first purchase to the snapshot,
in weeks, counted in whole days (the same-day merge of the BTYD conventions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from nextbest.analytics.btyd.bgnbd import BGNBD, fit_bgnbd
from nextbest.analytics.btyd.clv import customer_lifetime_value
from nextbest.analytics.btyd.gammagamma import GammaGamma, fit_gamma_gamma
from nextbest.analytics.btyd.histories import group_histories
from nextbest.analytics.predict.matrix import column

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Inputs:
    buyers: npt.NDArray[np.bool_]
    x: Floats
    t_x: Floats
    T: Floats


def inputs(table: pa.Table) -> Inputs:
    first = column(table, "first_purchase_days")
    recency = column(table, "recency_days")
    buyers = ~np.isnan(first)
    first_d = np.floor(np.nan_to_num(first))
    last_d = np.floor(np.nan_to_num(recency))
    x = np.maximum(np.nan_to_num(column(table, "purchase_days")) - 1.0, 0.0)
    t_x = np.where(x > 0, (first_d - last_d) / 7.0, 0.0)
    return Inputs(buyers=buyers, x=x[buyers], t_x=t_x[buyers], T=first_d[buyers] / 7.0)


def fit(table: pa.Table) -> BGNBD:
    i = inputs(table)
    return fit_bgnbd(group_histories(i.x, i.t_x, i.T))


def p_alive(table: pa.Table, model: BGNBD | None = None) -> Floats:
    """P(alive) for every row (NaN for members with no purchase)."""
    i = inputs(table)
    model = model or fit_bgnbd(group_histories(i.x, i.t_x, i.T))
    out = np.full(table.num_rows, np.nan)
    out[i.buyers] = model.p_alive(x=i.x, t_x=i.t_x, T=i.T)
    return out


def expected_purchases(table: pa.Table, model: BGNBD, *, weeks: float) -> Floats:
    i = inputs(table)
    out = np.full(table.num_rows, np.nan)
    out[i.buyers] = model.conditional_expected_purchases(weeks, x=i.x, t_x=i.t_x, T=i.T)
    return out


def fit_spend(table: pa.Table) -> GammaGamma:
    """Gamma-Gamma on repeat buyers' mean order value.

    The literature uses the mean of repeat transactions only; the snapshot holds the mean of
    all orders (the first included), which is what is fitted here.
    """
    i = inputs(table)
    spend = column(table, "monetary")[i.buyers]
    return fit_gamma_gamma(i.x, np.nan_to_num(spend))


def expected_spend(table: pa.Table, model: GammaGamma) -> Floats:
    i = inputs(table)
    spend = np.nan_to_num(column(table, "monetary")[i.buyers])
    out = np.full(table.num_rows, np.nan)
    out[i.buyers] = model.expected_spend(x=i.x, mean_spend=spend)
    return out


def lifetime_value(
    table: pa.Table, count: BGNBD, spend: GammaGamma, *, months: int = 12, rate: float = 0.01
) -> Floats:
    """Discounted value of the next ``months`` (monthly ``rate``), per member."""
    i = inputs(table)
    out = np.full(table.num_rows, np.nan)
    per_order = expected_spend(table, spend)[i.buyers]
    out[i.buyers] = customer_lifetime_value(
        count, x=i.x, t_x=i.t_x, T=i.T, spend=per_order, periods=months, rate=rate
    )
    return out
