"""The CDNOW loader against the real ``Lifetimes`` wheel (downloaded once, cached)."""

from __future__ import annotations

import numpy as np
import pytest

from nextbest.analytics.btyd import summarise
from nextbest.datasets.cdnow import load_cdnow, load_cdnow_summary, yyyymmdd_to_days


def test_master_file() -> None:
    master = load_cdnow("master")
    assert master.n_transactions == 69_659
    assert np.unique(master.customer_id).size == 23_570
    assert str(master.date.min()) == "1997-01-01" and str(master.date.max()) == "1998-06-30"
    assert master.sample_id is None
    assert (master.cds >= 0).all() and (master.dollars >= 0).all()


def test_sample_file() -> None:
    sample = load_cdnow("sample")
    assert sample.n_transactions == 6_919
    assert sample.sample_id is not None
    assert np.unique(sample.sample_id).size == np.unique(sample.customer_id).size == 2_357
    # every sample customer is a master customer with the same transactions
    master = load_cdnow("master")
    rows = set(zip(master.customer_id.tolist(), master.date.tolist(), strict=True))
    assert all(
        (c, d) in rows
        for c, d in zip(sample.customer_id.tolist(), sample.date.tolist(), strict=True)
    )


def test_our_summary_reproduces_the_published_one() -> None:
    sample = load_cdnow("sample")
    s = summarise(
        customer_ids=sample.sample_id,
        dates=sample.date,
        amounts=sample.dollars,
        calibration_end="1997-09-30",
    )
    published = load_cdnow_summary()
    assert s.customer_ids.tolist() == published.id.tolist()
    np.testing.assert_array_equal(s.frequency, published.frequency)
    # the published weeks are rounded to two decimals
    np.testing.assert_allclose(s.t_x, published.recency, atol=0.005)
    np.testing.assert_allclose(s.T, published.T, atol=0.005)
    assert int((s.frequency > 0).sum()) == 946


def test_unknown_file_and_bad_dates() -> None:
    with pytest.raises(ValueError, match="unknown CDNOW file"):
        load_cdnow("other")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a YYYYMMDD date: 19970230"):
        yyyymmdd_to_days(np.array([19970101, 19970230]))
