"""The Open Bandit Dataset loader against the real ``obp`` wheel (downloaded once, cached)."""

from __future__ import annotations

import numpy as np
import pytest

from nextbest.datasets.obd import (
    CAMPAIGNS,
    POLICIES,
    Campaign,
    ObdLog,
    Policy,
    load_bts_prior,
    load_obd,
)
from nextbest.datasets.wheels import DatasetUnavailable
from tests.conftest import unavailable

ITEMS = {"all": 80, "men": 34, "women": 46}


def _load(policy: Policy, campaign: Campaign) -> ObdLog:
    try:
        return load_obd(policy, campaign)
    except DatasetUnavailable as exc:
        unavailable("the obp 0.4.1 wheel", exc)
        raise


@pytest.mark.parametrize("campaign", CAMPAIGNS)
@pytest.mark.parametrize("policy", POLICIES)
def test_logs(policy: Policy, campaign: Campaign) -> None:
    log = _load(policy, campaign)
    assert log.n_rows == 10_000
    assert log.n_items == ITEMS[campaign] and log.n_positions == 3
    assert log.affinity.shape == (10_000, log.n_items)
    assert log.user_features.shape == (10_000, 4)
    assert set(np.unique(log.click).tolist()) <= {0, 1}
    assert ((log.propensity > 0) & (log.propensity <= 1)).all()
    assert set(np.unique(log.position).tolist()) == {0, 1, 2}
    if policy == "random":
        np.testing.assert_allclose(log.propensity, 1.0 / log.n_items)


def test_published_click_rates_on_all() -> None:
    assert _load("random", "all").ctr == pytest.approx(0.0038)
    assert _load("bts", "all").ctr == pytest.approx(0.0042)


def test_bts_prior_has_one_beta_per_item() -> None:
    _load("bts", "all")
    for campaign in CAMPAIGNS:
        prior = load_bts_prior(campaign)
        assert prior.alpha.shape == prior.beta.shape == (ITEMS[campaign],)


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown OBD policy 'greedy'"):
        load_obd("greedy", "all")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown OBD campaign 'kids'"):
        load_obd("random", "kids")  # type: ignore[arg-type]
