"""Learning from outcomes: credit each decision with what followed within its window.

A decision's outcome is settled once its window (``learning.outcome_window_hours`` after the
send) has closed: the member's message events carrying the decision id as ``message_id``,
redemptions of the action's offer, and purchases. The reward is 1 when the member converted
(redeemed the offer or purchased) and 0 otherwise. The learner then moves the chosen action's
response model by the reward minus the catalogue's prior for that member (re-evaluated on
the logged facts); decisions to do nothing teach the control arm against the baselines of
the actions that competed. Settling, crediting and the new posterior commit together, so
running it twice learns nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, insert, select, text, update

from nextbest.decide.actions import Action, Catalogue
from nextbest.decide.expressions import Expression
from nextbest.decide.learner import CONTROL, FEATURES, Learner
from nextbest.decide.service import POLICY
from nextbest.identity.repository import as_utc
from nextbest.store import tables as t
from nextbest.store.bulk import upsert_rows
from nextbest.store.engine import is_postgres, write_transaction

OUTCOME_TYPES = (
    "message_delivered",
    "message_opened",
    "message_clicked",
    "offer_redeemed",
    "purchase",
)
CONVERSIONS = frozenset({"offer_redeemed", "purchase"})
ENGAGEMENT = FEATURES.index("engagement")
LEARN_LOCK = 0x6E626C6E  # PostgreSQL advisory lock id of the learning run


@dataclass
class LearnReport:
    settled: int = 0
    converted: int = 0
    outcomes: int = 0
    learned: int = 0
    skipped: int = 0  # settled without learning: holdout, or an action no longer in the file
    learner_version: int = 0
    by_action: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "settled": self.settled,
            "converted": self.converted,
            "outcomes": self.outcomes,
            "learned": self.learned,
            "skipped": self.skipped,
            "learner_version": self.learner_version,
            "by_action": self.by_action,
        }


def _credited(
    row: Any, action: Action | None, events: Sequence[Any]
) -> tuple[float, list[dict[str, Any]]]:
    """The reward and the outcome events that belong to this decision."""
    out: list[dict[str, Any]] = []
    converted = False
    for ev in events:
        payload = orjson.loads(ev.payload)
        if ev.type.startswith("message_") and payload.get("message_id") != row.decision_id:
            continue
        if ev.type == "offer_redeemed" and (
            action is None or payload.get("offer_id") != action.offer_id
        ):
            continue
        converted = converted or ev.type in CONVERSIONS
        out.append({"event_id": ev.event_id, "kind": ev.type, "at": ev.occurred_at})
    return (1.0 if converted else 0.0), out


def _number(expr: Expression | None, env: dict[str, Any]) -> float:
    v = None if expr is None else expr.evaluate(env)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0.0


def _env(record: dict[str, Any]) -> dict[str, Any]:
    facts = record.get("facts", {})
    env = dict(facts.get("env", {}))
    env["context"] = facts.get("context", {})
    return env


def learn_from_outcomes(
    db: Engine, catalogue: Catalogue, *, now: datetime, batch: int = 5000
) -> LearnReport:
    """Settle every decision whose window closed by ``now`` (up to ``batch``) and learn."""
    window = timedelta(hours=catalogue.learning.outcome_window_hours)
    report = LearnReport()
    d = t.decisions
    with write_transaction(db) as conn:
        # One learner at a time: two runs must not settle the same decisions or overwrite
        # each other's posterior (SQLite's write transaction already serialises them).
        if is_postgres(db):
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LEARN_LOCK})
        saved = conn.execute(
            select(t.policy_states.c.state).where(t.policy_states.c.policy == POLICY)
        ).scalar_one_or_none()
        learner = (
            Learner.from_dict(orjson.loads(saved))
            if saved is not None
            else Learner(prior_strength=catalogue.learning.prior_strength)
        )
        rows = conn.execute(
            select(d)
            .where(d.c.reward.is_(None), d.c.decided_at <= now - window)
            .order_by(d.c.decided_at, d.c.decision_id)
            .limit(batch)
        ).all()
        credits: list[dict[str, Any]] = []
        for row in rows:
            start = as_utc(row.send_at or row.decided_at)
            events = conn.execute(
                select(
                    t.events.c.event_id, t.events.c.type, t.events.c.payload, t.events.c.occurred_at
                )
                .where(
                    t.events.c.member_id == row.member_id,
                    t.events.c.type.in_(OUTCOME_TYPES),
                    t.events.c.occurred_at >= as_utc(row.decided_at),
                    t.events.c.occurred_at <= start + window,
                )
                .order_by(t.events.c.occurred_at)
            ).all()
            action = _action(catalogue, row.action_id)
            reward, credited = _credited(row, action, events)
            record = orjson.loads(row.record)
            stats = report.by_action.setdefault(row.action_id, {"settled": 0, "converted": 0})
            stats["settled"] += 1
            stats["converted"] += int(reward > 0)
            report.settled += 1
            report.converted += int(reward > 0)
            report.outcomes += len(credited)
            if _teach(learner, catalogue, row, action, record, reward):
                report.learned += 1
            else:
                report.skipped += 1
            conn.execute(
                update(d)
                .where(d.c.decision_id == row.decision_id)
                .values(reward=reward, rewarded_at=now)
            )
            credits.extend(
                {
                    "event_id": c["event_id"],
                    "decision_id": row.decision_id,
                    "kind": c["kind"],
                    "reward": reward,
                    "occurred_at": as_utc(c["at"]),
                }
                for c in credited
            )
        if credits:
            # An event credits one decision: the earliest one that claims it.
            taken = set(
                conn.execute(
                    select(t.decision_outcomes.c.event_id).where(
                        t.decision_outcomes.c.event_id.in_({c["event_id"] for c in credits})
                    )
                ).scalars()
            )
            fresh: dict[str, dict[str, Any]] = {}
            for c in credits:
                if c["event_id"] not in taken:
                    fresh.setdefault(c["event_id"], c)
            if fresh:
                conn.execute(insert(t.decision_outcomes), list(fresh.values()))
        if report.learned:
            upsert_rows(
                conn,
                t.policy_states,
                ("policy", "version", "state", "updated_at"),
                [(POLICY, learner.version, orjson.dumps(learner.to_dict()).decode(), now)],
                key=("policy",),
            )
        report.learner_version = learner.version
    return report


def _action(catalogue: Catalogue, action_id: str) -> Action | None:
    return next((a for a in catalogue.actions if a.id == action_id), None)


def _teach(
    learner: Learner,
    catalogue: Catalogue,
    row: Any,
    action: Action | None,
    record: dict[str, Any],
    reward: float,
) -> bool:
    if row.holdout or action is None:
        return False
    return teach_outcome(learner, catalogue, action, record, reward)


def teach_outcome(
    learner: Learner,
    catalogue: Catalogue,
    action: Action,
    record: dict[str, Any],
    reward: float,
) -> bool:
    """Move the learner by one settled decision (its logged ``record``); False when the
    record holds nothing to learn from. Pure: the caller persists the learner."""
    x = record.get("features") or []
    if not x:
        return False
    env = _env(record)
    candidates = [c for c in record.get("candidates", []) if "filtered" not in c]
    if action.kind != "nothing":
        # A treated member converts at p_control + seen * (p_treated - p_control): the
        # message works only when seen. The correction moves p_treated, so it learns at
        # features scaled by ``seen`` from what the logged p_control and prior leave over
        # (with seen = 1 this is reward minus the prior's response).
        chosen: dict[str, Any] = next((c for c in candidates if c.get("action") == action.id), {})
        seen = float(chosen.get("seen", 1.0))
        response = _number(action.response, env)
        p_ctrl = float(chosen.get("p_control", response))
        residual = reward - p_ctrl - seen * (response - p_ctrl)
        learner.learn(action.id, [seen * v for v in x], residual)
        return True
    # Doing nothing shows the control outcome of every rival, each scored at its own
    # channel's engagement: teach the control there, the outcome shared between them.
    rivals = [
        (c, a)
        for c in candidates
        if (a := _action(catalogue, c["action"])) is not None and a.kind != "nothing"
    ]
    if not rivals:
        return False
    for c, a in rivals:
        at = [*x[:ENGAGEMENT], float(c.get("seen", x[ENGAGEMENT])), *x[ENGAGEMENT + 1 :]]
        residual = reward - _number(a.baseline, env)
        learner.learn(CONTROL, at, residual, weight=1.0 / len(rivals))
    return True
