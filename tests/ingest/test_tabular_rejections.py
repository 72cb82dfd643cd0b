"""CSV and Parquet rows that cannot be decoded are dead-lettered with their position."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine

from nextbest.config import Settings
from nextbest.ingest.service import ingest_file

GOOD = {
    "event_id": "a1",
    "type": "app_open",
    "occurred_at": "2026-01-02T10:00:00+00:00",
    "source": "app",
    "identifiers.device_id": "d1",
    "lines": None,
    "quantity": None,
}


def test_csv_short_row_bad_json_cell_and_wrong_type(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "event_id,type,occurred_at,source,identifiers.pos_card,lines,total,order_id\n"
        "a1,app_open,2026-01-02T10:00:00+00:00,app,c1,,,\n"
        "a2,app_open,2026-01-02T10:00:00+00:00\n"
        'p1,purchase,2026-01-02T10:00:00+00:00,pos,c1,"[{""sku"": ",3.5,o1\n'
        'p2,purchase,2026-01-02T10:00:00+00:00,pos,c1,"[{""sku"":""x"",""category"":""c"",'
        '""quantity"":""many"",""unit_price"":1}]",1,o2\n'
    )
    report = ingest_file(engine, settings, path)
    assert report.accepted == 1
    got = {(r.location, r.field) for r in report.rejections}
    assert got == {("line 3", "(record)"), ("line 4", "lines"), ("line 5", "lines.0.quantity")}


def test_parquet_rows_keep_their_row_numbers(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    rows = [
        GOOD,
        {**GOOD, "event_id": "a2", "type": "teleport"},
        {**GOOD, "event_id": "p1", "type": "purchase", "lines": "not json"},
        {**GOOD, "event_id": "a3", "occurred_at": "yesterday"},
        {**GOOD, "event_id": "a4"},
    ]
    columns = {c: [r.get(c) for r in rows] for c in GOOD}
    pq.write_table(pa.table(columns), tmp_path / "events.parquet")
    report = ingest_file(engine, settings, tmp_path / "events.parquet")
    assert report.accepted == 2
    got = {(r.location, r.field, r.event_id) for r in report.rejections}
    assert got == {
        ("row 2", "type", "a2"),
        ("row 3", "lines", None),
        ("row 4", "occurred_at", "a3"),
    }
