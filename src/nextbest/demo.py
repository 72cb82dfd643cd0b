"""The demo use case: simulate, ingest, resolve identities, link members, audit, summarise.

It reuses earlier work in the data folder: the simulation is kept while its config is
unchanged, and ingestion is idempotent, so a second ``make demo`` starts serving quickly.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import Engine

from nextbest.analytics.scoring import NotEnoughData, ScoringReport, run_scoring
from nextbest.audit.html import render_html
from nextbest.audit.model import AuditReport
from nextbest.audit.run import audit_store
from nextbest.config import Settings
from nextbest.decide.engine import Request
from nextbest.decide.log import DecisionLog
from nextbest.decide.segments import segment_members
from nextbest.decide.service import DecisionService, budget_for, default_catalogue
from nextbest.identity.quality import identity_quality
from nextbest.ingest.records import IngestReport
from nextbest.ingest.service import ingest_file
from nextbest.ledger.check import check_ledger
from nextbest.ledger.liability_chart import write_liability_chart
from nextbest.ledger.program import parse_program
from nextbest.ledger.reporting import lot_flows, run_liability
from nextbest.ledger.repository import active_program, save_program
from nextbest.ledger.service import Ledger
from nextbest.members.link import LinkRun, link_members
from nextbest.members.quality import merge_quality
from nextbest.sim import SimConfig, simulate_to_dir
from nextbest.store.engine import write_transaction


@dataclass(frozen=True, slots=True)
class DemoResult:
    sim_dir: Path
    simulated: bool
    sim_seconds: float
    ingest: IngestReport
    ingest_seconds: float
    summary: dict[str, Any]
    link: LinkRun | None = None  # None: nothing new to link since the last run
    audit: AuditReport | None = None
    audit_html: Path | None = None
    identity_before_link: dict[str, Any] | None = None  # the deterministic graph's scores
    points: dict[str, Any] | None = None  # the ledger: totals, tiers, liability, backtest
    liability_chart: Path | None = None
    scoring: ScoringReport | None = None  # stages 1 and 2: RFM, BTYD, churn, value, ...
    rfm_chart: Path | None = None
    actions: dict[str, Any] | None = None  # stage 3: next best actions for scored members


def ensure_simulation(config: SimConfig, sim_dir: Path) -> tuple[bool, float]:
    """Simulate into ``sim_dir`` unless an identical run is already there."""
    marker = sim_dir / "config.json"
    wanted = json.dumps(asdict(config), default=str, sort_keys=True)
    if marker.exists() and marker.read_text() == wanted:
        return False, 0.0
    if sim_dir.exists():
        shutil.rmtree(sim_dir)
    started = time.perf_counter()
    simulate_to_dir(config, sim_dir, "parquet")
    marker.write_text(wanted)
    return True, time.perf_counter() - started


def run_demo(
    engine: Engine,
    settings: Settings,
    config: SimConfig,
    *,
    on_file: Callable[[Path], Callable[[int], None] | None] | None = None,
    on_stage: Callable[[str], None] = lambda _: None,
) -> DemoResult:
    sim_dir = settings.data_dir / "sim"
    simulated, sim_seconds = ensure_simulation(config, sim_dir)
    ensure_program(engine, DEMO_PROGRAM)  # before ingesting: purchases earn as they arrive
    total = IngestReport()
    started = time.perf_counter()
    parts = sorted((sim_dir / "events").glob("events-*.parquet"))
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
    if simulated or _stored_events(engine) < rows:
        for part in parts:
            progress = on_file(part) if on_file else None
            total.add(ingest_file(engine, settings, part, fmt="parquet", progress=progress))
    else:  # same simulation, all stored: re-ingesting would only find duplicates
        total.duplicates = rows
    ingest_seconds = time.perf_counter() - started
    truth = sim_dir / "truth" / "records.parquet"
    before = summarise(engine, truth)
    link = link_members(engine, settings, actor="demo") if total.accepted else None
    # Judge the snapshot on its own dates: the simulated history ends before today.
    report = audit_store(engine, settings, as_of=datetime.combine(config.end, dt_time(), UTC))
    html = settings.data_dir / "audit.html"
    html.write_text(render_html(report), encoding="utf-8")
    summary = summarise(engine, truth) if link is not None else before
    end = datetime.combine(config.end, dt_time(), UTC)
    Ledger(engine, clock=lambda: end).run_due(as_of=end)  # the daily job, on the last day
    chart = settings.data_dir / "liability.png"
    points = points_summary(engine, as_of=end, chart=chart)
    rfm_chart = settings.data_dir / "rfm.png"
    try:
        scoring: ScoringReport | None = run_scoring(
            settings, engine=engine, rfm_chart=rfm_chart, progress=on_stage
        )
    except NotEnoughData:
        scoring = None
    on_stage("next best actions")
    actions = next_best_actions(engine, settings, at=end) if scoring is not None else None
    return DemoResult(
        sim_dir=sim_dir,
        simulated=simulated,
        sim_seconds=sim_seconds,
        ingest=total,
        ingest_seconds=ingest_seconds,
        summary=summary,
        link=link,
        audit=report,
        audit_html=html,
        identity_before_link=before.get("identity") if link is not None else None,
        points=points,
        liability_chart=chart,
        scoring=scoring,
        rfm_chart=rfm_chart,
        actions=actions,
    )


def next_best_actions(
    engine: Engine, settings: Settings, *, at: datetime, limit: int = 1000
) -> dict[str, Any]:
    """Stage 3 on the demo: the next best action for scored members at the snapshot's end,
    each decision logged with its slots taken. The request key names the day, so a re-run
    replays the logged decisions instead of deciding (and contacting) twice."""
    service = DecisionService(
        engine,
        default_catalogue(settings.effective_catalogue_path()),
        budget=budget_for(settings, engine),
        log=DecisionLog(engine, flush_seconds=0),
        facts_ttl=0,
        region=settings.default_region,
    )
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            members = segment_members(conn, score="rfm", limit=limit)
        views = [
            service.decide(
                m, Request(at=at, key=f"demo:{at.isoformat()}:{m}"), explain=False, resolved=True
            )
            for m in members
        ]
    finally:
        service.close()
    by_action: dict[str, int] = {}
    by_channel: dict[str, int] = {}
    for v in views:
        by_action[v["action"]["id"]] = by_action.get(v["action"]["id"], 0) + 1
        if v["contacts"]:
            by_channel[v["channel"]] = by_channel.get(v["channel"], 0) + 1
    return {
        "at": at.isoformat(),
        "members": len(views),
        "contacts": sum(bool(v["contacts"]) for v in views),
        "holdout": sum(bool(v["holdout"]) for v in views),
        "replayed": sum(bool(v.get("replayed")) for v in views),
        "by_action": dict(sorted(by_action.items(), key=lambda kv: -kv[1])),
        "by_channel": dict(sorted(by_channel.items(), key=lambda kv: -kv[1])),
        "seconds": time.perf_counter() - started,
    }


DEMO_PROGRAM = Path(__file__).parent / "ledger" / "programs" / "bean_and_bake.yaml"


def ensure_program(engine: Engine, path: Path) -> None:
    """Apply the demo program unless a program is already active (the user's own wins)."""
    with write_transaction(engine) as conn:
        if active_program(conn) is None:
            source = path.read_text(encoding="utf-8")
            save_program(
                conn,
                parse_program(source, source=str(path)),
                source=source,
                actor="demo",
                now=datetime.now(UTC),
            )


def points_summary(engine: Engine, *, as_of: datetime, chart: Path) -> dict[str, Any]:
    """What the ledger holds after the demo: movements, tiers, liability, breakage backtest."""
    with engine.connect() as conn:
        program = active_program(conn)
        assert program is not None
        moved: dict[str, Any] = dict(
            conn.exec_driver_sql(
                "SELECT kind, -SUM(points) FROM ledger_entries GROUP BY kind"
            ).all()
        )
        refused = conn.exec_driver_sql(
            "SELECT count(*) FROM ledger_entries WHERE kind = 'refused'"
        ).scalar_one()
        tiers: dict[Any, Any] = dict(
            conn.exec_driver_sql(
                "SELECT tier, count(*) FROM ledger_tiers GROUP BY tier ORDER BY 2 DESC"
            ).all()
        )
        problems = check_ledger(conn)
        lots = lot_flows(conn, program)
    run = run_liability(lots, program, as_of=as_of)
    write_liability_chart(run.report, chart, model=run.model)
    return {
        "program": f"{program.name} ({program.version})",
        "currency": program.points.spendable,
        "earned": -int(moved.get("earn", 0) or 0),
        "redeemed": int(moved.get("burn", 0) or 0),
        "expired": int(moved.get("expire", 0) or 0),
        "clawed_back": int(moved.get("clawback", 0) or 0),
        "refused_redemptions": int(refused),
        "tiers": {str(k): int(v) for k, v in tiers.items()},
        "ledger_balances": not problems,
        "liability": run.to_dict(),
        "as_of": as_of.date().isoformat(),
    }


def _stored_events(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM events").scalar_one())


def summarise(engine: Engine, truth: Path | None = None) -> dict[str, Any]:
    """Members, events by source and type, dead letters and, with a truth file, match quality."""
    with engine.connect() as conn:

        def scalar(sql: str) -> int:
            return int(conn.exec_driver_sql(sql).scalar_one())

        out: dict[str, Any] = {
            "members": scalar("SELECT count(*) FROM members WHERE merged_into IS NULL"),
            "merged_members": scalar("SELECT count(*) FROM members WHERE merged_into IS NOT NULL"),
            "identifiers": scalar("SELECT count(*) FROM identifiers"),
            "events": scalar("SELECT count(*) FROM events"),
            "anonymous_events": scalar("SELECT count(*) FROM events WHERE member_id IS NULL"),
            "dead_letters": scalar("SELECT count(*) FROM dead_letters"),
            "profiles_with_purchases": scalar(
                "SELECT count(*) FROM profiles WHERE purchase_count > 0"
            ),
        }
        out["events_by_source"] = dict(
            conn.exec_driver_sql(
                "SELECT source, count(*) FROM events GROUP BY source ORDER BY 2 DESC"
            ).all()
        )
    if truth is not None and truth.exists():
        out["identity"] = identity_quality(engine, truth)
        out["linking"] = merge_quality(engine, truth)
    return out
