"""`nextbest bench obd`: the BTS action distributions and one short run on the real sample."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nextbest.bench.obd import bts_ranking_dist, empirical_dist, run_obd_bench
from nextbest.cli.bench_obd import bench_obd
from nextbest.datasets.obd import BtsPrior, load_obd
from nextbest.datasets.wheels import DatasetUnavailable
from tests.conftest import unavailable


def test_ranking_dist_is_a_distribution_per_position_and_seeded() -> None:
    rng = np.random.default_rng
    prior = BtsPrior(alpha=np.array([5.0, 4.0, 3.0, 2.0]), beta=np.array([5.0, 6.0, 7.0, 8.0]))
    a = bts_ranking_dist(prior, n_positions=3, n_sim=25_000, rng=rng(1))
    b = bts_ranking_dist(prior, n_positions=3, n_sim=25_000, rng=rng(1))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a.sum(axis=0), 1.0)
    assert (a.sum(axis=1) <= 1.0 + 1e-12).all()  # an item fills at most one slot
    assert np.argmax(a[:, 0]) == 0  # the highest prior mean leads most often
    with pytest.raises(ValueError, match=r"n_positions must be in 1\.\.4"):
        bts_ranking_dist(prior, n_positions=5, n_sim=10, rng=rng(0))


def test_real_sample_short_run(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        bts = load_obd("bts", "all")
    except DatasetUnavailable as exc:
        unavailable("the obp 0.4.1 wheel", exc)
        raise
    np.testing.assert_allclose(empirical_dist(bts).sum(axis=0), 1.0)
    figures = run_obd_bench(campaign="all", runs=2, seed=1, action_dist="empirical")
    assert figures["truth_ctr"] == pytest.approx(0.0042)
    assert set(figures["relative_error"]) == {"ips", "snips", "dm", "dr"}
    assert figures["best"] in figures["relative_error"]
    again = run_obd_bench(campaign="all", runs=2, seed=1, action_dist="empirical")
    assert again["relative_error"] == figures["relative_error"]
    bench_obd(campaign="all", runs=2, seed=1, action_dist="prior", n_sim=2000, as_json=True)
    printed = json.loads(capsys.readouterr().out)
    assert printed["units"]["relative_error"] == "|estimate - truth| / truth"
    assert printed["action_dist"] == "prior"


def test_ips_reproduces_the_published_ipw_estimate() -> None:
    """obp's quickstart: IPW's value of BTS over the random log's CTR on "all" is 1.198126,
    with BTS's action distribution simulated from its prior (100,000 draws). Ours simulates
    with other random numbers, so it agrees to within that simulation's noise."""
    try:
        figures = run_obd_bench(campaign="all", runs=1, seed=12345, action_dist="prior")
    except DatasetUnavailable as exc:
        unavailable("the obp 0.4.1 wheel", exc)
        raise
    published = figures["published_ips_relative_to_random"]
    assert published == pytest.approx(1.198126)
    assert figures["ips_relative_to_random"] == pytest.approx(published, rel=0.01)
