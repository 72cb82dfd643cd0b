"""`nextbest bench decide`: decision latency in process and throughput over HTTP.

The catalogue is synthetic (``generate_catalogue``: 200 actions on 5 channels, with the demo
program's policy) and the members are the demo program's, their facts read from the
configured database. In process, the pure engine decides for each member in turn (p50/p99
per decision), then the whole service path (cached facts, in-memory budget, buffered log).
Over HTTP, the real app serves ``POST /v1/decisions`` while a raw-asyncio load generator
keeps many connections busy; a bare FastAPI endpoint (orjson in, small JSON out) is
measured the same way in the same run, and our throughput is printed as a ratio of its.
A profile of the in-process loop says where the time goes.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import random
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, inspect, select

from nextbest.bench.decide_peer import serve
from nextbest.bench.loadgen import run_load
from nextbest.config import Settings
from nextbest.decide.bench_catalogue import generate_catalogue
from nextbest.decide.budget import MemoryBudget
from nextbest.decide.catalogue import parse_catalogue
from nextbest.decide.engine import Engine as DecisionEngine
from nextbest.decide.engine import MemberFacts, Request
from nextbest.decide.facts import load_facts
from nextbest.decide.log import DecisionLog
from nextbest.decide.service import DecisionService
from nextbest.store import tables as t
from nextbest.store.engine import make_engine

CHANNELS = ("email", "sms", "push", "in_app", "app")
# Function groups for "where the time goes", matched on the profiled code's file and name.
PHASES = (
    ("rules and suppressions (expressions)", ("expressions.py",)),
    ("governance: slots, caps, consent", ("governance.py",)),
    ("channel and send time", ("timing.py",)),
    ("learner: posterior and propensities", ("learner.py",)),
    ("numpy", ("numpy", "fromnumeric", "<__array_function__")),
)


class NotEnoughData(RuntimeError):
    pass


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def scored_members(db: Engine, limit: int) -> list[str]:
    if not inspect(db).has_table("member_scores"):  # a store the demo never filled
        return []
    with db.connect() as conn:
        return list(
            conn.execute(
                select(t.member_scores.c.member_id)
                .where(t.member_scores.c.name == "churn_risk")
                .order_by(t.member_scores.c.member_id)
                .limit(limit)
            ).scalars()
        )


def member_facts(db: Engine, members: Sequence[str], now: datetime) -> list[MemberFacts]:
    with db.connect() as conn:
        return [load_facts(conn, m, now=now) for m in members]


def moments(n: int, start: datetime, seed: int) -> list[datetime]:
    """Decision times spread over a week and every hour, so quiet hours and caps vary."""
    rng = random.Random(seed)
    return [start + timedelta(seconds=rng.randrange(7 * 86400)) for _ in range(n)]


def _engine_latency(
    engine: DecisionEngine, facts: Sequence[MemberFacts], times: Sequence[datetime]
) -> tuple[list[float], dict[str, Any]]:
    """Microseconds per ``Engine.decide`` (usage read once per decision, as the service
    does), and the decisions' shape: how many actions competed and were filtered."""
    lat: list[float] = []
    competed = contacts = 0
    clock = time.perf_counter_ns
    for i, at in enumerate(times):
        f = facts[i % len(facts)]
        req = Request(at=at, seed=i)
        t0 = clock()
        d = engine.decide(f, req, {})
        lat.append((clock() - t0) / 1000.0)
        competed += sum(1 for c in d.candidates if not c.reasons)
        contacts += d.contacts
    shape = {
        "competing_per_decision": competed / len(times),
        "contact_share": contacts / len(times),
    }
    return lat, shape


def _service_latency(
    service: DecisionService, members: Sequence[str], times: Sequence[datetime]
) -> list[float]:
    lat: list[float] = []
    clock = time.perf_counter_ns
    for i, at in enumerate(times):
        req = Request(at=at, seed=i)
        t0 = clock()
        service.decide(members[i % len(members)], req, explain=True, resolved=True)
        lat.append((clock() - t0) / 1000.0)
    return lat


def _profile(
    engine: DecisionEngine, facts: Sequence[MemberFacts], times: Sequence[datetime]
) -> list[dict[str, Any]]:
    """Share of the engine's own time per phase, from cProfile's exclusive times."""
    prof = cProfile.Profile()
    prof.enable()
    for i, at in enumerate(times):
        engine.decide(facts[i % len(facts)], Request(at=at, seed=i), {})
    prof.disable()
    stats = pstats.Stats(prof)
    totals: dict[str, float] = {}
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        phase = "engine: candidates, scoring, explanation"
        where = f"{filename}:{name}"
        for label, needles in PHASES:
            if any(n in where for n in needles):
                phase = label
                break
        else:
            if "engine.py" not in filename and "nextbest" not in filename:
                phase = "Python built-ins and the rest"
        totals[phase] = totals.get(phase, 0.0) + tottime
    whole = sum(totals.values()) or 1.0
    return [
        {"phase": k, "share": v / whole} for k, v in sorted(totals.items(), key=lambda kv: -kv[1])
    ]


def run_decide_bench(
    settings: Settings,
    *,
    actions: int = 200,
    members: int = 2000,
    decisions: int = 20_000,
    http: bool = True,
    duration_s: float = 8.0,
    connections: int = 64,
    server_workers: int = 1,
    client_workers: int = 1,
    seed: int = 0,
) -> dict[str, Any]:
    db = make_engine(settings)
    ids = scored_members(db, members)
    if not ids:
        raise NotEnoughData(
            f"no scored members in {settings.data_dir}: run `make demo` (or `nextbest demo`)"
        )
    text = generate_catalogue(actions=actions, channels=CHANNELS, seed=seed)
    catalogue = parse_catalogue(text, source="bench")
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    facts = member_facts(db, ids, start)
    times = moments(decisions, start, seed)
    engine = DecisionEngine(catalogue)
    for i in range(min(500, decisions)):  # warm caches (learner stack, zone objects)
        engine.decide(facts[i % len(facts)], Request(at=times[i], seed=i), {})
    lat, shape = _engine_latency(engine, facts, times)
    where = _profile(engine, facts, times[: min(5000, decisions)])

    service = DecisionService(
        db,
        catalogue,
        budget=MemoryBudget(),
        log=DecisionLog(db, flush_seconds=0.5),
        facts_ttl=3600,
    )
    for f in facts:
        service.facts.put(f)
    svc_times = times[: min(decisions, 10_000)]
    svc_lat = _service_latency(service, ids, svc_times)
    service.close()

    out: dict[str, Any] = {
        "catalogue": {
            "actions": len(catalogue.actions),
            "channels": len(CHANNELS),
            "version": catalogue.version,
        },
        "members": len(ids),
        "decisions": len(times),
        "engine": {
            "p50_us": _percentile(lat, 0.50),
            "p99_us": _percentile(lat, 0.99),
            "mean_us": sum(lat) / len(lat),
            **shape,
        },
        "service": {
            "p50_us": _percentile(svc_lat, 0.50),
            "p99_us": _percentile(svc_lat, 0.99),
            "mean_us": sum(svc_lat) / len(svc_lat),
            "decisions": len(svc_lat),
        },
        "where_time_goes": where,
        "machine": {"cpus": os.cpu_count()},
    }
    if http:
        out["http"] = _http(
            settings,
            text,
            ids,
            times,
            duration_s=duration_s,
            connections=connections,
            server_workers=server_workers,
            client_workers=client_workers,
        )
    return out


def warm_up(url: str, ids: Sequence[str]) -> None:
    """Decide once for each member through ``/v1/decisions/batch`` so the server's facts and
    identifier caches hold them before the clock starts."""
    body = orjson.dumps({"members": list(ids), "limit": max(1, len(ids))})
    req = urllib.request.Request(
        url + "/v1/decisions/batch",
        data=body,
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=600) as resp:
        resp.read()


def _http(
    settings: Settings,
    catalogue_text: str,
    ids: Sequence[str],
    times: Sequence[datetime],
    *,
    duration_s: float,
    connections: int,
    server_workers: int,
    client_workers: int,
) -> dict[str, Any]:
    bodies = [
        orjson.dumps(
            {
                "member": ids[i % len(ids)],
                "context": {"at": at.isoformat()},
                "seed": i,
            }
        )
        for i, at in enumerate(times[:5000])
    ]
    with tempfile.TemporaryDirectory(prefix="nextbest-bench-decide-") as tmp:
        path = Path(tmp) / "catalogue.yaml"
        path.write_text(catalogue_text)
        env: dict[str, str | None] = {
            "NEXTBEST_DATA_DIR": str(settings.data_dir),
            "NEXTBEST_DATABASE_URL": settings.database_url,
            "NEXTBEST_REDIS_URL": settings.redis_url,
            "NEXTBEST_API_REQUIRE_KEYS": "false",
            "NEXTBEST_DECIDE_CATALOGUE": str(path),
            "NEXTBEST_DECIDE_FACTS_TTL": "3600",
        }
        with serve("nextbest.api.app:from_env", env, workers=server_workers) as url:
            # Every member once first (one batch call): facts are cached, as for a busy till.
            warm_up(url, ids)
            ours = run_load(
                url,
                "/v1/decisions",
                bodies,
                connections=connections,
                workers=client_workers,
                duration_s=duration_s,
                warmup_s=1.0,
            )
        with serve("nextbest.bench.decide_peer:bare_app", {}, workers=server_workers) as url:
            peer = run_load(
                url,
                "/v1/decisions",
                bodies,
                connections=connections,
                workers=client_workers,
                duration_s=duration_s,
                warmup_s=1.0,
            )
    return {
        "connections": connections,
        "server_workers": server_workers,
        "client_workers": client_workers,
        "budget": "redis" if settings.redis_url else "database",
        "nextbest": ours.as_dict(),
        "bare_fastapi": peer.as_dict(),
        "throughput_ratio": ours.rps / peer.rps if peer.rps else None,
    }
