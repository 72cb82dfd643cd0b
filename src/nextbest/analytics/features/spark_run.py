"""Run the same feature pipeline on Spark (``pip install nextbest[spark]``; Java 17+).

The SQL is the pipeline's own (``pipeline.statements`` with the Spark dialect); only the
input registration differs from DuckDB. Local mode serves tests and a single large
machine; pass a ``SparkSession`` for a cluster.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from nextbest.analytics.features.dialect import SPARK
from nextbest.analytics.features.pipeline import (
    EVENTS_SCHEMA_SQL,
    categories_sql,
    result_sql,
    statements,
)
from nextbest.analytics.features.spec import Snapshot


def local_session(*, cores: int = 2, app_name: str = "nextbest-features") -> Any:
    """A local Spark session in UTC with the UI off (tests, single machines)."""
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(f"local[{cores}]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(max(2, cores * 2)))
        .config("spark.sql.ansi.enabled", "false")
        .getOrCreate()
    )


class SparkFeatures:
    def __init__(
        self,
        *,
        spark: Any,
        events: Path | pa.Table,
        member_map: pa.Table,
        members: pa.Table,
        ledger: pa.Table,
    ) -> None:
        self.spark = spark
        spark.conf.set("spark.sql.session.timeZone", "UTC")
        if isinstance(events, pa.Table):
            spark.createDataFrame(events).createOrReplaceTempView("events")
        else:
            files = _files(events)
            if files:
                frame = spark.read.parquet(*[str(f) for f in files]).select(
                    "event_id", "type", "occurred_at", "source", "member_id", "total", "payload"
                )
                frame.createOrReplaceTempView("events")
            else:
                spark.sql(EVENTS_SCHEMA_SQL.replace("VARCHAR", "STRING")).createOrReplaceTempView(
                    "events"
                )
        for name, table in (("member_map", member_map), ("members", members), ("ledger", ledger)):
            spark.createDataFrame(table).createOrReplaceTempView(name)

    def categories(self, snapshot: Snapshot) -> tuple[str, ...]:
        self._create(replace(snapshot, categories=(), labels=False))
        return tuple(str(r[0]) for r in self.spark.sql(categories_sql()).collect())

    def snapshot(self, snapshot: Snapshot) -> pa.Table:
        self._create(snapshot)
        table: pa.Table = self.spark.sql(result_sql(snapshot)).toArrow()
        return table

    def _create(self, snapshot: Snapshot) -> None:
        for view, sql in statements(snapshot, SPARK):
            self.spark.sql(sql).createOrReplaceTempView(view)


def _files(events: Path) -> list[Path]:
    """Parquet files of a history folder, or the one file given; none if it does not exist."""
    if events.is_dir():
        return sorted(events.glob("*.parquet"))
    return [events] if events.exists() else []
