"""Segment migration: counts, row shares, members who entered or left, rendering."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nextbest.analytics.rfm import ENTERED, LEFT, InvalidFeature, RfmConfig, migrate

NAMES = ["champions", "loyal", "at risk", "lost"]


def test_matrix_counts_moves_entries_and_exits() -> None:
    mig = migrate(
        ids_a=["a", "b", "c", "d"],
        segments_a=["champions", "champions", "loyal", "lost"],
        ids_b=["a", "b", "c", "e"],
        segments_b=["champions", "at risk", "champions", "loyal"],
        order=RfmConfig().segment_names,
    )
    assert mig.rows == (ENTERED, "champions", "loyal", "lost")
    assert mig.cols == ("champions", "loyal", "at risk", LEFT)
    cell = {
        (r, c): int(mig.counts[i, j])
        for i, r in enumerate(mig.rows)
        for j, c in enumerate(mig.cols)
        if mig.counts[i, j]
    }
    assert cell == {
        ("champions", "champions"): 1,
        ("champions", "at risk"): 1,
        ("loyal", "champions"): 1,
        ("lost", LEFT): 1,
        (ENTERED, "loyal"): 1,
    }
    assert mig.stayed == 1
    assert mig.shares[1].tolist() == [0.5, 0.0, 0.5, 0.0]
    d = mig.to_dict()
    assert d["members"] == 5 and d["stayed"] == 1


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(st.integers(0, 60), st.sampled_from(NAMES), max_size=40),
    st.dictionaries(st.integers(0, 60), st.sampled_from(NAMES), max_size=40),
)
def test_sums_match_the_members_at_each_date(a: dict[int, str], b: dict[int, str]) -> None:
    mig = migrate(
        ids_a=[f"m{i}" for i in a],
        segments_a=list(a.values()),
        ids_b=[f"m{i}" for i in b],
        segments_b=list(b.values()),
        order=NAMES,
    )
    assert int(mig.counts.sum()) == len(set(a) | set(b))
    # Rows other than "(entered)" add up to the members at A; columns other than "(left)" to B.
    assert int(mig.counts[1:].sum()) == len(a)
    assert int(mig.counts[:, :-1].sum()) == len(b)
    for i, row in enumerate(mig.rows[1:], start=1):
        assert int(mig.counts[i].sum()) == sum(1 for s in a.values() if s == row)
    totals = mig.shares.sum(axis=1)
    assert np.allclose(totals[mig.counts.sum(axis=1) > 0], 1.0)
    assert mig.stayed == sum(1 for i in set(a) & set(b) if a[i] == b[i])


def test_duplicate_members_are_rejected_with_the_id() -> None:
    with pytest.raises(InvalidFeature, match=r"member x: member_id: listed 2 times at date B"):
        migrate(ids_a=["x"], segments_a=["new"], ids_b=["x", "x"], segments_b=["new", "lost"])


def test_text_rendering_has_a_line_per_row_with_counts_and_shares() -> None:
    mig = migrate(
        ids_a=["a", "b"],
        segments_a=["loyal", "loyal"],
        ids_b=["a", "b"],
        segments_b=["loyal", "lost"],
    )
    lines = mig.to_text().splitlines()
    assert len(lines) == 1 + len(mig.rows)
    assert "loyal" in lines[0] and "(left)" in lines[0]
    assert lines[-1].split()[:5] == ["loyal", "1", "50%", "1", "50%"]
