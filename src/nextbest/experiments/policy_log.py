"""Read the decision log as ``policy_eval.LoggedDecision`` rows: rewarded, drawn decisions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Engine, select

from nextbest.experiments.policy_eval import LoggedDecision, Option, option_key
from nextbest.store import tables as t


@dataclass(frozen=True, slots=True)
class LoadedLog:
    decisions: list[LoggedDecision]
    unsettled: int  # no reward yet: their outcome window is open
    holdout: int  # the universal holdout: not drawn by the engine
    unreadable: int  # a record without its chosen candidate or a positive propensity


def load_logged(
    db: Engine, *, since: datetime | None = None, until: datetime | None = None
) -> LoadedLog:
    d = t.decisions.c
    q = select(d.decision_id, d.action_id, d.channel, d.propensity, d.holdout, d.reward, d.record)
    if since is not None:
        q = q.where(d.decided_at >= since)
    if until is not None:
        q = q.where(d.decided_at < until)
    out: list[LoggedDecision] = []
    unsettled = holdout = unreadable = 0
    with db.connect() as conn:
        for row in conn.execute(q.order_by(d.decided_at, d.decision_id)):
            if row.holdout:
                holdout += 1
                continue
            if row.reward is None:
                unsettled += 1
                continue
            got = _decision(row)
            if got is None:
                unreadable += 1
                continue
            out.append(got)
    return LoadedLog(out, unsettled, holdout, unreadable)


def _decision(row: Any) -> LoggedDecision | None:
    record = orjson.loads(row.record)
    options = tuple(
        Option(
            key=option_key(c["action"], c.get("channel")),
            score=float(c.get("score", 0.0)),
            propensity=float(c.get("propensity", 0.0)),
        )
        for c in record.get("candidates", [])
        if "filtered" not in c
    )
    chosen = option_key(row.action_id, row.channel)
    if row.propensity <= 0 or chosen not in {o.key for o in options}:
        return None
    return LoggedDecision(
        decision_id=row.decision_id,
        chosen=chosen,
        propensity=float(row.propensity),
        reward=float(row.reward),
        options=options,
    )
