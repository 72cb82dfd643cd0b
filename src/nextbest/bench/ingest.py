"""`nextbest bench ingest`: batch ingestion of simulated events into profiles.

Ours: the full pipeline (validate, dedupe, resolve identity, update profiles, write events
and the Parquet history) on a fresh database. Peers, in the same run and on the same rows:
a bare SQLite ``executemany`` of the flat rows in one transaction, and DuckDB creating a
table from the Arrow data. Ratios hold on a noisy machine where absolute times do not.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from nextbest.bench.scratch import scratch_schema
from nextbest.config import Settings
from nextbest.ingest.history import EventHistory
from nextbest.ingest.pipeline import Ingestor
from nextbest.ingest.readers import chunks_of
from nextbest.ledger.program import parse_program
from nextbest.ledger.repository import save_program
from nextbest.sim import SimConfig, simulate_to_dir
from nextbest.store.engine import make_engine, upgrade, write_transaction


@dataclass(frozen=True, slots=True)
class BenchInput:
    path: Path
    rows: int
    members: int


def bench_input(cache: Path, *, events: int, members: int, seed: int) -> BenchInput:
    """The first ``events`` simulated events as one Parquet file (simulated once, cached)."""
    sim_dir = cache / f"sim-{members}-{seed}"
    if not (sim_dir / "truth" / "persons.parquet").exists():
        simulate_to_dir(SimConfig(members=members, months=12, seed=seed), sim_dir, "parquet")
    target = cache / f"events-{members}-{seed}-{events}.parquet"
    if not target.exists():
        tables, have = [], 0
        for part in sorted((sim_dir / "events").glob("events-*.parquet")):
            table = pq.read_table(part)
            tables.append(table.slice(0, events - have))
            have += tables[-1].num_rows
            if have >= events:
                break
        pq.write_table(pa.concat_tables(tables), target)
    rows = pq.ParquetFile(target).metadata.num_rows
    if rows < events:
        raise ValueError(f"simulation gave {rows:,} events, fewer than {events:,}; add members")
    return BenchInput(target, rows, members)


def run_ours(
    source: BenchInput,
    work: Path,
    *,
    url: str | None,
    workers: int,
    program: Path | None = None,
) -> dict[str, Any]:
    """Ingest the file; with a ``program``, purchases also earn points as they arrive."""
    settings = Settings(data_dir=work, database_url=url, ingest_workers=workers)
    engine = make_engine(settings)
    upgrade(engine)
    if program is not None:
        source_text = program.read_text(encoding="utf-8")
        with write_transaction(engine) as conn:
            save_program(
                conn,
                parse_program(source_text, source=str(program)),
                source=source_text,
                actor="bench",
                now=datetime.now(UTC),
            )
    ingestor = Ingestor(engine, settings, history=EventHistory(settings.event_history_dir))
    started = time.perf_counter()
    report = ingestor.ingest_chunks(
        chunks_of(source.path, "parquet", size=settings.ingest_chunk_size), origin="bench"
    )
    seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "seconds": seconds,
        "events_per_s": report.accepted / seconds,
        "accepted": report.accepted,
        "rejected": report.rejected,
        "members_created": report.members_created,
        "merges": report.merges,
        "points_earned": report.points.earned,
        "prepare_s": ingestor.timings.prepare,
        "store_s": ingestor.timings.store,
    }


def run_sqlite_peer(source: BenchInput, work: Path) -> dict[str, Any]:
    """Read the same file and insert its rows as they are: no validation, no identity."""
    db = work / "peer.sqlite"
    started = time.perf_counter()
    table = pq.read_table(source.path)
    columns = table.column_names
    rows = list(zip(*(table.column(c).to_pylist() for c in columns), strict=True))
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    quoted = ", ".join(f'"{c}"' for c in columns)
    conn.execute(f'CREATE TABLE events ({quoted}, PRIMARY KEY ("event_id"))')
    with conn:
        conn.executemany(f"INSERT INTO events VALUES ({', '.join('?' for _ in columns)})", rows)
    conn.close()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "events_per_s": len(rows) / seconds}


def run_duckdb_peer(source: BenchInput, work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    conn = duckdb.connect(str(work / "peer.duckdb"))
    conn.execute(f"CREATE TABLE events AS SELECT * FROM read_parquet('{source.path}')")
    count = conn.execute("SELECT count(*) FROM events").fetchone()
    conn.close()
    seconds = time.perf_counter() - started
    rows = int(count[0]) if count else 0
    return {"seconds": seconds, "events_per_s": rows / seconds}


def run_ingest_bench(
    *,
    events: int = 1_000_000,
    members: int = 14_000,
    seed: int = 7,
    cache: Path = Path(".nextbest/bench"),
    postgres_url: str | None = None,
    workers: int = 1,
    program: Path | None = None,
) -> dict[str, Any]:
    """Every figure of the benchmark, with units in the key names.

    With ``program``, ours also runs on SQLite with that loyalty program active: the ratio
    of the two runs is what the ledger costs ingestion.
    """
    cache.mkdir(parents=True, exist_ok=True)
    source = bench_input(cache, events=events, members=members, seed=seed)
    result: dict[str, Any] = {
        "events": source.rows,
        "simulated_members": members,
        "workers": workers,
    }
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        work = Path(tmp)
        ours = run_ours(source, work / "ours", url=None, workers=workers)
        sqlite_peer = run_sqlite_peer(source, work)
        duck_peer = run_duckdb_peer(source, work)
        result["ours_sqlite"] = ours
        result["peer_sqlite_bulk_insert"] = sqlite_peer
        result["peer_duckdb_bulk_insert"] = duck_peer
        result["ratio_ours_to_sqlite_peer"] = ours["events_per_s"] / sqlite_peer["events_per_s"]
        result["ratio_ours_to_duckdb_peer"] = ours["events_per_s"] / duck_peer["events_per_s"]
        if program is not None:
            with_points = run_ours(
                source, work / "ours-points", url=None, workers=workers, program=program
            )
            result["ours_sqlite_with_program"] = with_points
            result["ratio_with_program_to_without"] = (
                with_points["events_per_s"] / ours["events_per_s"]
            )
        if postgres_url:
            result["ours_postgres"] = _run_postgres(source, work, postgres_url, workers)
    return result


def _run_postgres(source: BenchInput, work: Path, url: str, workers: int) -> dict[str, Any]:
    with scratch_schema(url) as scoped:
        return run_ours(source, work / "pg", url=scoped, workers=workers)
