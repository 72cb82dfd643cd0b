"""Buy-till-you-die models: who will buy again, how often, for how much, and what it is worth.

Pure numpy/scipy, arrays in and arrays out; reading files is the adapters' job.

- ``summary``: transactions to calibration histories ``(x, t_x, T)``, monetary value and
  holdout counts, in the papers' conventions;
- ``histories``: customers grouped by identical history (the unit the likelihoods run on);
- ``bgnbd``, ``paretonbd``, ``gammagamma``: the models, their likelihoods, maximum likelihood
  fits and predictions (P(alive), expected purchases, expected spend);
- ``clv``: discounted customer lifetime value; ``evaluate``: holdout and tracking checks;
- ``simulate``: synthetic populations drawn from the models; ``fit``: the shared optimiser.

>>> from nextbest.analytics.btyd import BGNBD
>>> round(float(BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426).expected_purchases(52.0)), 3)
1.446
"""

from __future__ import annotations

from nextbest.analytics.btyd.bgnbd import (
    BGNBD,
    bgnbd_conditional_expected_purchases,
    bgnbd_expected_purchases,
    bgnbd_log_likelihood,
    bgnbd_p_alive,
    fit_bgnbd,
)
from nextbest.analytics.btyd.clv import customer_lifetime_value, discounted_value
from nextbest.analytics.btyd.evaluate import HoldoutCheck, holdout_check, tracking_curve
from nextbest.analytics.btyd.fit import CountModel, FitReport
from nextbest.analytics.btyd.gammagamma import (
    GammaGamma,
    fit_gamma_gamma,
    gamma_gamma_expected_spend,
    gamma_gamma_log_likelihood,
)
from nextbest.analytics.btyd.histories import (
    Histories,
    group_day_histories,
    group_histories,
    ungrouped_histories,
)
from nextbest.analytics.btyd.paretonbd import (
    ParetoNBD,
    fit_paretonbd,
    paretonbd_conditional_expected_purchases,
    paretonbd_expected_purchases,
    paretonbd_log_likelihood,
    paretonbd_p_alive,
)
from nextbest.analytics.btyd.simulate import Population, simulate_bgnbd, simulate_paretonbd
from nextbest.analytics.btyd.summary import Summary, summarise

__all__ = [
    "BGNBD",
    "CountModel",
    "FitReport",
    "GammaGamma",
    "Histories",
    "HoldoutCheck",
    "ParetoNBD",
    "Population",
    "Summary",
    "bgnbd_conditional_expected_purchases",
    "bgnbd_expected_purchases",
    "bgnbd_log_likelihood",
    "bgnbd_p_alive",
    "customer_lifetime_value",
    "discounted_value",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "fit_paretonbd",
    "gamma_gamma_expected_spend",
    "gamma_gamma_log_likelihood",
    "group_day_histories",
    "group_histories",
    "holdout_check",
    "paretonbd_conditional_expected_purchases",
    "paretonbd_expected_purchases",
    "paretonbd_log_likelihood",
    "paretonbd_p_alive",
    "simulate_bgnbd",
    "simulate_paretonbd",
    "summarise",
    "tracking_curve",
    "ungrouped_histories",
]
