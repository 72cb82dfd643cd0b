"""Journey analytics: entries, members reaching each step, and goal conversion against the
journey's holdout, with a normal-approximation interval on the difference."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select

from nextbest.journeys.definition import Journey
from nextbest.store import tables as t

Z95 = 1.959964


@dataclass
class JourneyStats:
    journey_id: str
    name: str
    entries: int
    treated: int
    holdout: int
    by_status: dict[str, int]
    steps: list[dict[str, Any]] = field(default_factory=list)  # step, kind, members, share
    goal_treated: float | None = None
    goal_holdout: float | None = None
    lift: float | None = None  # treated minus holdout conversion
    lift_ci: tuple[float, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def lift_interval(x1: int, n1: int, x0: int, n0: int) -> tuple[float, tuple[float, float]] | None:
    """Difference of two proportions and its 95% Wald interval (None without members).

    >>> d, (lo, hi) = lift_interval(30, 100, 20, 100)
    >>> round(d, 3), round(lo, 3), round(hi, 3)
    (0.1, -0.019, 0.219)
    """
    if n1 == 0 or n0 == 0:
        return None
    p1, p0 = x1 / n1, x0 / n0
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    d = p1 - p0
    return d, (d - Z95 * se, d + Z95 * se)


def journey_stats(db: Engine, journey: Journey) -> JourneyStats:
    ji, js = t.journey_instances, t.journey_steps
    with db.connect() as conn:
        by_status = {
            r[0]: int(r[1])
            for r in conn.execute(
                select(ji.c.status, func.count())
                .where(ji.c.journey_id == journey.id)
                .group_by(ji.c.status)
            )
        }
        groups = {
            int(r[0]): (int(r[1]), int(r[2] or 0))
            for r in conn.execute(
                select(ji.c.holdout, func.count(), func.count(ji.c.goal_at))
                .where(ji.c.journey_id == journey.id)
                .group_by(ji.c.holdout)
            )
        }
        reached = {
            r[0]: int(r[1])
            for r in conn.execute(
                select(js.c.step, func.count(func.distinct(js.c.instance_id)))
                .where(js.c.journey_id == journey.id)
                .group_by(js.c.step)
            )
        }
    n1, x1 = groups.get(0, (0, 0))
    n0, x0 = groups.get(1, (0, 0))
    out = JourneyStats(
        journey_id=journey.id,
        name=journey.name,
        entries=n1 + n0,
        treated=n1,
        holdout=n0,
        by_status=by_status,
    )
    for sid in journey.order:
        n = reached.get(sid, 0)
        out.steps.append(
            {
                "step": sid,
                "kind": journey.steps[sid].kind,
                "members": n,
                "share": n / n1 if n1 else 0.0,
            }
        )
    if journey.goal is not None:
        out.goal_treated = x1 / n1 if n1 else None
        out.goal_holdout = x0 / n0 if n0 else None
        got = lift_interval(x1, n1, x0, n0)
        if got is not None:
            out.lift, out.lift_ci = got
    return out


def funnel_chart(stats: JourneyStats, path: str) -> None:
    """Members reaching each step, as a horizontal bar chart (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{s['step']} ({s['kind']})" for s in stats.steps][::-1]
    values = [s["members"] for s in stats.steps][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(labels) + 1.5))
    ax.barh(labels, values, color="#4c72b0")
    title = f"{stats.name}: {stats.treated:,} treated, {stats.holdout:,} holdout"
    if stats.lift is not None and stats.lift_ci is not None:
        lo, hi = stats.lift_ci
        title += f"\ngoal lift {stats.lift:+.1%} (95% CI {lo:+.1%} to {hi:+.1%})"
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("members reaching the step")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
