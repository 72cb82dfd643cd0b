"""The experiments report over a real store (SQLite and PostgreSQL): a journey's holdout and
the universal holdout, with outcomes from events and the ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from nextbest.config import Settings
from nextbest.decide.engine import in_holdout
from nextbest.experiments.report import (
    ExperimentReport,
    MetricRow,
    Plan,
    experiments_report,
    lift_chart,
)
from nextbest.journeys.definition import parse_journey
from nextbest.journeys.stats import journey_stats
from nextbest.store import tables as t
from nextbest.store.engine import make_engine, upgrade, write_transaction

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=60)
MEMBERS = 120
JOURNEY = """
journey: welcome
name: Welcome
trigger: {event: signup}
goal: {event: purchase, within_days: 7}
holdout: 0.5
steps:
  - {id: hello, send: {channel: email, template: welcome, purpose: loyalty}}
"""
BROKEN = JOURNEY.replace("journey: welcome", "journey: broken").replace("0.5", "0.1")


def _event(member: str, kind: str, at: datetime, n: int, **payload: Any) -> dict[str, Any]:
    return {
        "event_id": f"{member}-{kind}-{n}",
        "type": kind,
        "schema_version": 1,
        "occurred_at": at,
        "received_at": at,
        "source": "test",
        "member_id": member,
        "payload": json.dumps({"type": kind, **payload}),
    }


def _instance(journey: str, version: str, member: str, held: bool, goal: bool) -> dict[str, Any]:
    return {
        "instance_id": f"{journey}-{member}",
        "journey_id": journey,
        "version": version,
        "member_id": member,
        "status": "done",
        "step": None,
        "seq": 1,
        "due_at": None,
        "waiting_for": None,
        "holdout": int(held),
        "vars": "{}",
        "entered_at": T0,
        "updated_at": T0,
        "ended_at": T0,
        "exit_reason": None,
        "goal_at": T0 + timedelta(days=2) if goal else None,
    }


def _store(engine: Engine) -> dict[str, dict[str, float]]:
    """Members with a pre-period purchase, some buying again in the window; the treated buy
    more. Returns the expected revenue per member by arm of the journey."""
    welcome, broken = parse_journey(JOURNEY), parse_journey(BROKEN)
    events, instances, decisions, entries = [], [], [], []
    expected: dict[str, dict[str, float]] = {"treated": {}, "holdout": {}}
    for i in range(MEMBERS):
        m = f"m_{i:03d}"
        held = in_holdout(m, 0.5, salt="journey:welcome")
        pre = 5.0 + (i % 10) * 4.0
        events.append(_event(m, "purchase", T0 - timedelta(days=5), 0, total=pre))
        post = 0.0
        if i % 3:
            post = pre + (0.0 if held else 6.0)
            events.append(_event(m, "purchase", T0 + timedelta(days=3), 1, total=post))
        events.append(_event(m, "purchase", T0 + timedelta(days=45), 2, total=99.0))  # late
        if i % 17 == 0:
            events.append(_event(m, "message_unsubscribed", T0 + timedelta(days=1), 3))
        expected["holdout" if held else "treated"][m] = post
        instances.append(
            _instance("welcome", welcome.version, m, held, i % (5 if held else 2) == 0)
        )
        instances.append(_instance("broken", broken.version, m, i % 2 == 0, False))
        decisions.append(
            {
                "decision_id": f"d_{m}",
                "request_key": None,
                "member_id": m,
                "decided_at": T0,
                "action_id": "nothing" if in_holdout(m, 0.1) else "bonus",
                "channel": None,
                "send_at": None,
                "propensity": 1.0,
                "holdout": int(in_holdout(m, 0.1)),
                "contacted": 0,
                "catalogue_version": "c1",
                "policy_version": "p1",
                "record": "{}",
                "reward": None,
                "rewarded_at": None,
            }
        )
        if i % 4 == 0:
            entries.append(
                {
                    "entry_id": f"e_{m}",
                    "idempotency_key": f"k_{m}",
                    "kind": "adjust",
                    "member_id": m,
                    "occurred_at": T0 + timedelta(days=1),
                    "recorded_at": T0 + timedelta(days=1),
                    "program_version": None,
                    "reference": None,
                    "reverses": None,
                    "actor": "test",
                    "reason": "welcome bonus",
                    "day": None,
                    "points": 100,
                    "request_hash": "h",
                    "detail": "{}",
                }
            )
    # One member decided for yesterday: its window is still open, so it is not measured.
    late = dict(decisions[0], decision_id="d_late", member_id="m_late", decided_at=NOW)
    with write_transaction(engine) as conn:
        conn.execute(insert(t.events), events)
        conn.execute(insert(t.journey_instances), instances)
        conn.execute(insert(t.decisions), [*decisions, late])
        conn.execute(insert(t.ledger_entries), entries)
        conn.execute(
            insert(t.journey_versions),
            [
                {
                    "journey_id": j.id,
                    "version": j.version,
                    "source": j.source,
                    "active": 1,
                    "applied_at": T0,
                }
                for j in (welcome, broken)
            ],
        )
    return expected


def _rows(report: ExperimentReport) -> dict[str, MetricRow]:
    return {r.metric: r for r in report.rows}


@pytest.fixture
def reports(engine: Engine) -> tuple[dict[str, ExperimentReport], dict[str, dict[str, float]]]:
    expected = _store(engine)
    got = experiments_report(engine, now=NOW, plan=Plan(window_days=30), holdout_share=0.1)
    return {r.experiment: r for r in got}, expected


def test_a_journeys_holdout_is_measured_per_metric(
    engine: Engine, reports: tuple[dict[str, ExperimentReport], dict[str, dict[str, float]]]
) -> None:
    by_id, expected = reports
    assert set(by_id) == {"journey:welcome", "journey:broken", "decisions:universal"}
    welcome = by_id["journey:welcome"]
    assert (welcome.treated, welcome.holdout) == (
        len(expected["treated"]),
        len(expected["holdout"]),
    )
    assert welcome.srm is not None and not welcome.srm.flagged
    rows = _rows(welcome)
    assert list(rows) == [
        "goal",
        "conversion",
        "revenue",
        "points_cost",
        "net_profit",
        "unsubscribes",
    ]
    revenue = rows["revenue"]
    mean_t = sum(expected["treated"].values()) / len(expected["treated"])
    mean_c = sum(expected["holdout"].values()) / len(expected["holdout"])
    assert revenue.mean_treatment == pytest.approx(mean_t)  # the late purchase is outside
    assert revenue.mean_control == pytest.approx(mean_c)
    assert revenue.lift == pytest.approx(mean_t - mean_c)
    assert revenue.ci[0] < revenue.lift < revenue.ci[1]
    # The pre-period explains part of the revenue: CUPED narrows the interval.
    assert revenue.variance_reduction > 0.1
    assert revenue.cuped_ci[1] - revenue.cuped_ci[0] < revenue.ci[1] - revenue.ci[0]
    assert 0.5 < revenue.p_beat <= 1.0
    points = rows["points_cost"]
    assert points.mean_treatment + points.mean_control > 0
    assert rows["net_profit"].lift == pytest.approx(revenue.lift - points.lift)
    # 120 members cannot reach the horizon for a 10% effect: no call.
    assert {r.verdict for r in rows.values()} == {"too early"}
    assert "treated" in revenue.horizon


def test_the_goal_row_agrees_with_journey_stats(
    engine: Engine, reports: tuple[dict[str, ExperimentReport], dict[str, dict[str, float]]]
) -> None:
    goal = _rows(reports[0]["journey:welcome"])["goal"]
    stats = journey_stats(engine, parse_journey(JOURNEY))
    assert stats.lift is not None and stats.lift_ci is not None
    assert goal.lift == pytest.approx(stats.lift)
    assert goal.ci == pytest.approx(stats.lift_ci, rel=1e-6)


def test_a_broken_split_is_flagged_and_never_called(
    reports: tuple[dict[str, ExperimentReport], dict[str, dict[str, float]]],
) -> None:
    broken = reports[0]["journey:broken"]
    assert broken.srm is not None and broken.srm.flagged
    assert {r.verdict for r in broken.rows} == {"sample ratio mismatch"}
    assert "goal" in _rows(broken)


def test_the_universal_holdout_counts_only_closed_windows(
    reports: tuple[dict[str, ExperimentReport], dict[str, dict[str, float]]],
) -> None:
    universal = reports[0]["decisions:universal"]
    assert universal.treated + universal.holdout == MEMBERS + 1
    assert universal.measured == MEMBERS
    rows = _rows(universal)
    assert "goal" not in rows
    assert rows["revenue"].n_treatment + rows["revenue"].n_control == MEMBERS
    assert universal.srm is not None and not universal.srm.flagged


def test_chart_and_json(
    tmp_path: Path,
    reports: tuple[dict[str, ExperimentReport], dict[str, dict[str, float]]],
) -> None:
    for report in reports[0].values():
        path = tmp_path / f"{report.experiment.replace(':', '_')}.png"
        lift_chart(report, str(path))
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        again = json.loads(json.dumps(report.as_dict(), default=str))
        assert again["experiment"] == report.experiment
        assert len(again["rows"]) == len(report.rows)


def test_an_empty_store_has_no_experiments(engine: Engine) -> None:
    assert experiments_report(engine, now=NOW) == []


def test_the_command_prints_the_report(settings: Settings, tmp_path: Path) -> None:
    # The embedded store by its URL (the PostgreSQL fixture's schema is a connect option,
    # not part of a URL; the report itself runs on both above).
    engine = make_engine(settings)
    upgrade(engine)
    from typer.testing import CliRunner

    from nextbest.cli.experiments import app

    _store(engine)
    url = engine.url.render_as_string(hide_password=False)
    at = ["--at", NOW.strftime("%Y-%m-%d %H:%M:%S")]
    out = CliRunner().invoke(app, ["--database-url", url, "--json", "--chart", str(tmp_path), *at])
    assert out.exit_code == 0, out.output
    got = json.loads(out.output)
    assert {e["experiment"] for e in got["experiments"]} >= {"journey:welcome"}
    assert (tmp_path / "journey_welcome.png").exists()
    rows = {e["experiment"]: e["rows"] for e in got["experiments"]}
    assert {r["verdict"] for r in rows["journey:welcome"]} == {"too early"}
    table = CliRunner().invoke(app, ["--database-url", url, *at], env={"COLUMNS": "220"})
    assert table.exit_code == 0, table.output
    assert "journey:welcome" in table.output
    assert "too early" in table.output
