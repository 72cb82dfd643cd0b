"""`nextbest bench journeys`: journey steps per second with one and with two workers.

Each run gets a fresh database: a PostgreSQL schema of its own when ``database_url`` is given
(the production store, and the only one where two workers run in parallel: SQLite has one
writer), else a SQLite file. ``members`` members sign up; a five-step journey (send, grant,
send, branch, exit) runs through ``workers`` `nextbest worker` processes. Throughput is the
steps written divided by the time between the first and the last step, so process start-up
is not counted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine, func, select

from nextbest.config import Settings
from nextbest.ingest.pipeline import Ingestor
from nextbest.ingest.records import RawRecord
from nextbest.ledger import repository as ledger_repo
from nextbest.ledger.program import parse_program
from nextbest.store import tables as t
from nextbest.store.engine import make_engine, upgrade, write_transaction

JOURNEY = """
journey: bench
name: Benchmark journey
trigger: {event: signup}
steps:
  - {id: hello, send: {channel: email, template: welcome, purpose: loyalty}}
  - {id: gift, grant: {points: 10, reason: welcome gift}}
  - {id: app, send: {channel: in_app, template: first_reward, purpose: loyalty}}
  - {id: check, branch: {when: "ledger.balance >= 10", then: bye, else: bye}}
  - {id: bye, exit: done}
"""
STEPS = 5


@contextmanager
def _database(database_url: str | None, root: Path) -> Iterator[tuple[Engine, dict[str, str]]]:
    """A migrated empty database and the environment a worker process needs to reach it."""
    settings = Settings(data_dir=root / "data", database_url=None, redis_url=None)
    if database_url is None:
        eng = make_engine(settings)
        upgrade(eng)
        try:
            yield eng, {"NEXTBEST_DATA_DIR": str(settings.data_dir)}
        finally:
            eng.dispose()
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(settings, url=database_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    eng = make_engine(
        settings, url=database_url, connect_args={"options": f"-csearch_path={schema}"}
    )
    try:
        upgrade(eng)
        yield (
            eng,
            {
                "NEXTBEST_DATA_DIR": str(settings.data_dir),
                "NEXTBEST_DATABASE_URL": database_url,
                "PGOPTIONS": f"-csearch_path={schema}",
            },
        )
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _prepare(eng: Engine, settings: Settings, members: int) -> None:
    source = (resources.files("nextbest.ledger") / "programs" / "bean_and_bake.yaml").read_text()
    now = datetime.now(UTC)
    with write_transaction(eng) as conn:
        ledger_repo.save_program(conn, parse_program(source), source=source, actor="bench", now=now)
    at = (now - timedelta(minutes=1)).isoformat()
    rows = [
        RawRecord(
            location=f"bench:{i}",
            data={
                "type": "signup",
                "event_id": f"bench-{i}",
                "occurred_at": at,
                "source": "app",
                "identifiers": {"loyalty_id": f"B{i:06d}"},
            },
            raw="",
        )
        for i in range(members)
    ]
    Ingestor(eng, settings).ingest_records(rows, origin="bench")


def _progress(eng: Engine) -> tuple[int, int, datetime | None, datetime | None]:
    with eng.connect() as conn:
        done = conn.execute(
            select(func.count())
            .select_from(t.journey_instances)
            .where(t.journey_instances.c.status == "exited")
        ).scalar_one()
        steps, first, last = conn.execute(
            select(func.count(), func.min(t.journey_steps.c.at), func.max(t.journey_steps.c.at))
        ).one()
    return int(done), int(steps), first, last


def run_once(
    database_url: str | None, *, members: int, workers: int, timeout_s: float
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="nextbest-bench-journeys-") as tmp:
        root = Path(tmp)
        with _database(database_url, root) as (eng, env_extra):
            settings = Settings(data_dir=root / "data", database_url=None, redis_url=None)
            _prepare(eng, settings, members)
            folder = root / "journeys"
            folder.mkdir()
            (folder / "bench.yaml").write_text(JOURNEY)
            env = {k: v for k, v in os.environ.items() if not k.startswith("NEXTBEST_")}
            env.update(env_extra, NEXTBEST_JOURNEYS_DIR=str(folder))
            cli = str(Path(sys.executable).parent / "nextbest")
            cmd = [cli, "worker", "--no-channels", "--poll", "0.05"]
            procs = [
                subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                for _ in range(workers)
            ]
            deadline = time.monotonic() + timeout_s
            try:
                while time.monotonic() < deadline:
                    done, _steps, _f, _l = _progress(eng)
                    if done >= members or any(p.poll() is not None for p in procs):
                        break
                    time.sleep(0.25)
            finally:
                for p in procs:
                    p.terminate()
                for p in procs:
                    p.wait(timeout=30)
            failed = [
                p.stderr.read().decode()[-2000:]
                for p in procs
                if p.stderr and p.returncode not in (0, -15)
            ]
            for p in procs:
                if p.stderr:
                    p.stderr.close()
            if failed:
                raise RuntimeError(f"a worker failed:\n{failed[0]}")
            done, steps, first, last = _progress(eng)
    span = (last - first).total_seconds() if first and last else 0.0
    return {
        "workers": workers,
        "members": members,
        "finished": done,
        "steps": steps,
        "expected_steps": members * STEPS,
        "seconds": span,
        "steps_per_s": steps / span if span > 0 else None,
        "store": "postgresql" if database_url else "sqlite",
    }


def run_journeys_bench(
    database_url: str | None,
    *,
    members: int = 2000,
    workers: Sequence[int] = (1, 2),
    timeout_s: float = 600,
) -> dict[str, Any]:
    runs = [
        run_once(database_url, members=members, workers=w, timeout_s=timeout_s) for w in workers
    ]
    base = runs[0]["steps_per_s"]
    for r in runs:
        r["ratio_to_first"] = r["steps_per_s"] / base if base and r["steps_per_s"] else None
    return {"runs": runs, "journey_steps": STEPS, "machine": {"cpus": os.cpu_count()}}
