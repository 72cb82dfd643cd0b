"""Redis Stream ingestion: a consumer group, at-least-once, idempotent by ``event_id``.

Each stream entry carries one event as JSON in its ``event`` field. A consumer reads a
batch with XREADGROUP, hands it to the :class:`~nextbest.ingest.pipeline.Ingestor` (one
transaction) and XACKs the batch only once that has committed. Entries a crashed consumer
read but never acknowledged are taken over with XAUTOCLAIM when a consumer starts;
re-ingesting them is harmless because the pipeline dedupes by ``event_id``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
import redis
from sqlalchemy import Engine

from nextbest.config import Settings
from nextbest.errors import NextbestError
from nextbest.ingest.history import EventHistory
from nextbest.ingest.pipeline import Ingestor
from nextbest.ingest.records import RawRecord

log = logging.getLogger(__name__)

EVENT_FIELD = b"event"
Entry = tuple[bytes, Mapping[bytes, bytes] | None]


@dataclass(slots=True)
class StreamStats:
    """What one consumer run did."""

    consumer: str
    batches: int = 0
    entries: int = 0
    reclaimed: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    members_created: int = 0
    merges: int = 0
    seconds: float = 0.0
    rejections: list[dict[str, Any]] = field(default_factory=list)

    @property
    def entries_per_second(self) -> float:
        return self.entries / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["entries_per_second"] = round(self.entries_per_second, 1)
        return out


def record_from_entry(entry_id: bytes, fields: Mapping[bytes, bytes] | None) -> RawRecord:
    """One stream entry as a pipeline record located ``stream <entry-id>``.

    >>> record_from_entry(b"1-0", {b"event": b'{"a": 1}'}).data
    {'a': 1}
    >>> record_from_entry(b"1-1", {b"event": b"oops"}).error[0]
    'event'
    >>> record_from_entry(b"1-2", {b"other": b"x"}).error
    ('event', "missing field 'event' (fields: other)")
    """
    location = f"stream {entry_id.decode()}"
    fields = fields or {}
    payload = fields.get(EVENT_FIELD)
    if payload is None:
        names = ", ".join(sorted(k.decode(errors="replace") for k in fields)) or "none"
        raw = orjson.dumps(
            {k.decode(errors="replace"): v.decode(errors="replace") for k, v in fields.items()}
        ).decode()
        return RawRecord(location, None, raw, ("event", f"missing field 'event' (fields: {names})"))
    text = payload.decode(errors="replace")
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return RawRecord(location, None, text, ("event", f"not JSON: {exc}"))
    if not isinstance(data, dict):
        reason = f"expected a JSON object, got {type(data).__name__}"
        return RawRecord(location, None, text, ("event", reason))
    return RawRecord(location, data, text)


class StreamConsumer:
    """One named consumer in the group; :meth:`run` until idle, a batch limit or ``stop``."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        consumer: str,
        client: redis.Redis | None = None,
        ingestor: Ingestor | None = None,
        batch_size: int = 1000,
        block_ms: int = 1000,
        reclaim_idle_ms: int = 60_000,
    ) -> None:
        if client is None:
            if not settings.redis_url:
                raise NextbestError("no Redis configured: set NEXTBEST_REDIS_URL")
            client = redis.Redis.from_url(settings.redis_url)
        self.client = client
        self.stream = settings.stream_name
        self.group = settings.stream_group
        self.consumer = consumer
        self.ingestor = ingestor or Ingestor(
            engine, settings, history=EventHistory(settings.event_history_dir, buffer_rows=10_000)
        )
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.reclaim_idle_ms = reclaim_idle_ms
        self.origin = f"stream:{self.stream}"
        self.stats = StreamStats(consumer=consumer)

    def ensure_group(self) -> None:
        """Create the group (and the stream) if missing; new groups start at the beginning."""
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def process(self, entries: Sequence[Entry]) -> None:
        """Ingest a batch, then acknowledge it (never before the ingest has committed)."""
        if not entries:
            return
        ids = [entry_id for entry_id, _ in entries]
        records = [record_from_entry(i, f) for i, f in entries if f is not None]
        if records:
            report = self.ingestor.ingest_records(records, origin=self.origin)
            self.stats.accepted += report.accepted
            self.stats.duplicates += report.duplicates
            self.stats.rejected += report.rejected
            self.stats.members_created += report.members_created
            self.stats.merges += report.merges
            room = 100 - len(self.stats.rejections)
            self.stats.rejections.extend(
                {
                    "location": r.location,
                    "field": r.field,
                    "reason": r.reason,
                    "event_id": r.event_id,
                }
                for r in report.rejections[: max(room, 0)]
            )
        self.client.xack(self.stream, self.group, *ids)
        self.stats.batches += 1
        self.stats.entries += len(ids)

    def recover(self) -> None:
        """Finish this consumer's own unacknowledged entries, then claim stale ones of others."""
        while True:  # our own pending list (a restart under the same name)
            reply = self.client.xreadgroup(
                self.group, self.consumer, {self.stream: "0"}, count=self.batch_size
            )
            entries = _entries(reply)
            if not entries:
                break
            self.stats.reclaimed += len(entries)
            self.process(entries)
        start: Any = "0-0"
        while True:
            claim: Any = self.client.xautoclaim(
                self.stream,
                self.group,
                self.consumer,
                min_idle_time=self.reclaim_idle_ms,
                start_id=start,
                count=self.batch_size,
            )
            start, claimed = claim[0], list(claim[1])
            deleted = list(claim[2]) if len(claim) > 2 else []
            if deleted:  # trimmed away before anyone processed them: nothing left to ingest
                self.client.xack(self.stream, self.group, *deleted)
            if claimed:
                self.stats.reclaimed += len(claimed)
                self.process(claimed)
            if start in (b"0-0", "0-0"):
                break

    def run(
        self,
        *,
        stop_after_idle: float | None = None,
        max_batches: int | None = None,
        stop: threading.Event | None = None,
    ) -> StreamStats:
        started = time.perf_counter()
        self.ensure_group()
        self.recover()
        idle_since = time.monotonic()
        while not (stop is not None and stop.is_set()):
            if max_batches is not None and self.stats.batches >= max_batches:
                break
            block = self.block_ms
            if stop_after_idle is not None:
                block = max(1, min(block, int(stop_after_idle * 1000)))
            reply = self.client.xreadgroup(
                self.group, self.consumer, {self.stream: ">"}, count=self.batch_size, block=block
            )
            entries = _entries(reply)
            if entries:
                self.process(entries)
                idle_since = time.monotonic()
            elif stop_after_idle is not None and time.monotonic() - idle_since >= stop_after_idle:
                break
        if self.ingestor.history is not None:
            self.ingestor.history.flush()
        self.stats.seconds = time.perf_counter() - started
        log.info("stream consumer %s: %s", self.consumer, self.stats.to_dict())
        return self.stats


def _entries(reply: Any) -> list[Entry]:
    """Entries of an XREADGROUP reply (RESP2 list or RESP3 dict), for our one stream."""
    if not reply:
        return []
    streams = reply.values() if isinstance(reply, dict) else [s[1] for s in reply]
    out: list[Entry] = []
    for stream_entries in streams:
        if stream_entries and isinstance(stream_entries[0], list) and len(stream_entries) == 1:
            stream_entries = stream_entries[0]  # RESP3 nests once more
        out.extend((entry_id, fields) for entry_id, fields in stream_entries)
    return out


def run_consumer(
    settings: Settings,
    engine: Engine,
    *,
    consumer: str,
    stop_after_idle: float | None = None,
    max_batches: int | None = None,
    batch_size: int = 1000,
    block_ms: int = 1000,
    reclaim_idle_ms: int = 60_000,
    stop: threading.Event | None = None,
) -> StreamStats:
    """Consume ``settings.stream_name`` as ``consumer`` of ``settings.stream_group``.

    Returns after ``stop_after_idle`` seconds without entries, after ``max_batches``
    batches, or when ``stop`` is set; otherwise runs for ever.
    """
    worker = StreamConsumer(
        settings,
        engine,
        consumer=consumer,
        batch_size=batch_size,
        block_ms=block_ms,
        reclaim_idle_ms=reclaim_idle_ms,
    )
    try:
        return worker.run(stop_after_idle=stop_after_idle, max_batches=max_batches, stop=stop)
    finally:
        worker.client.close()


def publish_events(
    redis_url: str, stream: str, events: Iterable[Mapping[str, Any]], *, chunk: int = 1000
) -> int:
    """XADD each event as JSON in field ``event``, pipelined; returns how many were added."""
    client = redis.Redis.from_url(redis_url)
    count = 0
    try:
        pipe = client.pipeline(transaction=False)
        pending = 0
        for event in events:
            pipe.xadd(stream, {EVENT_FIELD: orjson.dumps(event)})
            pending += 1
            if pending >= chunk:
                pipe.execute()
                count += pending
                pending = 0
        if pending:
            pipe.execute()
            count += pending
    finally:
        client.close()
    return count
