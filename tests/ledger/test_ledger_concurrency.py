"""Concurrent redemptions on one account never overspend (PostgreSQL row locks, SQLite's
single writer): 50 clients, points for 10 redemptions, exactly 10 succeed."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine

from nextbest.config import Settings
from nextbest.errors import InsufficientPoints
from nextbest.ingest.pipeline import Ingestor
from nextbest.ledger.service import Ledger
from tests.ingest.test_pipeline import records
from tests.ledger.support import SIMPLE, apply_program, at, member_ids, outbox, purchase

CLIENTS = 50


def test_fifty_clients_redeem_against_an_account_that_covers_ten(
    engine: Engine, settings: Settings
) -> None:
    apply_program(engine, SIMPLE)
    Ingestor(engine, settings).ingest_records(records([purchase(1, total=1000.0)]), origin="t")
    (member,) = member_ids(engine)
    led = Ledger(engine, clock=lambda: at(1))
    start = threading.Barrier(CLIENTS)

    def client(n: int) -> str:
        start.wait()  # all at once
        try:
            led.redeem(member_id=member, reward_id="coffee", idempotency_key=f"client-{n}")
        except InsufficientPoints as exc:
            return str(exc)
        return "ok"

    if engine.dialect.name == "postgresql":
        engine.pool.dispose()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(client, range(CLIENTS)))
    assert results.count("ok") == 10
    refused = [r for r in results if r != "ok"]
    assert len(refused) == 40
    assert all(r.startswith("insufficient points") and "needs 100" in r for r in refused)
    assert led.account(member)["balance"] == 0
    assert len(outbox(engine, "reward_redeemed")) == 10
    assert led.check() == []


@pytest.mark.postgres
def test_without_the_row_lock_postgres_would_overspend(engine: Engine, settings: Settings) -> None:
    """The lock is what holds: skipping it lets concurrent clients spend the same points."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the row lock is PostgreSQL's; SQLite serialises writers by itself")
    import nextbest.ledger.repository as repo

    apply_program(engine, SIMPLE)
    Ingestor(engine, settings).ingest_records(records([purchase(1, total=200.0)]), origin="t")
    (member,) = member_ids(engine)
    led = Ledger(engine, clock=lambda: at(1))
    start = threading.Barrier(20)
    original = repo.lock_accounts

    def client(n: int) -> bool:
        start.wait()
        try:
            led.redeem(member_id=member, reward_id="coffee", idempotency_key=f"nolock-{n}")
        except Exception:
            return False
        return True

    repo.lock_accounts = lambda *a, **k: None  # type: ignore[assignment]
    try:
        with ThreadPoolExecutor(20) as pool:
            ok = sum(pool.map(client, range(20)))
    finally:
        repo.lock_accounts = original  # type: ignore[assignment]
    assert ok > 2 or led.check() != []  # more than the 2 the points cover, or broken books
