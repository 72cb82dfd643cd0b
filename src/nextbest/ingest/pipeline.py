"""The ingestion pipeline: validate → dedupe → resolve identity → update profiles → store.

Validation (``prepare``) needs no database, so for files it runs in worker processes while
this process writes. Writing is one transaction per chunk holding the events, identity
changes, profile updates and dead letters: a crash leaves all of a chunk or none of it.
Writers are serialised (SQLite's write lock, a PostgreSQL advisory lock) because identity
resolution reads the graph it is about to change.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Engine

from nextbest.config import Settings
from nextbest.events import Rejection
from nextbest.identity.graph import Merge, resolve
from nextbest.identity.hashing import key_hasher
from nextbest.identity.repository import apply_resolution, first_seen, known_keys
from nextbest.ingest.hashed import Contacts, hash_batch, keep_contacts
from nextbest.ingest.history import EventHistory
from nextbest.ingest.prepare import PreparedBatch, PreparedEvent, prepare
from nextbest.ingest.readers import RawChunk, decode
from nextbest.ingest.records import MAX_REPORTED, IngestReport, RawRecord
from nextbest.ledger.from_events import post_events
from nextbest.ledger.repository import active_program
from nextbest.profiles.repository import ProfileCache, delete_states, save_states
from nextbest.profiles.state import ProfileState
from nextbest.store import tables as t
from nextbest.store.bulk import insert_rows, select_in, utc_text
from nextbest.store.engine import graph_transaction

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


@dataclass(slots=True)
class Timings:
    """Seconds spent per stage, for benchmarks (``prepare`` sums the workers' time)."""

    prepare: float = 0.0
    store: float = 0.0


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Ingestion allocates millions of short-lived, acyclic objects: collect less often.

    With CPython's default thresholds the cyclic collector ran every 700 allocations and
    cost a fifth of the time; reference counting still frees everything at once.
    """
    before = gc.get_threshold()
    gc.set_threshold(100_000, 50, 50)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _worker_init() -> None:
    gc.set_threshold(100_000, 50, 50)


def _prepare_chunk(
    chunk: RawChunk, now: datetime, tolerance: timedelta, region: str
) -> PreparedBatch:
    """Worker entry point: decode and validate one file chunk."""
    started = time.perf_counter()
    batch = prepare(decode(chunk), now=now, tolerance=tolerance, region=region, units=chunk.units)
    batch.seconds = time.perf_counter() - started
    return batch


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
        self.region = settings.default_region
        self.timings = Timings()
        self.profiles = ProfileCache()
        self.hasher = key_hasher(settings.identity_hash_key)

    # -- entry points -------------------------------------------------------------------
    def ingest_records(self, records: Iterable[RawRecord], *, origin: str) -> IngestReport:
        """Records already decoded (HTTP, stream): validated inline, chunk by chunk."""
        report = IngestReport()
        it = iter(records)
        while batch := list(islice(it, self.settings.ingest_chunk_size)):
            report.add(self.store_prepared(self.prepare_records(batch), origin=origin))
        return report

    def prepare_records(self, records: list[RawRecord]) -> PreparedBatch:
        """The half that needs no database (and no write lock): validate and reduce."""
        started = time.perf_counter()
        prepared = prepare(records, now=self.clock(), tolerance=self.tolerance, region=self.region)
        self.timings.prepare += time.perf_counter() - started
        return prepared

    def store_prepared(self, prepared: PreparedBatch, *, origin: str) -> IngestReport:
        """The writing half: one transaction for the batch."""
        return self._store(prepared, origin=origin)

    def submit_one(
        self,
        event: dict[str, Any],
        *,
        origin: str,
        location: str,
        lock: AbstractContextManager[Any] | None = None,
    ) -> list[str]:
        """Ingest one event made by nextbest itself (a consent change from the API or the
        console): validation outside ``lock``, the write inside it. Answers the refusal
        reasons, ``field: reason``; empty when stored (or already there)."""
        prepared = self.prepare_records([RawRecord(location=location, data=event, raw="")])
        with lock if lock is not None else nullcontext():
            report = self.store_prepared(prepared, origin=origin)
        return [f"{r.field}: {r.reason}" for r in report.rejections]

    def ingest_chunks(
        self,
        raw_chunks: Iterable[RawChunk],
        *,
        origin: str,
        progress: Callable[[int], None] | None = None,
    ) -> IngestReport:
        """File chunks: decoded and validated in worker processes, written here in order."""
        report = IngestReport()
        with _fewer_collections():
            for prepared in self._prepared(raw_chunks):
                report.add(self._store(prepared, origin=origin))
                if progress is not None:
                    progress(prepared.units)
        return report

    def _prepared(self, raw_chunks: Iterable[RawChunk]) -> Iterator[PreparedBatch]:
        workers = self.settings.ingest_workers
        now = self.clock()
        if workers <= 0:
            for chunk in raw_chunks:
                prepared = _prepare_chunk(chunk, now, self.tolerance, self.region)
                self.timings.prepare += prepared.seconds
                yield prepared
            return
        # Spawned workers hold no copy of this process's database connections.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_worker_init
        ) as pool:
            pending: deque[Future[PreparedBatch]] = deque()
            for chunk in raw_chunks:
                pending.append(pool.submit(_prepare_chunk, chunk, now, self.tolerance, self.region))
                if len(pending) > 2 * workers:  # bounded read-ahead keeps memory flat
                    yield self._collect(pending.popleft())
            while pending:
                yield self._collect(pending.popleft())

    def _collect(self, future: Future[PreparedBatch]) -> PreparedBatch:
        prepared = future.result()
        self.timings.prepare += prepared.seconds
        return prepared

    # -- one chunk, one transaction -----------------------------------------------------
    def _store(self, prepared: PreparedBatch, *, origin: str) -> IngestReport:
        started = time.perf_counter()
        now = self.clock()
        report = IngestReport(duplicates=prepared.duplicates)
        contacts: Contacts = {}
        if self.hasher is not None:  # from here on no raw identifier is stored
            prepared, contacts = hash_batch(prepared, self.hasher)
        try:
            members, fresh = self._transaction(
                prepared, now=now, report=report, origin=origin, contacts=contacts
            )
        except BaseException:
            self.profiles.clear()  # cached states may hold this chunk's uncommitted changes
            raise
        report.accepted = len(fresh)
        report.rejected = len(prepared.rejections)
        report.rejections = prepared.rejections[:MAX_REPORTED]
        if self.history is not None and fresh:
            self.history.append(fresh, member_of=members, received_at=now)
        self.timings.store += time.perf_counter() - started
        return report

    def _transaction(
        self,
        prepared: PreparedBatch,
        *,
        now: datetime,
        report: IngestReport,
        origin: str,
        contacts: Contacts,
    ) -> tuple[dict[str, str | None], list[PreparedEvent]]:
        events = {e.event_id: e for e in prepared.events}
        members: dict[str, str | None] = {}
        with graph_transaction(self.engine) as conn:
            seen = select_in(conn, "SELECT event_id FROM events WHERE event_id IN {in}", events)
            for (event_id,) in seen:
                del events[event_id]
                report.duplicates += 1
            fresh = list(events.values())
            if fresh:
                members = self._write(conn, fresh, now=now, report=report, contacts=contacts)
            self._dead_letter(conn, prepared.rejections, origin=origin, now=now)
        return members, fresh

    def _write(
        self,
        conn: Connection,
        fresh: list[PreparedEvent],
        *,
        now: datetime,
        report: IngestReport,
        contacts: Contacts,
    ) -> dict[str, str | None]:
        """Write new events and everything they change; returns event -> member."""
        keys = {key for e in fresh for key in e.keys}
        known = known_keys(conn, keys)
        res = resolve(
            fresh,
            known=known.members,
            first_seen=first_seen(conn, set(known.members.values())),
            policy=self.settings.shared_policy,
            anchors=known.anchors,
            shared=known.shared,
        )
        apply_resolution(conn, res, now=now)
        report.members_created += len(res.new_members)
        report.merges += len(res.merges)

        now_text = utc_text(now)
        # Profiles: fold merged members into survivors, then this chunk's events, in place.
        merged_away = {m.merged_id: m.survivor_id for m in res.merges}
        touched = {m for m in res.event_member.values() if m is not None}
        current = self.profiles.load(conn, touched | set(merged_away))
        out: dict[str, tuple[int, ProfileState]] = {}

        def state_of(member: str) -> ProfileState:
            if member not in out:
                version, state = current.get(member) or (0, ProfileState())
                out[member] = (version + 1, state)
            return out[member][1]

        for merged, survivor in merged_away.items():
            if merged in current:
                state_of(survivor).merge(current[merged][1])
        for event in fresh:
            member = res.event_member[event.event_id]
            if member is None:
                report.anonymous += 1
            else:
                state = state_of(member)
                state.apply(event.facts)
                if event.event_id in contacts:  # hashed mode: the profile keeps them
                    found = contacts[event.event_id]
                    keep_contacts(state.attributes, found, at=event.at, event_id=event.event_id)
        delete_states(conn, set(merged_away) & set(current))
        save_states(conn, out, now=now)
        self.profiles.forget(merged_away)
        self.profiles.remember(out)

        insert_rows(
            conn,
            t.events,
            EVENT_COLUMNS,
            [
                (
                    e.event_id,
                    e.type,
                    e.schema_version,
                    e.occurred_text,
                    now_text,
                    e.source,
                    res.event_member[e.event_id],
                    e.payload,
                )
                for e in fresh
            ],
        )
        self._post_points(conn, fresh, res.event_member, res.merges, now=now, report=report)
        return res.event_member

    @staticmethod
    def _post_points(
        conn: Connection,
        fresh: list[PreparedEvent],
        member_of: dict[str, str | None],
        merges: list[Merge],
        *,
        now: datetime,
        report: IngestReport,
    ) -> None:
        """Purchases earn, returns claw back, redemptions burn, merged points follow the member.

        In the chunk's transaction: the events and the points they move commit together.
        """
        program = active_program(conn)
        if program is None:
            return
        facts = []
        for e in fresh:
            member = member_of[e.event_id]
            if e.ledger is not None and member is not None:
                facts.append((e.ledger, member))
        report.points = post_events(
            conn,
            program=program,
            facts=facts,
            merges=[(m.merged_id, m.survivor_id, m.occurred_at) for m in merges],
            now=now,
        )

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
