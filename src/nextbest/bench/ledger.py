"""``nextbest bench ledger``: postings per second on SQLite and PostgreSQL, beside a peer.

Two workloads, both through the real ledger code:

- *requests*: concurrent clients, one use case per transaction (a manual credit, then a
  redemption), each with its idempotency check, account lock, FIFO draw, balance
  projection and outbox message, committed durably before the next request;
- *ingest*: purchases posted in chunks the way ingestion does (earn rules, lots for both
  currencies, tier evaluation), one transaction per chunk.

The peer writes the same posting rows with bare INSERTs in the same shape (one transaction
per request with the same clients; one per chunk), so the ratio is the cost of the ledger's
logic over the database's own floor for that write pattern.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from nextbest.bench.scratch import scratch_schema
from nextbest.config import Settings
from nextbest.ledger import repository as repo
from nextbest.ledger.check import check_ledger
from nextbest.ledger.from_events import post_events
from nextbest.ledger.program import parse_program
from nextbest.ledger.service import Ledger
from nextbest.store import tables as t
from nextbest.store.bulk import insert_rows
from nextbest.store.engine import make_engine, upgrade, write_transaction

PROGRAM = """
name: Bench program
points: {spendable: points, qualifying: tier_points, cost_per_point: 0.01}
earn:
  base_per_unit: 1
  multipliers: [{category: beans, factor: 2}]
  caps: {per_member_per_day: 5000}
rewards: [{id: coffee, name: Coffee, points: 50}]
tiers:
  levels: [{id: green, threshold: 0}, {id: gold, threshold: 500, earn_multiplier: 1.2}]
expiry: {kind: lot, months: 12}
"""
T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


@contextmanager
def _store(kind: str, postgres_url: str | None) -> Iterator[Engine]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="nextbest-bench-ledger-") as tmp:
            engine = make_engine(Settings(data_dir=Path(tmp), database_url=None))
            upgrade(engine)
            try:
                yield engine
            finally:
                engine.dispose()
        return
    assert postgres_url is not None
    with scratch_schema(postgres_url) as url:
        engine = make_engine(Settings(), url=url, pool_size=16, max_overflow=16)
        upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()


def _postings(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(t.ledger_postings)).scalar_one()
        )


def _requests(engine: Engine, *, members: int, requests: int, clients: int) -> dict[str, Any]:
    """Concurrent credit + redemption requests, one transaction each."""
    ledger = Ledger(engine, clock=lambda: T0)
    per_client = requests // clients
    start = threading.Barrier(clients)

    def client(c: int) -> int:
        start.wait()
        done = 0
        for i in range(per_client // 2):
            member = f"m{(c * 7919 + i) % members:06d}"
            ledger.adjust(
                member_id=member,
                points=100,
                reason="bench credit",
                idempotency_key=f"credit-{c}-{i}",
                actor="bench",
            )
            ledger.redeem(member_id=member, reward_id="coffee", idempotency_key=f"burn-{c}-{i}")
            done += 2
        return done

    before = _postings(engine)
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        done = sum(pool.map(client, range(clients)))
    seconds = time.perf_counter() - started
    postings = _postings(engine) - before
    return {
        "requests": done,
        "postings": postings,
        "seconds": round(seconds, 3),
        "requests_per_s": round(done / seconds, 1),
        "postings_per_s": round(postings / seconds, 1),
    }


def _ingest(engine: Engine, *, members: int, purchases: int, chunk: int) -> dict[str, Any]:
    """Purchases posted chunk by chunk, as the ingestion pipeline posts them."""
    with engine.connect() as conn:
        program = repo.active_program(conn)
    assert program is not None
    before = _postings(engine)
    started = time.perf_counter()
    for first in range(0, purchases, chunk):
        facts = []
        for n in range(first, min(purchases, first + chunk)):
            at = T0 + timedelta(minutes=n)
            lines = (("sku", "beans" if n % 5 == 0 else "coffee", 1, 4.5 + n % 7),)
            total = lines[0][3]
            facts.append(
                (
                    ("purchase", f"e{n}", at.timestamp(), (f"o{n}", total, "store", lines)),
                    f"p{n % members:06d}",
                )
            )
        with write_transaction(engine) as conn:
            post_events(conn, program=program, facts=facts, now=T0)
    seconds = time.perf_counter() - started
    postings = _postings(engine) - before
    return {
        "purchases": purchases,
        "postings": postings,
        "seconds": round(seconds, 3),
        "purchases_per_s": round(purchases / seconds, 1),
        "postings_per_s": round(postings / seconds, 1),
    }


def _peer_requests(engine: Engine, *, postings: int, requests: int, clients: int) -> dict[str, Any]:
    """Bare INSERTs of the same posting rows, one durable transaction per request."""
    per_request = max(1, round(postings / max(1, requests)))
    per_client = requests // clients
    start = threading.Barrier(clients)

    def client(c: int) -> int:
        start.wait()
        for i in range(per_client):
            rows = [
                (f"peer-{c}-{i}", f"member:m{i}:points", f"m{i}", "points", -1 if k else 1, None)
                for k in range(per_request)
            ]
            with write_transaction(engine) as conn:
                insert_rows(conn, t.ledger_postings, repo.POSTING_COLUMNS, rows)
        return per_client * per_request

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        written = sum(pool.map(client, range(clients)))
    seconds = time.perf_counter() - started
    return {
        "postings": written,
        "seconds": round(seconds, 3),
        "postings_per_s": round(written / seconds, 1),
    }


def _peer_ingest(engine: Engine, *, postings: int, chunk_postings: int) -> dict[str, Any]:
    started = time.perf_counter()
    for first in range(0, postings, chunk_postings):
        rows = [
            (f"bulk-{n // 4}", f"member:p{n}:points", f"p{n}", "points", 1, f"lot-{n}")
            for n in range(first, min(postings, first + chunk_postings))
        ]
        with write_transaction(engine) as conn:
            insert_rows(conn, t.ledger_postings, repo.POSTING_COLUMNS, rows)
    seconds = time.perf_counter() - started
    return {
        "postings": postings,
        "seconds": round(seconds, 3),
        "postings_per_s": round(postings / seconds, 1),
    }


def _one_store(
    kind: str,
    postgres_url: str | None,
    *,
    members: int,
    requests: int,
    purchases: int,
    clients: int,
    chunk: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with _store(kind, postgres_url) as engine:
        program = parse_program(PROGRAM)
        with write_transaction(engine) as conn:
            repo.save_program(conn, program, source=PROGRAM, actor="bench", now=T0)
        progress(f"{kind}: {requests:,} requests from {clients} clients")
        out["requests"] = _requests(engine, members=members, requests=requests, clients=clients)
        progress(f"{kind}: {purchases:,} purchases in chunks of {chunk:,}")
        out["ingest"] = _ingest(engine, members=members, purchases=purchases, chunk=chunk)
        # Checked before the peers write their (unbalanced) rows into the same table.
        with engine.connect() as conn:
            problems = check_ledger(conn)
        out["ledger_balances"] = not problems
        progress(f"{kind}: peers")
        out["peer_requests"] = _peer_requests(
            engine,
            postings=out["requests"]["postings"],
            requests=out["requests"]["requests"],
            clients=clients,
        )
        per_chunk = round(out["ingest"]["postings"] / max(1, -(-purchases // chunk)))
        out["peer_ingest"] = _peer_ingest(
            engine, postings=out["ingest"]["postings"], chunk_postings=max(1, per_chunk)
        )
        for name in ("requests", "ingest"):
            out[f"ratio_{name}_to_peer"] = round(
                out[name]["postings_per_s"] / out[f"peer_{name}"]["postings_per_s"], 3
            )
    return out


def run_ledger_bench(
    *,
    postgres_url: str | None,
    members: int = 2_000,
    requests: int = 4_000,
    purchases: int = 50_000,
    clients: int = 4,
    chunk: int = 5_000,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "units": {
            "postings_per_s": "postings/s",
            "requests_per_s": "requests/s",
            "purchases_per_s": "purchases/s",
            "seconds": "s",
        },
        "clients": clients,
        "members": members,
        "chunk": chunk,
    }
    kinds = ["sqlite"] + (["postgres"] if postgres_url else [])
    for kind in kinds:
        result[kind] = _one_store(
            kind,
            postgres_url,
            members=members,
            requests=requests,
            purchases=purchases,
            clients=clients,
            chunk=chunk,
            progress=progress,
        )
    return result
