"""An in-process cache of a page's computed figures, for a minute.

The overview, segments and experiments pages aggregate whole tables; a reload within the
time to live answers from here. Keys name the page and the database: its URL, and the
engine's identity besides, because tests (and tenants) may reach different schemas through
one URL (PostgreSQL ``search_path``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import Engine

log = logging.getLogger(__name__)
T = TypeVar("T")
TTL_SECONDS = 60.0
STALE_KEPT_TTLS = 60  # how many times the time to live an old value may still be answered


class TtlCache:
    """Values by key, each computed at most once per ``ttl`` seconds (monotonic clock)."""

    def __init__(self, ttl: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._values: dict[Hashable, tuple[float, Any]] = {}
        self._refreshing: set[Hashable] = set()

    def peek(self, key: Hashable) -> Any | None:
        """The fresh value for ``key``, or None; never computes."""
        with self._lock:
            found = self._values.get(key)
        return found[1] if found is not None and self.clock() - found[0] < self.ttl else None

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._values[key] = (self.clock(), value)

    def get(
        self, key: Hashable, compute: Callable[[], T], *, stale_while_refreshing: bool = False
    ) -> T:
        """The value for ``key``, computed when missing or older than the time to live.

        With ``stale_while_refreshing`` an old value is answered at once while one
        background thread computes the new one: on a big store the page then costs its
        full computation only on its very first load."""
        now = self.clock()
        with self._lock:
            found = self._values.get(key)
            if found is not None and now - found[0] < self.ttl:
                value: T = found[1]
                return value
            if found is not None and stale_while_refreshing:
                self._start(key, compute)
                stale: T = found[1]
                return stale
        # Computed outside the lock: a slow page must not block the other pages.
        value = compute()
        with self._lock:
            self._values[key] = (self.clock(), value)
            # Old values stay a while: a page that refreshes in the background answers them.
            keep = self.ttl * STALE_KEPT_TTLS
            for old in [k for k, (at, _) in self._values.items() if now - at >= keep]:
                del self._values[old]
        return value

    def refresh_in_background(self, key: Hashable, compute: Callable[[], Any]) -> None:
        """Compute ``key`` in one background thread (none if one already runs for it);
        the value lands in the cache, where :meth:`peek` finds it."""
        with self._lock:
            self._start(key, compute)

    def refreshing(self) -> bool:
        """Whether any background computation is under way (a benchmark waits for them)."""
        with self._lock:
            return bool(self._refreshing)

    def _start(self, key: Hashable, compute: Callable[[], Any]) -> None:
        # Under self._lock: one thread per key at a time.
        if key not in self._refreshing:
            self._refreshing.add(key)
            threading.Thread(target=self._refresh, args=(key, compute), daemon=True).start()

    def _refresh(self, key: Hashable, compute: Callable[[], Any]) -> None:
        try:
            self.put(key, compute())
        except Exception:  # any old value stays; the next load tries again
            log.exception("refreshing %r failed", key)
        finally:
            with self._lock:
                self._refreshing.discard(key)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


FIGURES = TtlCache()


def key_of(page: str, engine: Engine) -> tuple[str, str, int]:
    return (page, engine.url.render_as_string(hide_password=True), id(engine))
