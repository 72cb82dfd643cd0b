"""The HTTP API: ``create_app(settings)`` builds one app with its engine and ingestor.

Serve with ``nextbest serve`` or ``uvicorn --factory nextbest.api.app:from_env``.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext

from anyio import CapacityLimiter
from fastapi import FastAPI
from sqlalchemy import Engine

import nextbest
from nextbest.api import problems
from nextbest.api.keys_store import KeyCache
from nextbest.api.ratelimit import TokenBuckets
from nextbest.api.routes import (
    audit,
    decisions,
    events,
    health,
    identity,
    inbox,
    ledger,
    members,
    privacy,
    tracking,
)
from nextbest.config import Settings
from nextbest.decide.service import DecisionService, budget_for, default_catalogue
from nextbest.ingest.history import EventHistory
from nextbest.ingest.pipeline import Ingestor
from nextbest.ledger.service import Ledger
from nextbest.store.engine import make_engine

KEY_CACHE_TTL_SECONDS = 10.0
HISTORY_BUFFER_ROWS = 5_000


def create_app(settings: Settings, *, engine: Engine | None = None) -> FastAPI:
    """A fresh app. Without ``engine`` it opens the configured database and disposes of it
    at shutdown; a given engine stays the caller's. Migrations are not run here
    (``nextbest db upgrade``)."""
    owned = engine is None
    db = engine if engine is not None else make_engine(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.decisions.close()
        history.flush()
        if owned:
            db.dispose()

    app = FastAPI(
        title="nextbest",
        version=nextbest.__version__,
        summary="Loyalty orchestration: events in, one member per person, decisions out.",
        # The interactive docs pages load scripts from a CDN; the OpenAPI JSON is enough.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = db
    # Built once: caches live here. Requests' events reach the Parquet history in buffered
    # files (`nextbest ingest compact-history` merges small ones).
    history = EventHistory(settings.event_history_dir, buffer_rows=HISTORY_BUFFER_ROWS)
    app.state.ingestor = Ingestor(db, settings, history=history)
    app.state.ledger = Ledger(db)
    # SQLite admits one writer; queueing our own threads on a lock is cheaper than letting
    # them poll SQLite's busy handler, which sleeps in steps of up to 100 ms.
    app.state.write_lock = threading.Lock() if db.dialect.name == "sqlite" else nullcontext()
    app.state.key_cache = KeyCache(db, ttl=KEY_CACHE_TTL_SECONDS)
    # Per key id, in this process only (see api.ratelimit).
    app.state.rate_limiter = TokenBuckets(
        rate=settings.api_rate_per_second, burst=settings.api_rate_burst
    )
    app.state.decisions = DecisionService(
        db,
        default_catalogue(settings.effective_catalogue_path()),
        budget=budget_for(settings, db),
        facts_ttl=settings.decide_facts_ttl,
        region=settings.default_region,
    )
    # Shared by every decision request of this process (see routes.decisions._limiter).
    app.state.decide_limiter = CapacityLimiter(settings.decide_threads)
    problems.install(app)
    app.include_router(health.router)
    app.include_router(events.router)
    app.include_router(members.router)
    app.include_router(identity.router)
    app.include_router(ledger.router)
    app.include_router(decisions.router)
    app.include_router(inbox.router)
    app.include_router(tracking.router)
    app.include_router(privacy.router)
    app.include_router(audit.router)
    return app


def from_env() -> FastAPI:
    """App factory for ``uvicorn --factory``: settings from ``NEXTBEST_*`` variables."""
    return create_app(Settings())
