"""Use cases around the pipeline that commands and the API share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from nextbest.config import Settings
from nextbest.ingest.history import EventHistory
from nextbest.ingest.pipeline import Ingestor
from nextbest.ingest.readers import chunks_of, detect_format
from nextbest.ingest.records import IngestReport


def ingest_file(
    engine: Engine,
    settings: Settings,
    path: Path,
    *,
    fmt: str | None = None,
    progress: Callable[[int], None] | None = None,
    write_history: bool = True,
) -> IngestReport:
    """Ingest one file; every record lands as an event or a dead letter, never silently."""
    history = EventHistory(settings.event_history_dir) if write_history else None
    ingestor = Ingestor(engine, settings, history=history)
    kind = fmt or detect_format(path)
    raw_chunks = chunks_of(path, kind, size=settings.ingest_chunk_size)
    return ingestor.ingest_chunks(raw_chunks, origin=f"file:{path}", progress=progress)
