"""HTTP ingestion benchmark: uvicorn serving the real app, concurrent keep-alive clients.

Every figure is a durable write: the app commits each request before it answers. The
same run measures a *peer*, a bare FastAPI endpoint that parses the same body and inserts
the rows raw into SQLite (no validation, no identity, no profiles), so the ratio shows
what our ingestion costs over the floor of "HTTP + JSON + one SQLite transaction".
"""

from __future__ import annotations

import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
from fastapi import Depends, FastAPI, Request

from nextbest.bench.scratch import scratch_schema
from nextbest.config import Settings
from nextbest.store.engine import make_engine, upgrade

PEER_DB_ENV = "NEXTBEST_BENCH_PEER_DB"
SKUS = [("latte", "coffee", 3.5), ("bagel", "bakery", 2.25), ("beans", "retail", 12.0)]


def sample_events(
    n: int, *, members: int, prefix: str = "b", seed: int = 7, start: datetime | None = None
) -> list[dict[str, Any]]:
    """``n`` valid events (60 % purchases, 40 % app opens) spread over ``members`` people.

    >>> [e["type"] for e in sample_events(3, members=2, seed=1)]
    ['purchase', 'purchase', 'app_open']
    """
    rng = random.Random(seed)
    first = start or datetime.now(UTC).replace(microsecond=0) - timedelta(days=90)
    out: list[dict[str, Any]] = []
    for i in range(n):
        m = rng.randrange(members)
        base: dict[str, Any] = {
            "event_id": f"{prefix}-{i}",
            "occurred_at": (first + timedelta(seconds=i)).isoformat(),
            "identifiers": {"email": f"member{m}@bench.example", "pos_card": f"CARD{m:07d}"},
        }
        if rng.random() < 0.6:
            sku, category, price = SKUS[rng.randrange(len(SKUS))]
            quantity = rng.randint(1, 3)
            out.append(
                base
                | {
                    "type": "purchase",
                    "source": "pos",
                    "order_id": f"{prefix}-o{i}",
                    "lines": [
                        {
                            "sku": sku,
                            "category": category,
                            "quantity": quantity,
                            "unit_price": price,
                        }
                    ],
                    "total": round(quantity * price, 2),
                }
            )
        else:
            out.append(base | {"type": "app_open", "source": "app", "app_version": "5.1"})
    return out


# --- the peer: parse + raw insert, nothing else ------------------------------------------


async def _raw_body(request: Request) -> bytes:
    return await request.body()


def peer_app_from_env() -> FastAPI:
    """The peer app for ``uvicorn --factory``; its SQLite file is ``$NEXTBEST_BENCH_PEER_DB``."""
    path = os.environ[PEER_DB_ENV]
    synchronous = Settings().sqlite_synchronous
    local = threading.local()

    def connection() -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is None:
            # The busy timeout from the first statement on: under load a new thread's
            # connection may wait for another's write (WAL is the file's, set once below).
            conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            conn.execute(f"PRAGMA synchronous={synchronous}")
            local.conn = conn
        return conn

    with sqlite3.connect(path, timeout=30.0) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute(
            "CREATE TABLE IF NOT EXISTS raw_events (event_id TEXT PRIMARY KEY, type TEXT, "
            "occurred_at TEXT, payload TEXT)"
        )
    app = FastAPI(docs_url=None, redoc_url=None)

    @app.post("/v1/events")
    def post(body: Annotated[bytes, Depends(_raw_body)]) -> dict[str, int]:
        decoded = orjson.loads(body)
        items = decoded.get("events", [decoded]) if isinstance(decoded, dict) else decoded
        rows = [
            (e.get("event_id"), e.get("type"), e.get("occurred_at"), orjson.dumps(e).decode())
            for e in items
        ]
        conn = connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT OR IGNORE INTO raw_events VALUES (?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return {"accepted": len(rows)}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


# --- running servers and clients ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _server(factory: str, env: dict[str, str | None]) -> Iterator[str]:
    """Serve ``factory`` in a subprocess; ``env`` overrides the environment (None unsets)."""
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    merged = {**os.environ, **env}
    proc = subprocess.Popen(cmd, env={k: v for k, v in merged.items() if v is not None})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server {factory} exited with {proc.returncode}")
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server {factory} did not answer /health within 30 s")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))
    return sorted_values[index]


def _post_all(
    base: str, bodies: Sequence[bytes], *, clients: int, headers: dict[str, str], per_body: int
) -> dict[str, Any]:
    """POST every body from ``clients`` threads, each on one keep-alive connection."""
    latencies: list[float] = []
    accepted = [0]
    failures: list[str] = []
    lock = threading.Lock()

    def worker(share: Sequence[bytes]) -> None:
        mine: list[float] = []
        ok = 0
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            for body in share:
                t0 = time.perf_counter()
                response = client.post("/v1/events", content=body)
                mine.append(time.perf_counter() - t0)
                if response.status_code != 200:
                    with lock:
                        failures.append(f"{response.status_code}: {response.text[:200]}")
                    continue
                ok += int(response.json()["accepted"])
        with lock:
            latencies.extend(mine)
            accepted[0] += ok

    shares = [bodies[i::clients] for i in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, shares))
    seconds = time.perf_counter() - started
    latencies.sort()
    events = len(bodies) * per_body
    return {
        "events": events,
        "requests": len(bodies),
        "events_per_request": per_body,
        "clients": clients,
        "accepted": accepted[0],
        "failed_requests": len(failures),
        "first_failure": failures[0] if failures else None,
        "seconds": round(seconds, 3),
        "events_per_second": round(events / seconds, 1),
        "requests_per_second": round(len(bodies) / seconds, 1),
        "latency_ms_p50": round(_percentile(latencies, 0.50) * 1000, 2),
        "latency_ms_p95": round(_percentile(latencies, 0.95) * 1000, 2),
        "latency_ms_p99": round(_percentile(latencies, 0.99) * 1000, 2),
    }


def _bodies(events: Sequence[dict[str, Any]], batch: int) -> list[bytes]:
    return [
        orjson.dumps({"events": list(events[i : i + batch])}) for i in range(0, len(events), batch)
    ]


def _measure(
    base: str,
    *,
    batched: Sequence[dict[str, Any]],
    singles: Sequence[dict[str, Any]],
    batch: int,
    clients: int,
    headers: dict[str, str],
    warmup: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    if warmup:  # imports, caches and connection pools settle before the clock starts
        _post_all(base, _bodies(warmup, batch), clients=clients, headers=headers, per_body=batch)
    out = {
        "batch": _post_all(
            base, _bodies(batched, batch), clients=clients, headers=headers, per_body=batch
        )
    }
    if singles:
        bodies = [orjson.dumps(e) for e in singles]
        out["single"] = _post_all(base, bodies, clients=clients, headers=headers, per_body=1)
    return out


def _prepare(settings: Settings, url: str | None) -> dict[str, str]:
    """Migrate the database and mint an ingest key; returns the request headers."""
    from nextbest.api.keys_store import create_key

    engine = make_engine(settings, url=url)
    try:
        upgrade(engine)
        _key, token = create_key(engine, name="http-bench", scopes="ingest")
    finally:
        engine.dispose()
    return {"Authorization": f"Bearer {token}", "content-type": "application/json"}


def run_http_bench(
    *,
    events: int = 50_000,
    batch: int = 100,
    single: int = 2_000,
    clients: int = 4,
    members: int | None = None,
    postgres_url: str | None = None,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Measure durable HTTP ingestion (events/s) for batches and single events, and a peer.

    Returns figures keyed by target (``sqlite``, ``peer_sqlite_raw``, optionally
    ``postgres``) plus ``ratios`` (ours / peer). Units are in the key names.
    """
    population = members or max(1, events // 5)
    batched = sample_events(events, members=population, prefix="b")
    singles = sample_events(single, members=population, prefix="s", seed=11)
    warmup = sample_events(min(events, 5 * batch), members=population, prefix="w", seed=3)
    figures: dict[str, Any] = {
        "config": {
            "events": events,
            "batch": batch,
            "single": single,
            "clients": clients,
            "members": population,
            "server": "uvicorn, 1 worker",
        }
    }
    with tempfile.TemporaryDirectory(prefix="nextbest-bench-", dir=work_dir) as tmp:
        root = Path(tmp)
        settings = Settings(data_dir=root / "data", database_url=None)
        headers = _prepare(settings, None)
        env: dict[str, str | None] = {
            "NEXTBEST_DATA_DIR": str(settings.data_dir),
            "NEXTBEST_DATABASE_URL": None,
            "NEXTBEST_API_REQUIRE_KEYS": "true",
        }
        # Every target gets the same events, batches, clients and warm-up.
        measure = partial(
            _measure, batched=batched, singles=singles, warmup=warmup, batch=batch, clients=clients
        )
        with _server("nextbest.api.app:from_env", env) as base:
            figures["sqlite"] = measure(base, headers=headers)

        peer_env: dict[str, str | None] = {PEER_DB_ENV: str(root / "peer.db")}
        with _server("nextbest.bench.http:peer_app_from_env", peer_env) as base:
            figures["peer_sqlite_raw"] = measure(base, headers={"content-type": "application/json"})

        if postgres_url:
            figures["postgres"] = _bench_postgres(postgres_url, measure)

    ours, peer = figures["sqlite"], figures["peer_sqlite_raw"]
    figures["ratios"] = {
        "batch_ours_over_peer": round(
            ours["batch"]["events_per_second"] / peer["batch"]["events_per_second"], 3
        )
    }
    if single:
        figures["ratios"]["single_ours_over_peer"] = round(
            ours["single"]["events_per_second"] / peer["single"]["events_per_second"], 3
        )
    return figures


def _bench_postgres(url: str, measure: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The same run on PostgreSQL, in a scratch schema dropped afterwards."""
    with scratch_schema(url) as scoped:
        settings = Settings(database_url=scoped)
        headers = _prepare(settings, scoped)
        env: dict[str, str | None] = {
            "NEXTBEST_DATABASE_URL": scoped,
            "NEXTBEST_API_REQUIRE_KEYS": "true",
        }
        with _server("nextbest.api.app:from_env", env) as base:
            return measure(base, headers=headers)
