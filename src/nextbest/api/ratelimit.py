"""Rate limiting per API key: one token bucket per key id, in this process.

Each key may send ``burst`` requests at once and ``rate`` per second sustained; a request
over that gets 429 with ``Retry-After``. The buckets live in process memory, so each worker
process limits on its own (N workers admit up to N times the rate); sharing the buckets
through Redis is a follow-up.

>>> now = [0.0]
>>> limiter = TokenBuckets(rate=1.0, burst=2, clock=lambda: now[0])
>>> [limiter.take("k") for _ in range(3)]
[0.0, 0.0, 1.0]
>>> now[0] = 0.5
>>> limiter.take("k")
0.5
>>> now[0] = 1.0
>>> limiter.take("k")
0.0
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBuckets:
    """Token buckets keyed by a string (the key id); ``rate <= 0`` admits everything."""

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 when admitted, else the seconds until one is due."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                if key not in self._buckets and len(self._buckets) >= self._max_keys:
                    self._buckets.clear()  # only verified keys get here; a safety valve
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
