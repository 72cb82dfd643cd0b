"""RFM heat maps: the grid's counts and monetary means, PNG files written."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

from nextbest.analytics.rfm import RfmConfig, RfmResult, migrate, score_rfm
from nextbest.analytics.rfm_chart import rfm_grid, write_migration_heatmap, write_rfm_heatmap

PNG = b"\x89PNG\r\n\x1a\n"


def _result(axis: Literal["f", "fm"] = "f") -> RfmResult:
    rng = np.random.default_rng(1)
    n = 300
    rec = rng.exponential(40, n)
    rec[:20] = np.nan
    freq = np.where(np.isnan(rec), 0, rng.integers(1, 20, n))
    money = np.where(np.isnan(rec), np.nan, rng.lognormal(2, 0.5, n))
    return score_rfm(recency_days=rec, frequency=freq, monetary=money, config=RfmConfig(axis=axis))


def test_grid_counts_scored_members_by_r_and_f() -> None:
    res = score_rfm(
        recency_days=[1, 1, 90, np.nan],
        frequency=[5, 5, 1, 0],
        monetary=[10.0, 20.0, 3.0, np.nan],
        config=RfmConfig(k=2, r_edges=(30.0,), f_edges=(2.0,), m_edges=(5.0,)),
    )
    counts = rfm_grid(res)
    assert counts.tolist() == [[1.0, 0.0], [0.0, 2.0]]  # [F - 1][R - 1]
    means = rfm_grid(res, value="monetary")
    assert means[1, 1] == 15.0 and means[0, 0] == 3.0 and np.isnan(means[0, 1])


@pytest.mark.parametrize(("axis", "value"), [("f", "count"), ("fm", "monetary")])
def test_heatmap_is_a_png_file(tmp_path: Path, axis: Any, value: Any) -> None:
    out = write_rfm_heatmap(_result(axis), tmp_path / "charts" / "rfm.png", value=value)
    data = out.read_bytes()
    assert data[:8] == PNG and len(data) > 5_000


def test_migration_heatmap_is_a_png_file(tmp_path: Path) -> None:
    mig = migrate(
        ids_a=["a", "b", "c"],
        segments_a=["new", "loyal", "lost"],
        ids_b=["a", "b", "d"],
        segments_b=["loyal", "loyal", "new"],
    )
    data = write_migration_heatmap(mig, tmp_path / "migration.png").read_bytes()
    assert data[:8] == PNG


def test_unknown_suffix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        write_rfm_heatmap(_result(), tmp_path / "rfm.jpg")
