"""Run the feature pipeline on DuckDB (the embedded default) over Parquet and Arrow inputs."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from nextbest.analytics.features.dialect import DUCKDB
from nextbest.analytics.features.pipeline import (
    EVENTS_SCHEMA_SQL,
    categories_sql,
    result_sql,
    span_sql,
    statements,
)
from nextbest.analytics.features.spec import Snapshot


class DuckDBFeatures:
    """One connection holding the inputs; ``snapshot`` computes a feature table."""

    def __init__(
        self,
        *,
        events: Path | pa.Table,
        member_map: pa.Table,
        members: pa.Table,
        ledger: pa.Table,
        threads: int | None = None,
    ) -> None:
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        if isinstance(events, pa.Table):
            self.con.register("events_in", events)
            self.con.execute("CREATE VIEW events AS SELECT * FROM events_in")
        else:
            files = _files(events)
            if files:
                listed = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
                self.con.execute(
                    "CREATE VIEW events AS SELECT event_id, type, occurred_at, source,"
                    f" member_id, total, payload FROM read_parquet([{listed}])"
                )
            else:
                self.con.execute(f"CREATE VIEW events AS {EVENTS_SCHEMA_SQL}")
        for name, table in (("member_map", member_map), ("members", members), ("ledger", ledger)):
            self.con.register(f"{name}_in", table)
            self.con.execute(f"CREATE VIEW {name} AS SELECT * FROM {name}_in")

    def categories(self, snapshot: Snapshot) -> tuple[str, ...]:
        self._create(replace(snapshot, categories=(), labels=False))
        rows = self.con.sql(categories_sql()).fetchall()
        return tuple(str(r[0]) for r in rows)

    def span(self) -> tuple[datetime | None, datetime | None]:
        """First and last purchase in the history (the window models can learn from)."""
        row = self.con.sql(span_sql()).to_arrow_table().to_pylist()[0]
        return row["first"], row["last"]

    def snapshot(self, snapshot: Snapshot) -> pa.Table:
        self._create(snapshot)
        return self.con.sql(result_sql(snapshot)).to_arrow_table()

    def _create(self, snapshot: Snapshot) -> None:
        for view, sql in statements(snapshot, DUCKDB):
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS {sql}")

    def close(self) -> None:
        self.con.close()


def _files(events: Path) -> list[Path]:
    """Parquet files of a history folder, or the one file given; none if it does not exist."""
    if events.is_dir():
        return sorted(events.glob("*.parquet"))
    return [events] if events.exists() else []
