"""One suite for every contact budget: memory, SQLite, PostgreSQL and Redis.

Each backend must take all of a contact's slots or none, atomically, so that two hundred
simultaneous decisions for one member under a cap of 1 yield exactly one contact.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from nextbest.decide.budget import ContactBudget, MemoryBudget
from nextbest.decide.budget_redis import RedisBudget
from nextbest.decide.budget_sql import SqlBudget
from nextbest.decide.governance import Slot

BACKENDS: dict[str, Any] = {
    "memory": "memory",
    "sqlite": "sqlite",
    "postgres": pytest.param("postgres", marks=pytest.mark.postgres),
    "redis": pytest.param("redis", marks=pytest.mark.redis),
}


def only(*names: str) -> pytest.MarkDecorator:
    """Run a test on some backends only (it overrides the params of ``engine`` below)."""
    return pytest.mark.parametrize("engine", [BACKENDS[n] for n in names], indirect=True)


@pytest.fixture(params=list(BACKENDS.values()))
def engine(request: pytest.FixtureRequest) -> Engine | None:
    """The backend under test; overrides the shared ``engine`` to add memory and Redis.

    Its param is keyed ``engine`` so the shared fixture (migrated database per test, and
    the skip-unless-CI rule) receives "sqlite" or "postgres" unchanged; it is built only for
    those two.
    """
    if request.param in ("sqlite", "postgres"):
        shared: Engine = request.getfixturevalue("engine")
        return shared
    return None


@pytest.fixture
def budget(request: pytest.FixtureRequest, engine: Engine | None) -> Iterator[ContactBudget]:
    kind = request.node.callspec.params["engine"]
    if kind == "memory":
        yield MemoryBudget()
    elif engine is not None:
        yield SqlBudget(engine)
    else:
        url: str = request.getfixturevalue("redis_url")
        prefix = f"test:{uuid.uuid4().hex}:"
        budget = RedisBudget(url, prefix=prefix)
        client = budget.client
        try:
            yield budget
        finally:
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)
            client.close()


def slot(key: str, limit: int = 1, expires_at: float | None = None) -> Slot:
    return Slot(key=key, limit=limit, expires_at=expires_at, reason=f"{key} full")


def counts(budget: ContactBudget, keys: Sequence[str], now: float) -> dict[str, int]:
    """Usage with absent keys as 0, which every backend may choose."""
    got = budget.usage(keys, now=now)
    return {k: got.get(k, 0) for k in keys}


def test_reserve_counts_and_usage_reports(budget: ContactBudget) -> None:
    assert isinstance(budget, ContactBudget)
    now = time.time()
    a, b = slot("m:1:all:day", 2, now + 3600), slot("m:1:action:x", 3)
    assert budget.reserve([a, b], now=now) is None
    assert counts(budget, [a.key, b.key, "unknown"], now) == {a.key: 1, b.key: 1, "unknown": 0}
    assert budget.reserve([a, b], now=now) is None
    assert budget.reserve([a, b], now=now) == a
    assert counts(budget, [a.key, b.key], now) == {a.key: 2, b.key: 2}
    assert budget.usage([], now=now) == {}


def test_a_full_slot_leaves_the_others_unchanged(budget: ContactBudget) -> None:
    now = time.time()
    first, second = slot("a", 5, now + 3600), slot("b", 1, now + 3600)
    assert budget.reserve([second], now=now) is None
    assert budget.reserve([first, second], now=now) == second
    assert counts(budget, ["a", "b"], now) == {"a": 0, "b": 1}


def test_the_first_full_slot_is_named(budget: ContactBudget) -> None:
    now = time.time()
    a, b, c = slot("a"), slot("b"), slot("c", 0)
    assert budget.reserve([a, b], now=now) is None
    assert budget.reserve([a, b], now=now) == a
    assert budget.reserve([c], now=now) == c  # a zero limit never has room
    assert budget.reserve([slot("d"), c], now=now) == c
    assert counts(budget, ["c", "d"], now) == {"c": 0, "d": 0}


def test_no_slots_always_pass(budget: ContactBudget) -> None:
    assert budget.reserve([], now=time.time()) is None
    budget.release([], now=time.time())


def test_release_gives_back_a_use_and_never_goes_below_zero(budget: ContactBudget) -> None:
    now = time.time()
    a, b = slot("a", 1, now + 3600), slot("b", 2)
    assert budget.reserve([a, b], now=now) is None
    assert budget.reserve([a, b], now=now) == a
    budget.release([a, b], now=now)
    assert counts(budget, ["a", "b"], now) == {"a": 0, "b": 0}
    budget.release([a, b, slot("never-taken")], now=now)
    budget.release([a], now=now)
    assert counts(budget, ["a", "b", "never-taken"], now) == {"a": 0, "b": 0, "never-taken": 0}
    assert budget.reserve([a, b], now=now) is None
    assert counts(budget, ["a", "b"], now) == {"a": 1, "b": 1}


def test_a_window_already_over_holds_nothing(budget: ContactBudget) -> None:
    now = time.time()
    past = slot("m:1:all:yesterday", 1, now - 60)
    assert budget.reserve([past], now=now) is None
    assert budget.reserve([past], now=now) is None
    assert counts(budget, [past.key], now) == {past.key: 0}


@only("memory", "sqlite", "postgres")
def test_an_expired_counter_restarts_its_window(budget: ContactBudget) -> None:
    # Clock-driven (``now``), so not Redis, whose expiry runs on its own clock (see below).
    t0 = 1_000_000.0
    cooldown = slot("m:1:cooldown", 1, t0 + 100)
    assert budget.reserve([cooldown], now=t0) is None
    assert budget.reserve([cooldown], now=t0 + 99.9) == cooldown
    assert counts(budget, [cooldown.key], t0 + 100) == {cooldown.key: 0}
    budget.release([cooldown], now=t0 + 100)  # an expired counter has nothing to give back
    renewed = slot("m:1:cooldown", 1, t0 + 200)
    assert budget.reserve([renewed], now=t0 + 100) is None
    assert counts(budget, [cooldown.key], t0 + 150) == {cooldown.key: 1}
    assert budget.reserve([renewed], now=t0 + 150) == renewed
    assert counts(budget, [cooldown.key], t0 + 200) == {cooldown.key: 0}


@only("redis")
def test_redis_expires_counters_itself(budget: ContactBudget) -> None:
    assert isinstance(budget, RedisBudget)
    now = time.time()
    short, forever = slot("short", 1, now + 0.3), slot("forever", 5)
    assert budget.reserve([short, forever], now=now) is None
    assert 0 < budget.client.pttl(budget.prefix + "short") <= 300
    assert budget.client.pttl(budget.prefix + "forever") == -1  # no expiry
    assert budget.reserve([short], now=now) == short
    deadline = time.monotonic() + 5
    while counts(budget, ["short"], time.time())["short"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert budget.reserve([slot("short", 1, time.time() + 60)], now=time.time()) is None
    assert counts(budget, ["short", "forever"], time.time()) == {"short": 1, "forever": 1}


def test_two_hundred_simultaneous_contacts_under_a_cap_of_one(budget: ContactBudget) -> None:
    now = time.time()
    slots = [
        slot("m:42:all:2026-06-01", 1, now + 86_400),
        slot("m:42:cooldown", 1, now + 3600),
    ]
    n = 200
    barrier = threading.Barrier(n, timeout=60)
    results: list[Slot | None] = [slot("unset")] * n
    errors: list[BaseException] = []

    def contact(i: int) -> None:
        try:
            barrier.wait()
            results[i] = budget.reserve(slots, now=now)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=contact, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    assert sum(r is None for r in results) == 1
    assert all(r is None or r in slots for r in results)
    assert counts(budget, [s.key for s in slots], now) == {s.key: 1 for s in slots}


# --- MemoryBudget under any interleaving ----------------------------------------------------

KEYS = ("k0", "k1", "k2", "k3")
operation = st.tuples(
    st.sampled_from(["reserve", "release"]),
    st.lists(st.sampled_from(KEYS), min_size=0, max_size=4, unique=True).map(sorted),
    st.floats(min_value=0, max_value=30, allow_nan=False),  # time passing before it
)


def window_end(now: float, length: float | None) -> float | None:
    """The end of the fixed window of ``length`` holding ``now`` (a day or week, scaled)."""
    return None if length is None else (now // length + 1) * length


@settings(max_examples=200, deadline=None)
@given(
    limits=st.tuples(*[st.integers(min_value=0, max_value=3)] * len(KEYS)),
    windows=st.tuples(*[st.one_of(st.none(), st.floats(1, 50))] * len(KEYS)),
    ops=st.lists(operation, max_size=60),
)
def test_memory_budget_never_exceeds_a_limit(
    limits: tuple[int, ...],
    windows: tuple[float | None, ...],
    ops: list[tuple[str, list[str], float]],
) -> None:
    budget = MemoryBudget()
    limit = dict(zip(KEYS, limits, strict=True))
    window = dict(zip(KEYS, windows, strict=True))
    now = 0.0
    for kind, keys, wait in ops:
        now += wait
        slots = [slot(k, limit[k], window_end(now, window[k])) for k in keys]
        before = counts(budget, KEYS, now)
        if kind == "release":
            budget.release(slots, now=now)
            expected = {k: max(0, c - 1) if k in keys else c for k, c in before.items()}
        else:
            full = budget.reserve(slots, now=now)
            free = [s for s in slots if before[s.key] < s.limit]
            if len(free) == len(slots):
                assert full is None
                expected = {k: c + 1 if k in keys else c for k, c in before.items()}
            else:
                assert full == next(s for s in slots if s not in free)
                expected = before
        after = counts(budget, KEYS, now)
        assert after == expected
        assert all(after[k] <= limit[k] for k in KEYS)
