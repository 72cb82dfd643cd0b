"""The ingestion pipeline: validate → dedupe → resolve identity → update profiles → store.

One transaction per chunk holds the events, identity changes, profile updates and dead
letters, so a crash leaves either all of a chunk or none of it. Writers are serialised
(SQLite's write lock, a PostgreSQL advisory lock) because identity resolution reads the
graph it is about to change.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice

import orjson
from sqlalchemy import Connection, Engine, select, text

from nextbest.config import Settings
from nextbest.events import Event, Rejection, check_event
from nextbest.events.validate import event_id_of
from nextbest.identity.graph import Sighting, all_keys, resolve
from nextbest.identity.repository import apply_resolution, first_seen, known_identifiers
from nextbest.ingest.history import EventHistory
from nextbest.ingest.records import IngestReport, RawRecord
from nextbest.profiles.repository import delete_states, load_states, save_states
from nextbest.profiles.state import ProfileState
from nextbest.store import tables as t
from nextbest.store.bulk import chunks, insert_rows
from nextbest.store.engine import is_postgres, write_transaction

INGEST_LOCK = 0x6E657874  # PostgreSQL advisory lock id held by ingestion writers

EVENT_COLUMNS = (
    "event_id",
    "type",
    "schema_version",
    "occurred_at",
    "received_at",
    "source",
    "member_id",
    "payload",
)
DEAD_LETTER_COLUMNS = (
    "fingerprint",
    "origin",
    "location",
    "event_id",
    "field",
    "reason",
    "raw",
    "created_at",
)


def _batched(records: Iterable[RawRecord], size: int) -> Iterator[list[RawRecord]]:
    it = iter(records)
    while batch := list(islice(it, size)):
        yield batch


@dataclass(slots=True)
class ChunkTimings:
    validate: float = 0.0
    store: float = 0.0


class Ingestor:
    """Ingests raw records into events, identities and profiles. Safe to call repeatedly."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        clock: Callable[[], datetime] | None = None,
        history: EventHistory | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.history = history
        self.tolerance = timedelta(seconds=settings.future_tolerance_seconds)
        self.timings = ChunkTimings()

    # -- public ---------------------------------------------------------------------
    def ingest_records(
        self,
        records: Iterable[RawRecord],
        *,
        origin: str,
        on_chunk: Callable[[int], None] | None = None,
    ) -> IngestReport:
        report = IngestReport()
        for batch in _batched(records, self.settings.ingest_chunk_size):
            report.add(self._ingest_chunk(batch, origin))
            if on_chunk is not None:
                on_chunk(len(batch))
        return report

    # -- one chunk, one transaction ----------------------------------------------------
    def _ingest_chunk(self, batch: list[RawRecord], origin: str) -> IngestReport:
        started = time.perf_counter()
        now = self.clock()
        report = IngestReport()
        events: dict[str, Event] = {}
        rejections: list[Rejection] = []
        for rec in batch:
            if rec.error is not None or rec.data is None:
                field, reason = rec.error or ("(record)", "no data")
                rejections.append(Rejection(rec.location, field, reason, rec.raw, None))
                continue
            result = check_event(rec.data, now=now, future_tolerance=self.tolerance)
            if isinstance(result, tuple):
                raw = rec.raw or orjson.dumps(rec.data, default=str).decode()
                rejections.append(
                    Rejection(rec.location, result[0], result[1], raw, event_id_of(rec.data))
                )
            elif result.event_id in events:
                report.duplicates += 1
            else:
                events[result.event_id] = result
        self.timings.validate += time.perf_counter() - started

        started = time.perf_counter()
        with write_transaction(self.engine) as conn:
            if is_postgres(self.engine):
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": INGEST_LOCK})
            for part in chunks(list(events)):
                seen = conn.execute(
                    select(t.events.c.event_id).where(t.events.c.event_id.in_(part))
                )
                for (event_id,) in seen:
                    del events[event_id]
                    report.duplicates += 1
            fresh = list(events.values())
            members = self._store(conn, fresh, now=now, report=report) if fresh else {}
            self._dead_letter(conn, rejections, origin=origin, now=now)
        self.timings.store += time.perf_counter() - started
        report.accepted += len(fresh)
        report.rejected += len(rejections)
        report.rejections = rejections[:1000]
        if self.history is not None and fresh:
            self.history.append(fresh, member_of=members, received_at=now)
        return report

    def _store(
        self, conn: Connection, fresh: list[Event], *, now: datetime, report: IngestReport
    ) -> dict[str, str | None]:
        """Write the new events and everything they change; returns event -> member."""
        sightings = [
            Sighting(e.event_id, e.occurred_at, tuple(e.identifiers.keys())) for e in fresh
        ]
        known = known_identifiers(conn, all_keys(sightings))
        res = resolve(sightings, known=known, first_seen=first_seen(conn, set(known.values())))
        apply_resolution(conn, res, now=now)
        report.members_created += len(res.new_members)
        report.merges += len(res.merges)

        # Profiles: fold this chunk per member, then merge into stored states.
        deltas: dict[str, ProfileState] = {}
        for event in fresh:
            member = res.event_member[event.event_id]
            if member is None:
                report.anonymous += 1
                continue
            state = deltas.get(member)
            if state is None:
                state = deltas[member] = ProfileState()
            state.apply(event)
        merged_away = {m.merged_id for m in res.merges}
        stored = load_states(conn, set(deltas) | merged_away)
        survivors = {m.merged_id: m.survivor_id for m in res.merges}
        out: dict[str, tuple[int, ProfileState]] = {}
        for member, delta in deltas.items():
            version, state = stored.get(member, (0, ProfileState()))
            state.merge(delta)
            out[member] = (version + 1, state)
        for merged, survivor in survivors.items():
            if merged in stored:
                version, state = out.get(survivor) or stored.get(survivor) or (0, ProfileState())
                state.merge(stored[merged][1])
                out[survivor] = (version + 1, state)
        delete_states(conn, merged_away & set(stored))
        save_states(conn, out, now=now)

        insert_rows(
            conn,
            t.events,
            EVENT_COLUMNS,
            [
                (
                    e.event_id,
                    e.type,
                    e.schema_version,
                    e.occurred_at,
                    now,
                    e.source.value,
                    res.event_member[e.event_id],
                    e.model_dump_json(exclude_none=True),
                )
                for e in fresh
            ],
        )
        return res.event_member

    @staticmethod
    def _dead_letter(
        conn: Connection, rejections: list[Rejection], *, origin: str, now: datetime
    ) -> None:
        rows = []
        for r in rejections:
            digest = hashlib.sha256(f"{origin}\x1f{r.location}\x1f{r.raw}".encode()).hexdigest()
            rows.append(
                (
                    digest,
                    origin[:500],
                    r.location[:100],
                    r.event_id,
                    r.field[:200],
                    r.reason,
                    r.raw,
                    now,
                )
            )
        insert_rows(
            conn, t.dead_letters, DEAD_LETTER_COLUMNS, rows, on_conflict_do_nothing=["fingerprint"]
        )
