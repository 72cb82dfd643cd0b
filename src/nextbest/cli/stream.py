"""`nextbest ingest stream` (wired in ``cli/__init__``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
from types import FrameType

import typer
from rich.console import Console

from nextbest.config import Settings
from nextbest.store.engine import make_engine


def ingest_stream(
    consumer: str = typer.Option(
        f"{socket.gethostname()}-{os.getpid()}",
        "--consumer",
        help="Consumer name in the group; reuse it after a restart to resume its entries.",
    ),
    idle_exit: float | None = typer.Option(
        None, "--idle-exit", min=0.0, help="Exit after SECONDS without new entries."
    ),
    batch_size: int = typer.Option(1000, "--batch-size", min=1, max=10_000),
    reclaim_idle: float = typer.Option(
        60.0, "--reclaim-idle", min=0.0, help="Claim others' pending entries idle this long."
    ),
) -> None:
    """Consume the Redis Stream (NEXTBEST_REDIS_URL, NEXTBEST_STREAM_NAME) until stopped."""
    from nextbest.ingest.stream import run_consumer

    settings = Settings()
    engine = make_engine(settings)
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()  # finish the current batch, acknowledge it, then exit

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    err = Console(stderr=True)
    err.print(
        f"consuming [bold]{settings.stream_name}[/] as {consumer} in group {settings.stream_group}"
    )
    try:
        stats = run_consumer(
            settings,
            engine,
            consumer=consumer,
            stop_after_idle=idle_exit,
            batch_size=batch_size,
            reclaim_idle_ms=int(reclaim_idle * 1000),
            stop=stop,
        )
    finally:
        engine.dispose()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    Console().print_json(json.dumps(stats.to_dict()))
