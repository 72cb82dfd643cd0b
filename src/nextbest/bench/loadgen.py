"""A lean HTTP/1.1 load generator: raw asyncio keep-alive clients in worker processes.

The threaded httpx client in :mod:`nextbest.bench.http` spends more CPU per request than a
small server does, so it tops out long before the server. Here each request is one
prebuilt ``bytes`` write and the response is parsed with two stream reads; several worker
processes share the load so the client can use every core.

Protocol between :func:`run_load` and a worker (``python -m nextbest.bench.loadgen``):
the parent writes one JSON config line on stdin; the worker answers ``ready`` once its
imports are done and waits for a ``go`` line, so all workers start their clocks together;
it then prints one JSON result line and exits.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

# Responses past the end of the window get this long to finish before they are cancelled.
_GRACE_S = 2.0
# A worker must report back within duration + warmup + this, or it is killed.
_WORKER_SLACK_S = 30.0


@dataclass(frozen=True)
class LoadResult:
    """What one :func:`run_load` measured; latencies in milliseconds.

    ``requests`` counts every response completed inside the measured window, whatever its
    status (``non_2xx`` of them were not 2xx); ``errors`` counts failed exchanges
    (connection refused or reset, malformed response), which are not in ``requests``.
    """

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    non_2xx: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Tally:
    """One worker's counts over the measured window."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    non_2xx: int = 0


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, as in :mod:`nextbest.bench.http` (not imported: it pulls the
    whole app in, seconds of start-up for every worker).

    >>> _percentile([1.0, 2.0, 3.0], 0.5)
    2.0
    """
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))]


class _ResponseError(Exception):
    """The server sent something this client does not understand."""


def _request_bytes(
    host: str, port: int, path: str, body: bytes, headers: Mapping[str, str]
) -> bytes:
    """The whole POST, head and body, ready for one ``write``."""
    fields = {"host": f"{host}:{port}", "content-type": "application/json"}
    fields |= {k.lower(): v for k, v in headers.items()}
    fields["content-length"] = str(len(body))
    head = "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return f"POST {path} HTTP/1.1\r\n{head}\r\n".encode("latin-1") + body


async def _read_chunked(reader: asyncio.StreamReader) -> None:
    """Consume a chunked body (and any trailers); the content itself is not needed."""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0], 16)
        except ValueError as exc:
            raise _ResponseError(f"bad chunk size line {size_line!r}") from exc
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers end on a bare CRLF
                pass
            return
        await reader.readexactly(size + 2)  # the chunk and its CRLF


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bool]:
    """Send ``request``, read the whole response; returns (status, keep the connection)."""
    # No drain: we wait for the answer before writing again, so the buffer never grows.
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1."):
        raise _ResponseError(f"not an HTTP/1.x response: {head[:40]!r}")
    status = int(head[9:12])
    lower = head.lower()
    keep = b"\r\nconnection: close" not in lower and head.startswith(b"HTTP/1.1")
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 2)
        await reader.readexactly(int(lower[at + 17 : end]))
    elif b"\r\ntransfer-encoding: chunked" in lower:
        await _read_chunked(reader)
    elif status in (204, 304) or 100 <= status < 200:
        pass  # these never carry a body
    else:
        await reader.read()  # body delimited by the server closing the connection
        keep = False
    return status, keep


async def _connection(
    host: str,
    port: int,
    requests: Sequence[bytes],
    offset: int,
    start: float,
    end: float,
    tally: _Tally,
) -> None:
    """One keep-alive client: request after request until ``end``, counting after ``start``."""
    perf = time.perf_counter
    latencies = tally.latencies
    n = len(requests)
    i = offset
    writer: asyncio.StreamWriter | None = None
    try:
        while perf() < end:
            if writer is None:
                try:
                    reader, writer = await asyncio.open_connection(host, port)
                except OSError:
                    if start <= perf() < end:
                        tally.errors += 1
                    await asyncio.sleep(0.01)  # a refused connect must not spin the CPU
                    continue
            t0 = perf()
            try:
                status, keep = await _exchange(reader, writer, requests[i % n])
            except (OSError, EOFError, asyncio.LimitOverrunError, ValueError, _ResponseError):
                # IncompleteReadError is an EOFError; a bad number in a header a ValueError.
                if start <= perf() < end:
                    tally.errors += 1
                writer.close()
                writer = None
                continue
            t1 = perf()
            i += 1
            if start <= t1 < end:
                latencies.append(t1 - t0)
                if not 200 <= status < 300:
                    tally.non_2xx += 1
            if not keep:
                writer.close()
                writer = None
    finally:
        if writer is not None:
            writer.close()


async def _drive(config: Mapping[str, Any]) -> _Tally:
    requests = [
        _request_bytes(config["host"], config["port"], config["path"], body, config["headers"])
        for body in (base64.b64decode(b) for b in config["bodies"])
    ]
    tally = _Tally()
    now = time.perf_counter()
    start = now + config["warmup_s"]
    end = start + config["duration_s"]
    tasks = [
        asyncio.create_task(
            _connection(config["host"], config["port"], requests, offset, start, end, tally)
        )
        for offset in config["offsets"]
    ]
    # A server that stops answering must not hang the run: cancel what is still waiting.
    _done, pending = await asyncio.wait(tasks, timeout=end - time.perf_counter() + _GRACE_S)
    for task in pending:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return tally


def _run_loop(config: Mapping[str, Any]) -> _Tally:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_drive(config))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_drive(config))


def _worker_main() -> None:
    config = orjson.loads(sys.stdin.buffer.readline())
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    if sys.stdin.buffer.readline().strip() != b"go":
        raise SystemExit("loadgen worker: expected 'go'")
    tally = _run_loop(config)
    out = {"latencies": tally.latencies, "errors": tally.errors, "non_2xx": tally.non_2xx}
    # After a uvloop run, a buffered write of the ~1 MB result to the pipe returned short
    # (64 KiB) without an error, truncating it; write the raw fd until all of it is out.
    view = memoryview(orjson.dumps(out) + b"\n")
    while view:
        view = view[os.write(sys.stdout.fileno(), view) :]


def _split(connections: int, workers: int) -> list[list[int]]:
    """Global connection indexes per worker, as even as possible.

    >>> _split(5, 2)
    [[0, 2, 4], [1, 3]]
    """
    return [list(range(w, connections, workers)) for w in range(workers)]


def _kill_all(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _read_line(proc: subprocess.Popen[bytes], what: str) -> bytes:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        code = proc.wait()
        raise RuntimeError(f"loadgen worker exited with {code} before sending {what}")
    return line


def run_load(
    url: str,
    path: str,
    bodies: Sequence[bytes],
    *,
    connections: int = 64,
    workers: int = 1,
    duration_s: float = 5.0,
    warmup_s: float = 1.0,
    headers: Mapping[str, str] | None = None,
) -> LoadResult:
    """POST ``bodies`` (cycled) to ``url`` + ``path`` from ``connections`` keep-alive clients.

    The clients are spread over ``workers`` processes. Responses finished in the first
    ``warmup_s`` seconds are discarded; ``rps`` is the responses finished in the next
    ``duration_s`` seconds divided by that window.
    """
    if not bodies:
        raise ValueError("run_load needs at least one body")
    if connections < 1 or workers < 1 or duration_s <= 0 or warmup_s < 0:
        raise ValueError("need connections, workers >= 1, duration_s > 0 and warmup_s >= 0")
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        raise ValueError(f"only plain http:// URLs are supported, got {url!r}")
    workers = min(workers, connections)
    base = {
        "host": parts.hostname,
        "port": parts.port or 80,
        "path": parts.path.rstrip("/") + path,
        "headers": dict(headers or {}),
        "bodies": [base64.b64encode(b).decode("ascii") for b in bodies],
        "duration_s": duration_s,
        "warmup_s": warmup_s,
    }
    cmd = [sys.executable, "-m", "nextbest.bench.loadgen"]
    procs = [
        subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE) for _ in range(workers)
    ]
    # Blocking pipe reads have no timeout, so a stuck worker is killed from a timer instead.
    watchdog = threading.Timer(warmup_s + duration_s + _WORKER_SLACK_S, _kill_all, [procs])
    watchdog.start()
    try:
        for proc, offsets in zip(procs, _split(connections, workers), strict=True):
            assert proc.stdin is not None
            proc.stdin.write(orjson.dumps(base | {"offsets": offsets}) + b"\n")
            proc.stdin.flush()
        for proc in procs:
            _read_line(proc, "ready")
        for proc in procs:  # all ready first, so every clock starts within a pipe write
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            proc.stdin.close()
        # Each worker prints only after its window closes, so reading in turn cannot stall.
        results = [orjson.loads(_read_line(proc, "its result")) for proc in procs]
        for proc in procs:
            proc.wait(timeout=_WORKER_SLACK_S)
    finally:
        watchdog.cancel()
        _kill_all(procs)
    latencies = sorted(x for r in results for x in r["latencies"])
    count = len(latencies)
    ms = [x * 1000 for x in latencies]
    return LoadResult(
        requests=count,
        seconds=round(float(duration_s), 3),
        rps=round(count / duration_s, 1),
        p50_ms=round(_percentile(ms, 0.50), 3),
        p90_ms=round(_percentile(ms, 0.90), 3),
        p99_ms=round(_percentile(ms, 0.99), 3),
        max_ms=round(ms[-1], 3) if ms else 0.0,
        errors=sum(r["errors"] for r in results),
        non_2xx=sum(r["non_2xx"] for r in results),
    )


if __name__ == "__main__":
    _worker_main()
