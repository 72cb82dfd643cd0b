"""The Redis Stream consumer against a real Redis and each database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy import Engine

from nextbest.config import Settings
from nextbest.ingest.stream import publish_events, run_consumer
from nextbest.store import tables as t

pytestmark = pytest.mark.redis

BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)


def app_open(n: int, member: int) -> dict[str, Any]:
    return {
        "type": "app_open",
        "event_id": f"a-{n}",
        "occurred_at": (BASE + timedelta(seconds=n)).isoformat(),
        "source": "app",
        "identifiers": {"device_id": f"dev-{member}", "email": f"m{member}@x.com"},
    }


@pytest.fixture
def stream_settings(settings: Settings, redis_url: str) -> Settings:
    return settings.model_copy(update={"redis_url": redis_url})


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def pending(settings: Settings) -> int:
    client = redis.Redis.from_url(settings.redis_url or "")
    try:
        info: Any = client.xpending(settings.stream_name, settings.stream_group)
        return int(info["pending"])
    finally:
        client.close()


def test_consumes_dead_letters_and_stays_idempotent(
    stream_settings: Settings, engine: Engine
) -> None:
    s = stream_settings
    url = s.redis_url or ""
    events = [app_open(i, i % 4) for i in range(50)]
    assert publish_events(url, s.stream_name, events) == 50
    client = redis.Redis.from_url(url)
    client.xadd(s.stream_name, {"event": "{broken"})
    client.xadd(s.stream_name, {"other": "x"})
    client.close()

    stats = run_consumer(s, engine, consumer="c1", stop_after_idle=0.2, batch_size=20)
    assert (stats.entries, stats.accepted, stats.rejected) == (52, 50, 2)
    assert stats.batches == 3
    assert stats.members_created == 4
    assert count(engine, t.events) == 50
    with engine.connect() as conn:
        letters = conn.execute(
            sa.select(t.dead_letters.c.origin, t.dead_letters.c.location, t.dead_letters.c.field)
        ).all()
    assert len(letters) == 2
    assert {row.origin for row in letters} == {f"stream:{s.stream_name}"}
    assert all(row.location.startswith("stream ") and row.field == "event" for row in letters)
    assert pending(s) == 0

    with engine.connect() as conn:
        members_before = conn.execute(sa.select(t.members)).all()
    publish_events(url, s.stream_name, events)
    again = run_consumer(s, engine, consumer="c1", stop_after_idle=0.2)
    assert (again.entries, again.accepted, again.duplicates) == (50, 0, 50)
    assert count(engine, t.events) == 50
    with engine.connect() as conn:
        assert conn.execute(sa.select(t.members)).all() == members_before


def test_crashed_consumers_pending_entries_are_reclaimed(
    stream_settings: Settings, engine: Engine
) -> None:
    s = stream_settings
    url = s.redis_url or ""
    publish_events(url, s.stream_name, [app_open(i, i) for i in range(10)])
    client = redis.Redis.from_url(url)
    client.xgroup_create(s.stream_name, s.stream_group, id="0", mkstream=True)
    # The "crashed" consumer reads six entries and dies before acknowledging them.
    client.xreadgroup(s.stream_group, "crashed", {s.stream_name: ">"}, count=6)
    client.close()
    assert pending(s) == 6

    # Entries idle for less than the threshold stay with their owner...
    fresh = run_consumer(s, engine, consumer="c2", stop_after_idle=0.1, reclaim_idle_ms=60_000)
    assert (fresh.reclaimed, fresh.accepted) == (0, 4)
    assert pending(s) == 6
    # ...and once idle for longer they are claimed by a new consumer and ingested.
    new = run_consumer(s, engine, consumer="c3", stop_after_idle=0.1, reclaim_idle_ms=0)
    assert (new.reclaimed, new.accepted) == (6, 6)
    assert pending(s) == 0
    assert count(engine, t.events) == 10


def test_max_batches_stops_and_leaves_the_rest(stream_settings: Settings, engine: Engine) -> None:
    s = stream_settings
    publish_events(s.redis_url or "", s.stream_name, [app_open(i, 0) for i in range(30)])
    stats = run_consumer(s, engine, consumer="c1", max_batches=1, batch_size=10)
    assert (stats.batches, stats.accepted) == (1, 10)
    rest = run_consumer(s, engine, consumer="c1", stop_after_idle=0.1, batch_size=10)
    assert rest.accepted == 20
    assert count(engine, t.events) == 30


def test_missing_redis_url_is_a_clear_error(settings: Settings, engine: Engine) -> None:
    from nextbest.errors import NextbestError

    with pytest.raises(NextbestError, match="NEXTBEST_REDIS_URL"):
        run_consumer(settings, engine, consumer="c1", stop_after_idle=0.1)


def test_ingest_stream_command(
    settings: Settings, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import typer
    from typer.testing import CliRunner

    from nextbest.cli.stream import ingest_stream
    from nextbest.store.engine import make_engine, upgrade

    monkeypatch.setenv("NEXTBEST_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv("NEXTBEST_DATABASE_URL", raising=False)
    monkeypatch.setenv("NEXTBEST_REDIS_URL", redis_url)
    engine = make_engine(settings)
    upgrade(engine)
    publish_events(redis_url, settings.stream_name, [app_open(i, i % 2) for i in range(5)])

    cli = typer.Typer()
    cli.command()(ingest_stream)
    result = CliRunner().invoke(cli, ["--consumer", "cli-1", "--idle-exit", "0.2"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accepted"] == 5
    assert count(engine, t.events) == 5
    engine.dispose()
