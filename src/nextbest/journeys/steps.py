"""One step of one member's journey, decided purely: what to do and where to go next.

``run_step`` takes the instance's state and the moment and returns an ``Advance``: the
effects to carry out (a send, a decision, a grant, a profile update), the next step and when
it is due. The runner gives every effect the key ``j:<instance>:<seq>``: a step re-run after
a crash repeats the same keys, so the outbox, the ledger and the decision log do it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from nextbest.decide.hashing import pick, unit_uniform
from nextbest.journeys.definition import Journey, Step

ACTIVE, DONE, EXITED, HOLDOUT = "active", "done", "exited", "holdout"


@dataclass(frozen=True, slots=True)
class Effect:
    kind: str  # send, decide, grant, update
    spec: Any


@dataclass(frozen=True, slots=True)
class Advance:
    step: str | None
    status: str
    due_at: float | None
    waiting_for: str | None
    outcome: str
    vars: dict[str, Any]
    effects: tuple[Effect, ...] = ()
    exit_reason: str | None = None
    done: bool = field(default=False)  # the instance stops moving until a timer or event


def arm(instance_id: str, step_id: str, shares: list[float]) -> int:
    """A stable random split: the same member and step always take the same arm.

    >>> [arm("i1", "s", [0.5, 0.5]) for _ in range(3)]
    [1, 1, 1]
    """
    return pick(unit_uniform(instance_id, step_id), shares)


def next_local(local_now: datetime, hhmm: str) -> datetime:
    """The next moment at ``hhmm`` local time strictly after ``local_now``.

    >>> next_local(datetime(2026, 1, 1, 10, 0), "09:00")
    datetime.datetime(2026, 1, 2, 9, 0)
    """
    hour, minute = (int(p) for p in hhmm.split(":"))
    at = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return at if at > local_now else at + timedelta(days=1)


def _go(
    step: str | None, now: float, vars_: dict[str, Any], outcome: str, *effects: Effect
) -> Advance:
    if step is None:
        return Advance(None, DONE, None, None, outcome, vars_, effects, done=True)
    return Advance(step, ACTIVE, now, None, outcome, vars_, effects)


def run_step(
    journey: Journey,
    step: Step,
    *,
    instance_id: str,
    env: Mapping[str, Any],
    vars_: Mapping[str, Any],
    now: datetime,
    local_now: datetime,
) -> Advance:
    """The step's effects and the instance's next state."""
    ts = now.timestamp()
    v = dict(vars_)
    kind, spec = step.kind, step.spec
    if kind == "wait":
        if v.get("armed") != step.id:
            v["armed"] = step.id
            v.pop("woke", None)
            if spec.until:
                due = next_local(local_now, spec.until).timestamp()
            else:
                due = ts + (spec.hours or 0.0) * 3600.0 + (spec.days or 0.0) * 86400.0
            return Advance(step.id, ACTIVE, due, spec.event, "waiting", v, done=True)
        woke = v.pop("woke", None)
        v.pop("armed", None)
        if spec.event and woke != spec.event:
            return _go(spec.timeout or step.next, ts, v, f"timed out waiting for {spec.event}")
        return _go(step.next, ts, v, f"{spec.event} came" if spec.event else "waited")
    if kind == "branch":
        assert step.when is not None
        ok = step.when.holds({**env, "vars": v})
        return _go(spec.then if ok else spec.otherwise, ts, v, f"branch {'then' if ok else 'else'}")
    if kind == "split":
        i = arm(instance_id, step.id, [a.share for a in spec])
        v.setdefault("arms", {})[step.id] = i
        return _go(spec[i].next, ts, v, f"arm {i}")
    if kind == "exit":
        return Advance(None, EXITED, None, None, f"exit: {spec}", v, exit_reason=spec, done=True)
    outcome = {
        "send": lambda: f"send {spec.template} on {spec.channel}",
        "decide": lambda: f"decide among {', '.join(spec.actions)}",
        "grant": lambda: f"grant {spec.points} points",
        "update": lambda: f"update {', '.join(spec)}",
    }[kind]()
    return _go(step.next, ts, v, outcome, Effect(kind, spec))
