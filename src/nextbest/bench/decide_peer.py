"""The floor for the decision-API benchmark: a bare FastAPI endpoint, and a way to serve it.

``bare_app`` answers ``POST /v1/decisions`` with a fixed "do nothing" after parsing the
body, with no validation, rules or storage, so its throughput is what uvicorn + FastAPI +
JSON cost by themselves on this machine.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import orjson
from fastapi import FastAPI, Request, Response

from nextbest.bench.http import _free_port

JSON = "application/json"


def bare_app() -> FastAPI:
    """The peer app, for ``uvicorn --factory nextbest.bench.decide_peer:bare_app``."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    # A per-process counter: unique enough for a benchmark, and cheaper than uuid4.
    ids = itertools.count(1)
    prefix = f"peer-{os.getpid()}-"

    @app.post("/v1/decisions")
    async def decide(request: Request) -> Response:
        # Raw body + orjson + a prebuilt Response skips FastAPI's validation and encoder.
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return Response(b'{"detail":"invalid JSON"}', status_code=400, media_type=JSON)
        channel = body.get("channel") if isinstance(body, dict) else None
        out = {"decision_id": f"{prefix}{next(ids)}", "action": "do-nothing", "channel": channel}
        return Response(orjson.dumps(out), media_type=JSON)

    @app.get("/health")
    async def health() -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    return app


def _fast_server_flags() -> list[str]:
    """httptools and uvloop when importable; uvicorn's pure-Python defaults are slower."""
    flags: list[str] = []
    if importlib.util.find_spec("httptools") is not None:
        flags += ["--http", "httptools"]
    if importlib.util.find_spec("uvloop") is not None:
        flags += ["--loop", "uvloop"]
    return flags


@contextmanager
def serve(
    factory: str, env: dict[str, str | None] | None = None, workers: int = 1
) -> Iterator[str]:
    """Serve ``factory`` with uvicorn in a subprocess and yield its base URL once healthy.

    ``env`` overrides the environment (None unsets a variable). With ``workers`` > 1 the
    first healthy answer may come before every worker is up, so give the load a warm-up.
    """
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
        "--workers",
        str(workers),
        *_fast_server_flags(),
    ]
    merged = {**os.environ, **(env or {})}
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
        proc.terminate()  # uvicorn's supervisor passes this on to its workers
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
