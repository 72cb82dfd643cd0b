"""The Parquet event history that batch analytics read (one file per committed chunk).

Files are written under a temporary name and renamed once complete, so readers never see a
half-written file. The database stays the source of truth for idempotency.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
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
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def append(
        self,
        events: Sequence[PreparedEvent],
        *,
        member_of: Mapping[str, str | None],
        received_at: datetime,
    ) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        table = pa.table(
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
        stamp = received_at.strftime("%Y%m%dT%H%M%S")
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
