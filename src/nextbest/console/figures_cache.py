"""An in-process cache of a page's computed figures, for a minute.

The overview, segments and experiments pages aggregate whole tables; a reload within the
time to live answers from here. Keys name the page and the database: its URL, and the
engine's identity besides, because tests (and tenants) may reach different schemas through
one URL (PostgreSQL ``search_path``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import Engine

T = TypeVar("T")
TTL_SECONDS = 60.0


class TtlCache:
    """Values by key, each computed at most once per ``ttl`` seconds (monotonic clock)."""

    def __init__(self, ttl: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._values: dict[Hashable, tuple[float, Any]] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        now = self.clock()
        with self._lock:
            found = self._values.get(key)
            if found is not None and now - found[0] < self.ttl:
                value: T = found[1]
                return value
        # Computed outside the lock: a slow page must not block the other pages.
        value = compute()
        with self._lock:
            self._values[key] = (self.clock(), value)
            for stale in [k for k, (at, _) in self._values.items() if now - at >= self.ttl]:
                del self._values[stale]
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


FIGURES = TtlCache()


def key_of(page: str, engine: Engine) -> tuple[str, str, int]:
    return (page, engine.url.render_as_string(hide_password=True), id(engine))
