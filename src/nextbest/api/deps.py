"""Annotated dependency aliases shared by the routes."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine

from nextbest.api.keys_store import ApiKey
from nextbest.api.security import require_scope
from nextbest.config import Settings
from nextbest.ingest.pipeline import Ingestor


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def _ingestor(request: Request) -> Ingestor:
    ingestor: Ingestor = request.app.state.ingestor
    return ingestor


async def _write_lock(request: Request) -> AbstractContextManager[Any]:
    lock: AbstractContextManager[Any] = request.app.state.write_lock
    return lock


async def _raw_body(request: Request) -> bytes:
    # Read on the event loop (cheap IO); parsing happens in the threadpool route.
    return await request.body()


SettingsDep = Annotated[Settings, Depends(_settings)]
EngineDep = Annotated[Engine, Depends(_engine)]
IngestorDep = Annotated[Ingestor, Depends(_ingestor)]
RawBody = Annotated[bytes, Depends(_raw_body)]
WriteLock = Annotated[AbstractContextManager[Any], Depends(_write_lock)]

IngestKey = Annotated[ApiKey | None, Depends(require_scope("ingest"))]
ReadKey = Annotated[ApiKey | None, Depends(require_scope("read"))]
AdminKey = Annotated[ApiKey | None, Depends(require_scope("admin"))]
