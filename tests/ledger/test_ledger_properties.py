"""Ledger invariants under any sequence of operations, on SQLite and PostgreSQL.

Balance = sum of postings, every entry balances, lots add up to the balance, no balance goes
negative (the program does not allow it), replaying the same requests changes nothing.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from nextbest.config import Settings
from nextbest.errors import Conflict, InsufficientPoints
from nextbest.ingest.pipeline import Ingestor
from nextbest.ledger.service import Ledger
from nextbest.store import tables as t
from tests.ingest.test_pipeline import records
from tests.ledger.support import SIMPLE, apply_program, at, balances, purchase

_run = itertools.count()

op = st.one_of(
    st.tuples(st.just("buy"), st.integers(1, 400), st.sampled_from(["coffee", "beans"])),
    st.tuples(st.just("redeem"), st.sampled_from(["coffee", "mug"]), st.just(0)),
    st.tuples(st.just("adjust"), st.integers(-150, 150).filter(bool), st.just(0)),
    st.tuples(st.just("reverse"), st.integers(0, 30), st.just(0)),
    st.tuples(st.just("return"), st.integers(0, 30), st.integers(1, 100)),
    st.tuples(st.just("run_due"), st.just(0), st.just(0)),
)


def run(
    engine: Engine,
    cfg: Settings,
    prefix: str,
    ops: list[tuple[str, Any, Any]],
    only: set[int] | None = None,
) -> set[int]:
    """Play the story; returns the steps that were accepted (``only``: play just those)."""
    ingest = Ingestor(engine, cfg)
    accepted: set[int] = set()
    for i, (kind, a, b) in enumerate(ops):
        if only is not None and i not in only:
            continue
        when: datetime = at(i * 20)  # 20 days apart: lots expire (6 months) along the way
        led = Ledger(engine, clock=lambda when=when: when)  # type: ignore[misc]
        member = f"{prefix}m"
        try:
            if kind == "buy":
                event = purchase(i, total=float(a), at=when, category=b, prefix=prefix)
                ingest.ingest_records(records([event]), origin="prop")
            elif kind == "return":
                ret = {
                    "type": "purchase_returned",
                    "event_id": f"{prefix}r{i}",
                    "occurred_at": when.isoformat(),
                    "source": "pos",
                    "identifiers": {"loyalty_id": f"{prefix}L1"},
                    "order_id": f"{prefix}o{a}",
                    "amount": float(b),
                }
                ingest.ingest_records(records([ret]), origin="prop")
            elif kind == "redeem":
                led.redeem(
                    member_id=_member(engine, prefix), reward_id=a, idempotency_key=f"{prefix}k{i}"
                )
            elif kind == "adjust":
                led.adjust(
                    member_id=_member(engine, prefix),
                    points=a,
                    reason="test",
                    idempotency_key=f"{prefix}k{i}",
                    actor="t",
                )
            elif kind == "reverse":
                entries = led.history(_member(engine, prefix), limit=100)
                if not entries:
                    continue  # nothing to reverse yet: not a request that was accepted
                target = entries[a % len(entries)]["entry_id"]
                led.reverse(
                    entry_id=target, reason="test", idempotency_key=f"{prefix}k{i}", actor="t"
                )
            else:
                led.run_due()
            accepted.add(i)
        except (InsufficientPoints, Conflict, LookupError):
            pass  # refused requests are part of the story; they must leave no trace
        del member
    return accepted


def _member(engine: Engine, prefix: str) -> str:
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(t.identifiers.c.member_id).where(
                t.identifiers.c.key == f"loyalty_id:{prefix.upper()}L1"
            )
        ).scalar()
    return str(found) if found else f"{prefix}nobody"


def totals(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(sa.select(sa.func.count()).select_from(t.ledger_entries)).scalar_one(),
            conn.execute(sa.select(sa.func.count()).select_from(t.ledger_postings)).scalar_one(),
        )


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(op, min_size=1, max_size=14))
def test_any_story_keeps_the_books_balanced(
    engine: Engine, settings: Settings, ops: list[tuple[str, Any, Any]]
) -> None:
    apply_program(engine, SIMPLE)
    prefix = f"q{next(_run)}x"
    accepted = run(engine, settings, prefix, ops)
    assert Ledger(engine).check() == []
    assert all(b >= 0 for b in balances(engine).values())
    before = (balances(engine), totals(engine))
    # Every accepted request again, same keys: a retry storm after lost replies.
    run(
        engine,
        settings,
        prefix,
        ops,
        only=accepted - {i for i, o in enumerate(ops) if o[0] == "run_due"},
    )
    assert (balances(engine), totals(engine)) == before
    assert Ledger(engine).check() == []


def test_balances_replay_from_postings(engine: Engine, settings: Settings) -> None:
    """Wiping the projection and summing the postings gives the same balances back."""
    apply_program(engine, SIMPLE)
    ops: list[tuple[str, Any, Any]] = [
        ("buy", 250, "beans"),
        ("redeem", "coffee", 0),
        ("adjust", 40, 0),
        ("return", 0, 30),
        ("buy", 90, "coffee"),
        ("reverse", 1, 0),
        ("run_due", 0, 0),
    ]
    run(engine, settings, "rp", ops)
    before = balances(engine)
    assert before
    with engine.begin() as conn:
        conn.execute(sa.update(t.ledger_accounts).values(balance=0))
    assert Ledger(engine).check() != []  # the wiped projection no longer matches
    with engine.connect() as conn:
        replayed = conn.execute(
            sa.select(
                t.ledger_postings.c.member_id,
                t.ledger_postings.c.currency,
                sa.func.sum(t.ledger_postings.c.amount),
            )
            .where(t.ledger_postings.c.member_id.is_not(None))
            .group_by(t.ledger_postings.c.member_id, t.ledger_postings.c.currency)
        ).all()
    assert {(m, c): int(s) for m, c, s in replayed if s} == before
