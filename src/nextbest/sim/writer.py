"""Write event tables as part files (Parquet, CSV or JSON Lines) plus the truth records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from nextbest.events.flat import FLAT_COLUMNS, unflatten
from nextbest.sim.blocks import join

FORMATS = ("parquet", "jsonl", "csv")
_FLOATS = ("discount", "total", "unit_price", "value", "amount")
_INTS = ("quantity", "rating")


def person_ids(person: pa.Array) -> pa.Array:
    """``P0000042`` style ids from person indices."""
    return join("P", pc.utf8_lpad(pc.cast(person, pa.string()), width=7, padding="0"))


def canonical(row: dict[str, Any]) -> dict[str, Any]:
    """Nested canonical record (numbers as numbers) from a flat row."""
    record = unflatten(row)
    for name in _FLOATS:
        if name in record:
            record[name] = float(record[name])
    for name in _INTS:
        if name in record:
            record[name] = int(record[name])
    return record


class PartWriter:
    """Appends time-ordered event tables; starts a new part file every ``part_rows`` rows."""

    def __init__(self, out: Path, fmt: str, *, part_rows: int) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
        self.events_dir = out / "events"
        self.truth_dir = out / "truth"
        self.events_dir.mkdir(parents=True, exist_ok=True)
        self.truth_dir.mkdir(parents=True, exist_ok=True)
        for old in self.events_dir.glob("events-*"):
            old.unlink()
        self.fmt = fmt
        self.part_rows = part_rows
        self.buffer: list[pa.Table] = []
        self.buffered = 0
        self.paths: list[Path] = []
        self.rows = 0
        self.records_path = self.truth_dir / "records.parquet"
        self._truth: pq.ParquetWriter | None = None
        self.counts: dict[tuple[str, str], int] = {}

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self.buffer.append(table)
        self.buffered += table.num_rows
        if self.buffered >= self.part_rows:
            self._flush()

    def _flush(self) -> None:
        if not self.buffer:
            return
        table = pa.concat_tables(self.buffer)
        self.buffer, self.buffered = [], 0
        for item in table.group_by(["type", "source"]).aggregate([([], "count_all")]).to_pylist():
            key = (str(item["type"]), str(item["source"]))
            self.counts[key] = self.counts.get(key, 0) + int(item["count_all"])
        truth = pa.table({"event_id": table["event_id"], "person_id": person_ids(table["_person"])})
        if self._truth is None:
            self._truth = pq.ParquetWriter(self.records_path, truth.schema)
        self._truth.write_table(truth)
        events = table.select(list(FLAT_COLUMNS))
        path = self.events_dir / f"events-{len(self.paths):05d}.{self.fmt}"
        if self.fmt == "parquet":
            pq.write_table(events, path, compression="zstd")
        elif self.fmt == "csv":
            pacsv.write_csv(events, path)
        else:
            with path.open("wb") as fh:
                for batch in events.to_batches(max_chunksize=65_536):
                    fh.writelines(orjson.dumps(canonical(row)) + b"\n" for row in batch.to_pylist())
        self.paths.append(path)
        self.rows += events.num_rows

    def close(self) -> None:
        self._flush()
        if self._truth is not None:
            self._truth.close()
        elif not self.records_path.exists():
            pq.write_table(
                pa.table(
                    {"event_id": pa.array([], pa.string()), "person_id": pa.array([], pa.string())}
                ),
                self.records_path,
            )
