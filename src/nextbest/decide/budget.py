"""The contact budget: take every slot a contact needs, or none, atomically.

Governance names the slots (``slots_for``); an adapter counts them. Check-then-increment
must be one atomic step, or two concurrent decisions could both see the last free slot and
both contact the member. This module holds the protocol and the in-process adapter (the
embedded default and benchmarks); ``budget_sql`` and ``budget_redis`` hold the shared ones.

Semantics common to every adapter:

* a counter past its ``expires_at`` counts 0, and the next reserve restarts it at 1;
* a successful reserve gives each counter the expiry of the slot that took it (a cool-down
  restarts from the latest contact; a cap window's end is fixed by its key anyway);
* a slot whose ``limit`` is 0 or less is always full.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from nextbest.decide.governance import Slot

SWEEP_EVERY = 10_000  # writes between purges of dead counters in MemoryBudget


@runtime_checkable
class ContactBudget(Protocol):
    """Atomic contact counters shared by every decision and journey send."""

    def usage(self, keys: Sequence[str], *, now: float) -> dict[str, int]:
        """Current counts; an expired counter counts 0, an absent key may be left out."""
        ...

    def reserve(self, slots: Sequence[Slot], *, now: float) -> Slot | None:
        """Take one use of every slot and return None, or change nothing and return the
        first full slot."""
        ...

    def release(self, slots: Sequence[Slot], *, now: float) -> None:
        """Give back one use of each slot (never below 0): the contact never left."""
        ...


def expired(expires_at: float | None, now: float) -> bool:
    """Whether a counter with this expiry has reset by ``now`` (it resets *at* expires_at).

    >>> expired(None, 1e12), expired(10.0, 9.9), expired(10.0, 10.0)
    (False, False, True)
    """
    return expires_at is not None and expires_at <= now


class MemoryBudget:
    """Counters in a dict behind one lock: atomic within a process, lost on restart."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float | None]] = {}
        self._writes = 0

    def _count(self, key: str, now: float) -> int:
        entry = self._counts.get(key)
        if entry is None or expired(entry[1], now):
            return 0
        return entry[0]

    def usage(self, keys: Sequence[str], *, now: float) -> dict[str, int]:
        with self._lock:
            return {k: self._count(k, now) for k in keys}

    def reserve(self, slots: Sequence[Slot], *, now: float) -> Slot | None:
        if not slots:
            return None
        with self._lock:
            counts = [self._count(s.key, now) for s in slots]
            for slot, count in zip(slots, counts, strict=True):
                if count >= slot.limit:
                    return slot
            for slot, count in zip(slots, counts, strict=True):
                self._counts[slot.key] = (count + 1, slot.expires_at)
            self._written(len(slots), now)
        return None

    def release(self, slots: Sequence[Slot], *, now: float) -> None:
        with self._lock:
            for slot in slots:
                entry = self._counts.get(slot.key)
                if entry is not None and entry[0] > 0 and not expired(entry[1], now):
                    self._counts[slot.key] = (entry[0] - 1, entry[1])
            self._written(len(slots), now)

    def _written(self, n: int, now: float) -> None:
        """Drop expired and zero counters now and then, so a long run does not grow
        without bound (caller holds the lock)."""
        self._writes += n
        if self._writes < SWEEP_EVERY:
            return
        self._writes = 0
        dead = [k for k, (c, at) in self._counts.items() if c <= 0 or expired(at, now)]
        for k in dead:
            del self._counts[k]
