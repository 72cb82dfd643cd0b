"""The crash test: `nextbest worker` is killed (SIGKILL) at random moments while 1,000 members
flow through a multi-step journey; after restarts, every send and grant happened exactly once,
counted against the journey definition."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from nextbest.config import Settings
from nextbest.ingest.pipeline import Ingestor
from nextbest.store import tables as t
from tests.conftest import POSTGRES_URL
from tests.ingest.test_pipeline import records
from tests.ledger.support import apply_program

MEMBERS = 1000
JOURNEY = """
journey: crash
name: Crash test
trigger: {event: signup}
steps:
  - {id: hello, send: {channel: email, template: welcome, purpose: loyalty}}
  - {id: gift, grant: {points: 10, reason: welcome gift}}
  - {id: pause, wait: {hours: 0}}
  - {id: remind, send: {channel: push, template: first_reward}}
  - {id: bye, exit: done}
"""
STEPS_PER_MEMBER = 6  # hello, gift, pause (armed), pause (elapsed), remind, bye


def _signups(n: int) -> list[dict[str, object]]:
    now = time.time()
    return [
        {
            "type": "signup",
            "event_id": f"crash-{i}",
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - 60)),
            "source": "app",
            "identifiers": {"loyalty_id": f"C{i:05d}"},
        }
        for i in range(n)
    ]


def _done(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(t.journey_instances)
                .where(t.journey_instances.c.status == "exited")
            ).scalar_one()
        )


def _worker_env(settings: Settings, engine: Engine, folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        NEXTBEST_DATA_DIR=str(settings.data_dir),
        NEXTBEST_JOURNEYS_DIR=str(folder),
        NEXTBEST_JOURNEY_LEASE_SECONDS="2",
    )
    env.pop("NEXTBEST_REDIS_URL", None)
    if engine.dialect.name == "postgresql":
        env["NEXTBEST_DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
        schema = engine.dialect.default_schema_name
        env["PGOPTIONS"] = f"-csearch_path={_schema(engine) or schema}"
    else:
        env.pop("NEXTBEST_DATABASE_URL", None)
    return env


def _schema(engine: Engine) -> str | None:
    with engine.connect() as conn:
        got = conn.exec_driver_sql("select current_schema()").scalar()
    return str(got) if got else None


@pytest.mark.slow
def test_killed_workers_lose_and_duplicate_nothing(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    assert POSTGRES_URL  # the module imports it; PostgreSQL runs are selected by the fixture
    apply_program(engine)
    Ingestor(engine, settings).ingest_records(records(_signups(MEMBERS)), origin="crash")
    folder = tmp_path / "journeys"
    folder.mkdir()
    (folder / "crash.yaml").write_text(JOURNEY)
    env = _worker_env(settings, engine, folder)
    cli = str(Path(sys.executable).parent / "nextbest")
    cmd = [cli, "worker", "--no-channels", "--poll", "0.05"]
    rng = random.Random(7)
    kills = 0
    deadline = time.monotonic() + 600
    while _done(engine) < MEMBERS and time.monotonic() < deadline:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if kills < 8:
            time.sleep(rng.uniform(1.5, 4.0))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
        else:
            while _done(engine) < MEMBERS and proc.poll() is None:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        if proc.returncode not in (0, -signal.SIGKILL, -signal.SIGTERM, 1):
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "worker failed")
        if proc.stderr:
            proc.stderr.close()
    assert kills >= 5  # the workers really died mid-journey, several times
    assert _done(engine) == MEMBERS
    with engine.connect() as conn:
        sends = Counter(
            (r.member_id, r.channel)
            for r in conn.execute(select(t.deliveries.c.member_id, t.deliveries.c.channel))
        )
        grants = Counter(
            r.member_id
            for r in conn.execute(
                select(t.ledger_entries.c.member_id).where(t.ledger_entries.c.kind == "adjust")
            )
        )
        steps = Counter(r.instance_id for r in conn.execute(select(t.journey_steps.c.instance_id)))
    members = {m for m, _c in sends}
    assert len(members) == MEMBERS
    assert set(sends.values()) == {1}  # one email and one push each, never two
    assert Counter(c for _m, c in sends) == {"email": MEMBERS, "push": MEMBERS}
    assert set(grants.values()) == {1} and len(grants) == MEMBERS
    assert set(steps.values()) == {STEPS_PER_MEMBER} and len(steps) == MEMBERS
