"""The Parquet event history that batch analytics read.

Files are written under a temporary name and renamed once complete, so readers never see a
half-written file. File ingestion writes one file per committed chunk. Small batches (HTTP
requests, stream reads) are buffered: written once ``buffer_rows`` events have gathered,
or by the first append after ``max_age`` seconds, and on ``flush`` at shutdown (a file per
request cost more than the request). The database stays the source of truth: a process killed with a
full buffer leaves those events in the database but not yet in the history.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from nextbest.ingest.prepare import PreparedEvent

SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("type", pa.string()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("received_at", pa.timestamp("us", tz="UTC")),
        ("source", pa.string()),
        ("member_id", pa.string()),
        ("order_id", pa.string()),
        ("total", pa.float64()),
        ("payload", pa.string()),
    ]
)


class EventHistory:
    def __init__(self, directory: Path, *, buffer_rows: int = 0, max_age: float = 10.0) -> None:
        self.directory = directory
        self.buffer_rows = buffer_rows
        self.max_age = max_age
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._oldest = 0.0
        self._lock = threading.Lock()

    def append(
        self,
        events: Sequence[PreparedEvent],
        *,
        member_of: Mapping[str, str | None],
        received_at: datetime,
    ) -> Path | None:
        """Write (or buffer) these events; returns the file written, if any."""
        table = self._table(events, member_of=member_of, received_at=received_at)
        if len(events) >= self.buffer_rows:
            return self._write(table)
        with self._lock:
            if not self._buffer:
                self._oldest = time.monotonic()
            self._buffer.append(table)
            self._buffered += len(events)
            due = (
                self._buffered >= self.buffer_rows
                or time.monotonic() - self._oldest >= self.max_age
            )
        return self.flush() if due else None

    def flush(self) -> Path | None:
        with self._lock:
            tables, self._buffer, self._buffered = self._buffer, [], 0
        return self._write(pa.concat_tables(tables)) if tables else None

    @staticmethod
    def _table(
        events: Sequence[PreparedEvent],
        *,
        member_of: Mapping[str, str | None],
        received_at: datetime,
    ) -> pa.Table:
        return pa.table(
            {
                "event_id": [e.event_id for e in events],
                "type": [e.type for e in events],
                "occurred_at": pa.array(
                    [round(e.at * 1_000_000) for e in events], type=pa.int64()
                ).cast(pa.timestamp("us", tz="UTC")),
                "received_at": [received_at] * len(events),
                "source": [e.source for e in events],
                "member_id": [member_of.get(e.event_id) for e in events],
                "order_id": [e.order_id for e in events],
                "total": [e.total for e in events],
                "payload": [e.payload for e in events],
            },
            schema=SCHEMA,
        )

    def _write(self, table: pa.Table) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        final = self.directory / f"events-{stamp}-{uuid.uuid4().hex[:8]}.parquet"
        partial = final.with_suffix(".parquet.tmp")
        pq.write_table(table, partial, compression="zstd")
        os.replace(partial, final)
        return final

    def files(self) -> list[Path]:
        return sorted(self.directory.glob("events-*.parquet"))

    def compact(self, *, small_rows: int = 100_000) -> tuple[int, int]:
        """Merge files under ``small_rows`` rows (HTTP and stream batches) into one.

        The merged file is complete before the small ones go, so a reader in between may
        see an event twice, never miss one; readers dedupe on ``event_id``. Returns
        (files merged, rows).
        """
        small = [f for f in self.files() if pq.ParquetFile(f).metadata.num_rows < small_rows]
        if len(small) < 2:
            return 0, 0
        table = pa.concat_tables(pq.read_table(f, schema=SCHEMA) for f in small)
        final = self.directory / f"{small[0].stem}-compacted-{uuid.uuid4().hex[:8]}.parquet"
        partial = final.with_suffix(".parquet.tmp")
        pq.write_table(table, partial, compression="zstd")
        os.replace(partial, final)
        for f in small:
            f.unlink()
        return len(small), table.num_rows
