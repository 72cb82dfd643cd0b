"""Member x item interactions (purchase lines) read from Parquet with DuckDB.

Two sources, one output (``nextbest.analytics.recommend.Interactions``: member, item,
occurred_at as Unix seconds, quantity):

- the store's event history (``Settings().event_history_dir``): purchases whose member
  ingestion resolved, lines from the ``payload`` JSON, deduplicated on ``event_id`` (a
  compaction may briefly leave an event in two files; the latest received copy wins);
- a simulator output directory (``nextbest simulate``): purchases from ``events/*.parquet``,
  the member being the true person from ``truth/records.parquet``, for evaluation.

Items are SKUs or categories (``level``). Only purchases count; returns carry an amount,
not lines, so they are not subtracted.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np

from nextbest.analytics.recommend import Interactions

Level = Literal["sku", "category"]
LEVELS: tuple[Level, ...] = ("sku", "category")
_LINES = """'[{"sku": "VARCHAR", "category": "VARCHAR", "quantity": "DOUBLE"}]'"""


def _files(directory: Path, pattern: str, what: str) -> list[str]:
    files = sorted(str(p) for p in directory.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no {what} files ({pattern}) under {directory}")
    return files


def _check(level: Level, end: datetime | None) -> dict[str, object]:
    """Validated arguments; the query parameters ``end`` needs."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    if end is None:
        return {}
    if end.tzinfo is None:
        raise ValueError(f"end must be timezone-aware, got {end.isoformat()}")
    return {"end": end.isoformat()}


def _lines_sql(source: str, *, level: Level, end: datetime | None) -> str:
    until = "" if end is None else "WHERE ts < epoch(CAST($end AS TIMESTAMPTZ))"
    return f"""
        WITH purchases AS ({source}),
        lines AS (
            SELECT member, ts, unnest(from_json(lines, {_LINES})) AS line
            FROM (SELECT * FROM purchases {until})
        )
        SELECT member, line.{level} AS item, CAST(floor(ts) AS BIGINT) AS ts,
               coalesce(line.quantity, 1.0) AS weight
        FROM lines
        WHERE line.{level} IS NOT NULL AND coalesce(line.quantity, 1.0) > 0
        ORDER BY ts, member, item
    """


def _run(sql: str, params: dict[str, object]) -> Interactions:
    con = duckdb.connect()
    try:
        column = con.execute(sql, params).fetchnumpy()
    finally:
        con.close()
    return Interactions(
        np.asarray(column["member"], dtype=np.str_),
        np.asarray(column["item"], dtype=np.str_),
        np.asarray(column["ts"], dtype=np.int64),
        np.asarray(column["weight"], dtype=np.float64),
    )


def read_history(
    directory: Path, *, level: Level = "sku", end: datetime | None = None
) -> Interactions:
    """Purchase lines of resolved members from the event history (before ``end`` if given)."""
    bounds = _check(level, end)
    files = _files(directory, "events-*.parquet", "event history")
    source = """
        SELECT member_id AS member, epoch(occurred_at) AS ts,
               CAST(json_extract(payload, '$.lines') AS VARCHAR) AS lines
        FROM read_parquet($files, union_by_name = true)
        WHERE type = 'purchase' AND member_id IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY received_at DESC) = 1
    """
    return _run(_lines_sql(source, level=level, end=end), {"files": files, **bounds})


def read_simulation(
    directory: Path, *, level: Level = "sku", end: datetime | None = None
) -> Interactions:
    """Purchase lines of a simulator run, the member being the true person."""
    bounds = _check(level, end)
    files = _files(directory / "events", "events-*.parquet", "simulated Parquet event")
    records = directory / "truth" / "records.parquet"
    if not records.exists():
        raise FileNotFoundError(f"no simulator truth at {records}")
    source = """
        SELECT r.person_id AS member, epoch(CAST(e.occurred_at AS TIMESTAMPTZ)) AS ts, e.lines
        FROM read_parquet($files) AS e JOIN read_parquet($records) AS r USING (event_id)
        WHERE e.type = 'purchase' AND e.lines IS NOT NULL AND e.lines <> ''
    """
    params: dict[str, object] = {"files": files, "records": str(records), **bounds}
    return _run(_lines_sql(source, level=level, end=end), params)


def is_simulation(directory: Path) -> bool:
    return (directory / "truth" / "records.parquet").exists() and (directory / "events").is_dir()


def read_interactions(
    directory: Path, *, level: Level = "sku", end: datetime | None = None
) -> Interactions:
    """A simulator run if ``directory`` holds one (``truth/`` + ``events/``), else a history."""
    if is_simulation(directory):
        return read_simulation(directory, level=level, end=end)
    return read_history(directory, level=level, end=end)
