"""RFM scores: quantile edges, reversed R, ties, no purchase, segments, explanations, errors."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nextbest.analytics.rfm import (
    DEFAULT_RULES,
    NO_PURCHASE,
    InvalidFeature,
    RfmConfig,
    SegmentRule,
    bins,
    quantile_edges,
    score_rfm,
    score_table,
)
from nextbest.errors import InvalidRequest

SEGMENTS = {
    "champions",
    "loyal",
    "potential loyalists",
    "new",
    "promising",
    "need attention",
    "about to sleep",
    "at risk",
    "can't lose",
    "hibernating",
    "lost",
}


def test_quantile_edges_are_observed_values_at_each_fifth() -> None:
    values = np.arange(1.0, 101.0)
    assert quantile_edges(values, 5) == (20.0, 40.0, 60.0, 80.0)
    assert (
        bins(values, (20.0, 40.0, 60.0, 80.0)).tolist()
        == [1] * 20 + [2] * 20 + [3] * 20 + [4] * 20 + [5] * 20
    )


def test_scores_split_members_into_equal_quintiles() -> None:
    n = 100
    res = score_rfm(
        recency_days=np.arange(n, dtype=float),
        frequency=np.arange(1, n + 1),
        monetary=np.linspace(1.0, 50.0, n),
    )
    for scores in (res.r, res.f, res.m):
        assert np.bincount(scores, minlength=6)[1:].tolist() == [20] * 5


def test_recency_is_reversed_recent_scores_high() -> None:
    res = score_rfm(recency_days=[1, 5, 10, 50, 200], frequency=[1, 1, 1, 1, 1], monetary=[1.0] * 5)
    assert res.r.tolist() == [5, 4, 3, 2, 1]
    assert res.edges.r == (1.0, 5.0, 10.0, 50.0)


def test_ties_share_a_score_and_land_in_the_lowest_bin_they_reach() -> None:
    # 60% one-time buyers: edges 1, 1, 1, 2; all ones get F=1, twos F=4; F 2..3 empty.
    freq = [1] * 60 + [2] * 20 + [3] * 10 + [9] * 10
    res = score_rfm(recency_days=np.arange(100.0), frequency=freq, monetary=[5.0] * 100)
    assert res.edges.f == (1.0, 1.0, 1.0, 2.0)
    assert set(res.f[:60].tolist()) == {1}
    assert set(res.f[60:80].tolist()) == {4}
    assert set(res.f[80:].tolist()) == {5}
    # A constant column: everybody in one bin (the lowest; for R reversed, the highest).
    assert set(res.m.tolist()) == {1}


def test_ties_do_not_depend_on_row_order() -> None:
    rng = np.random.default_rng(3)
    rec = rng.integers(0, 60, 500).astype(float)
    freq = rng.integers(1, 5, 500)
    money = rng.choice([4.0, 5.5, 7.0], 500)
    perm = rng.permutation(500)
    a = score_rfm(recency_days=rec, frequency=freq, monetary=money)
    b = score_rfm(recency_days=rec[perm], frequency=freq[perm], monetary=money[perm])
    assert (a.r[perm] == b.r).all() and (a.f[perm] == b.f).all() and (a.m[perm] == b.m).all()
    assert (a.codes[perm] == b.codes).all()


def test_members_without_purchase_score_zero_and_are_left_out_of_the_edges() -> None:
    res = score_rfm(
        recency_days=[np.nan, 1, 2, 3, 4, 5],
        frequency=[0, 1, 2, 3, 4, 5],
        monetary=[np.nan, 1.0, 2.0, 3.0, 4.0, 5.0],
    )
    assert (res.r[0], res.f[0], res.m[0]) == (0, 0, 0)
    assert res.segments[0] == NO_PURCHASE
    assert res.edges.f == (1.0, 2.0, 3.0, 4.0)
    assert res.f[1:].tolist() == [1, 2, 3, 4, 5]


def test_explicit_edges_override_quantiles() -> None:
    cfg = RfmConfig(r_edges=(7, 14, 30, 60), f_edges=(1, 2, 3, 5), m_edges=(5, 10, 20, 50))
    res = score_rfm(
        recency_days=[3, 20, 400], frequency=[6, 2, 1], monetary=[60.0, 8, 1], config=cfg
    )
    assert res.r.tolist() == [5, 3, 1]
    assert res.f.tolist() == [5, 2, 1]
    assert res.m.tolist() == [5, 2, 1]
    assert res.segments.tolist() == ["champions", "about to sleep", "lost"]


def test_monetary_total_multiplies_the_mean_by_frequency() -> None:
    cfg = RfmConfig(k=2, monetary="total", m_edges=(20.0,))
    res = score_rfm(recency_days=[1, 2], frequency=[10, 1], monetary=[3.0, 25.0], config=cfg)
    assert res.monetary.tolist() == [30.0, 25.0]
    assert res.m.tolist() == [2, 2]
    back = score_rfm(
        recency_days=[1, 2],
        frequency=[10, 1],
        monetary=[30.0, 25.0],
        config=RfmConfig(k=2),
        monetary_is="total",
    )
    assert back.monetary.tolist() == [3.0, 25.0]


def test_fm_axis_reads_the_mean_of_f_and_m_rounded_half_up() -> None:
    cfg = RfmConfig(axis="fm", r_edges=(1, 2, 3, 4), f_edges=(1, 2, 3, 4), m_edges=(1, 2, 3, 4))
    res = score_rfm(recency_days=[1, 1], frequency=[5, 3], monetary=[4.0, 1.0], config=cfg)
    # F=5, M=4 -> FM 4.5 -> 5; F=3, M=1 -> 2
    assert res.y.tolist() == [5, 2]
    assert res.segments.tolist() == ["champions", "potential loyalists"]


def test_the_default_grid_matches_the_documented_table() -> None:
    cfg = RfmConfig()
    expected = {
        5: ["new", "potential loyalists", "potential loyalists", "champions", "champions"],
        4: ["promising", "potential loyalists", "potential loyalists", "loyal", "loyal"],
        3: ["about to sleep", "about to sleep", "need attention", "loyal", "loyal"],
        2: ["hibernating", "hibernating", "at risk", "at risk", "can't lose"],
        1: ["lost", "lost", "at risk", "at risk", "can't lose"],
    }
    for r, row in expected.items():
        assert [cfg.segment_for(r, f) for f in range(1, 6)] == row


@pytest.mark.parametrize("k", [2, 3, 4, 5, 7, 10])
@pytest.mark.parametrize("axis", ["f", "fm"])
def test_every_score_combination_gets_exactly_one_segment(k: int, axis: Any) -> None:
    cfg = RfmConfig(k=k, axis=axis)
    for r, y in itertools.product(range(1, k + 1), repeat=2):
        matching = [
            rule
            for rule in cfg.rules
            if rule.r[0] <= cfg.to_grid(r) <= rule.r[1] and rule.y[0] <= cfg.to_grid(y) <= rule.y[1]
        ]
        assert len(matching) == 1, (r, y)
    assert cfg.to_grid(1) == 1 and cfg.to_grid(k) == 5


def test_each_named_segment_is_reachable_by_real_members() -> None:
    cfg = RfmConfig(r_edges=(1, 2, 3, 4), f_edges=(1, 2, 3, 4), m_edges=(1, 2, 3, 4))
    grid = list(itertools.product(range(1, 6), repeat=2))
    # Recency bin b is value b; R = 6 - b. Frequency value f is F=f.
    res = score_rfm(
        recency_days=[6 - r for r, _ in grid],
        frequency=[f for _, f in grid],
        monetary=[1.0] * len(grid),
        config=cfg,
    )
    assert set(res.segments.tolist()) == SEGMENTS
    assert {rule.name for rule in DEFAULT_RULES} == SEGMENTS


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.just(float("nan")), st.floats(0, 1000)),
            st.integers(1, 200),
            st.floats(0, 500),
        ),
        min_size=1,
        max_size=80,
    ),
    st.integers(2, 8),
)
def test_any_input_gives_one_known_segment_per_member(rows: list[Any], k: int) -> None:
    rec = [r for r, _, _ in rows]
    freq = [0 if np.isnan(r) else f for r, f, _ in rows]
    money = [m for _, _, m in rows]
    res = score_rfm(recency_days=rec, frequency=freq, monetary=money, config=RfmConfig(k=k))
    names = res.segments.tolist()
    assert len(names) == len(rows)
    assert set(names) <= SEGMENTS | {NO_PURCHASE}
    bought = ~np.isnan(np.asarray(rec))
    assert ((res.r > 0) == bought).all() and (res.r <= k).all() and (res.f <= k).all()
    assert [n == NO_PURCHASE for n in names] == (~bought).tolist()
    assert sum(s.members for s in res.summary()) == len(rows)


def test_explain_quotes_the_value_the_edges_and_the_rule() -> None:
    cfg = RfmConfig(r_edges=(7, 14, 30, 60), f_edges=(1, 2, 3, 5), m_edges=(5, 10, 20, 50))
    res = score_rfm(
        recency_days=[3, 20],
        frequency=[6, 2],
        monetary=[60.0, 8.0],
        config=cfg,
        member_ids=["ann", "bob"],
    )
    ann = res.explain("ann")
    assert ann.reasons[0] == "R=5 because 3 days since last purchase <= edge 7"
    assert ann.reasons[1] == "F=5 because 6 purchases > edge 5"
    assert "champions because R=5, F=5" in ann.reasons[3]
    assert "R in 5..5 and F in 4..5" in ann.reasons[3]
    bob = str(res.explain(1))
    assert bob.startswith("bob: about to sleep:")
    assert "R=3 because edge 14 < 20 days since last purchase <= edge 30" in bob
    with pytest.raises(InvalidRequest, match="carl: not among"):
        res.explain("carl")


def test_config_rejects_rules_that_do_not_partition_the_grid() -> None:
    overlapping = (*DEFAULT_RULES, SegmentRule("extra", (5, 5), (5, 5)))
    with pytest.raises(ValueError, match=r"not: \[\(5, 5\)\]"):
        RfmConfig(rules=overlapping)
    with pytest.raises(ValueError, match="cover each"):
        RfmConfig(rules=DEFAULT_RULES[1:])
    with pytest.raises(ValueError, match="f_edges: 5 scores need 4 edges"):
        RfmConfig(f_edges=(1, 2))
    with pytest.raises(ValueError, match="non-decreasing"):
        RfmConfig(r_edges=(7, 3, 30, 60))


def test_a_custom_segment_map_is_used() -> None:
    rules = (SegmentRule("active", (3, 5), (1, 5)), SegmentRule("dormant", (1, 2), (1, 5)))
    res = score_rfm(
        recency_days=np.arange(10.0),
        frequency=[1] * 10,
        monetary=[1.0] * 10,
        config=RfmConfig(rules=rules),
    )
    assert set(res.segments.tolist()) == {"active", "dormant"}


BAD: list[tuple[dict[str, Any], str]] = [
    ({"frequency": [1, -2]}, r"row 1 \(member b\): frequency: negative \(-2\)"),
    ({"recency_days": [-1, 3]}, r"row 0 \(member a\): recency_days: negative"),
    ({"recency_days": [np.nan, 3]}, r"row 0 \(member a\): recency_days: missing although"),
    ({"monetary": [np.nan, 3.0]}, r"row 0 \(member a\): monetary: missing or infinite"),
    ({"monetary": [2.0, -3.0]}, r"row 1 \(member b\): monetary: negative"),
    ({"frequency": [np.nan, 1]}, r"row 0 \(member a\): frequency: not a number"),
]


@pytest.mark.parametrize(("change", "message"), BAD)
def test_bad_input_names_the_row_the_field_and_the_reason(
    change: dict[str, Any], message: str
) -> None:
    base: dict[str, Any] = {"recency_days": [1, 3], "frequency": [1, 2], "monetary": [2.0, 3.0]}
    with pytest.raises(InvalidFeature, match=message):
        score_rfm(**{**base, **change}, member_ids=["a", "b"])


def test_score_table_reads_a_frame_and_names_missing_columns() -> None:
    frame = pl.DataFrame({"member_id": ["a"], "recency_days": [2.0], "frequency": [1]})
    with pytest.raises(InvalidFeature, match="features: monetary: missing column"):
        score_table(frame)
    frame = frame.with_columns(monetary=pl.lit("lots"))
    with pytest.raises(InvalidFeature, match=r"monetary: not numeric"):
        score_table(frame)
