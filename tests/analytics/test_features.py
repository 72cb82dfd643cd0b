"""The feature pipeline: hand-worked answers on DuckDB, and the same table from Spark."""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nextbest.analytics.features import FEATURES, Snapshot
from nextbest.analytics.features.duckdb_run import DuckDBFeatures
from tests.analytics import features_data as data

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _snapshot(categories: tuple[str, ...] = ("bakery", "coffee")) -> Snapshot:
    return Snapshot(as_of=data.AS_OF, categories=categories, spend_currency="pts", labels=True)


@pytest.fixture
def history_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "events"
    directory.mkdir()
    table = data.history()
    pq.write_table(table.slice(0, 6), directory / "a.parquet")
    pq.write_table(table.slice(6), directory / "b.parquet")
    return directory


def _duckdb(history_dir: Path) -> DuckDBFeatures:
    return DuckDBFeatures(
        events=history_dir,
        member_map=data.member_map(),
        members=data.members(),
        ledger=data.ledger(),
    )


def _rows(table: pa.Table) -> dict[str, dict[str, Any]]:
    return {row["member_id"]: row for row in table.to_pylist()}


def test_features_worked_by_hand(history_dir: Path) -> None:
    features = _duckdb(history_dir)
    assert features.categories(_snapshot()) == ("bakery", "coffee")
    rows = _rows(features.snapshot(_snapshot()))
    assert set(rows) == {"m1", "m3"}  # m2 merged into m1; m4 only appears after the snapshot
    m1 = rows["m1"]
    assert m1["frequency"] == 4  # p1, p2, p3 and m2's p4
    assert m1["recency_days"] == pytest.approx(3.0)
    assert m1["spend"] == pytest.approx(9.0 + 7.5 + 3.0 + 3.0)
    assert m1["monetary"] == pytest.approx(22.5 / 4)
    assert m1["purchases_30d"] == 2 and m1["purchases_90d"] == 3
    assert m1["spend_prev_90d"] == pytest.approx(3.0)
    assert m1["mean_gap_days"] == pytest.approx((m1["first_purchase_days"] - 3.0) / 3)
    assert m1["share_coffee"] == pytest.approx((9.0 + 4.5 + 3.0) / 22.5)
    assert m1["top_category"] == "coffee" and m1["top_sku"] == "CF-LAT"
    assert m1["top_channel"] == "pos" and m1["app_share"] == pytest.approx(0.25)
    assert m1["opens_90d"] == 1 and m1["messages_90d"] == 1
    assert m1["open_tickets"] == 1 and m1["mean_rating"] == 2
    assert m1["points_balance"] == 50 and m1["points_burned_180d"] == 40
    assert m1["age_band"] == "25-34" and m1["region"] == "America/New_York"
    # labels: m1 buys 20 days later, m3 7 days later; neither churns within 60 days
    assert m1["churned"] == 0 and m1["days_to_next"] == pytest.approx(20.0)
    assert m1["next_bakery"] == 1 and m1["next_coffee"] == 0
    m3 = rows["m3"]
    assert m3["frequency"] == 0 and m3["recency_days"] is None and m3["top_category"] is None
    assert m3["age_band"] == "unknown" and m3["days_to_next"] == pytest.approx(7.0)
    assert list(rows["m1"])[: 1 + len(FEATURES)] == ["member_id", *FEATURES]


def test_churn_label_follows_the_horizon(history_dir: Path) -> None:
    features = _duckdb(history_dir)
    rows = _rows(features.snapshot(replace(_snapshot(), churn_days=10)))
    assert rows["m1"]["churned"] == 1 and rows["m3"]["churned"] == 0


def test_local_time_is_the_members_zone(history_dir: Path) -> None:
    # p1..p4 at 09:00, 08:00, 10:00 and 00:00 UTC are 05:00 EDT, 04:00 EDT, 05:00 EST and
    # 20:00 EDT the evening before in New York: two mornings of four (in UTC: three)
    rows = _rows(_duckdb(history_dir).snapshot(_snapshot()))
    assert rows["m1"]["morning_share"] == pytest.approx(0.5)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    try:
        from nextbest.analytics.features.spark_run import local_session

        if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
            raise RuntimeError("no Java runtime on PATH")
        session = local_session(cores=1)
    except Exception as exc:  # pyspark missing, or no JVM
        message = f"Spark unavailable: {type(exc).__name__}: {exc}"
        if IN_CI:
            pytest.fail(f"{message} (CI=true requires it)", pytrace=False)
        pytest.skip(message)
    yield session
    session.stop()


@pytest.mark.slow
def test_spark_and_duckdb_produce_identical_features(spark: Any, history_dir: Path) -> None:
    from nextbest.analytics.features.spark_run import SparkFeatures

    on_spark = SparkFeatures(
        spark=spark,
        events=history_dir,
        member_map=data.member_map(),
        members=data.members(),
        ledger=data.ledger(),
    )
    on_duckdb = _duckdb(history_dir)
    snapshot = _snapshot(categories=())
    assert on_spark.categories(snapshot) == on_duckdb.categories(snapshot)
    snapshot = replace(snapshot, categories=on_duckdb.categories(snapshot))
    left, right = on_duckdb.snapshot(snapshot), on_spark.snapshot(snapshot)
    assert left.column_names == right.column_names
    assert left.num_rows == right.num_rows == 2
    for name in left.column_names:
        for a, b in zip(left[name].to_pylist(), right[name].to_pylist(), strict=True):
            if isinstance(a, float) and isinstance(b, float):
                assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12), name
            else:
                assert a == b, name
