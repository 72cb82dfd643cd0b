"""Read the experiments nextbest already runs out of the store and measure them.

Three kinds of experiment: each journey's holdout against the members it treated
(``journey_instances``); the decision engine's universal holdout against every member it
decided for (``decisions``); each journey's random ``split`` steps, arm against arm
(``journey_steps``); and the catalogue's policy experiments (A/B/n on send time,
channels, exploration or business levers), each arm against the control arm, read from the
arms the decision log recorded. The unit is the member, assigned when first seen in the
experiment (first entry, first decision). Outcomes are counted per member in a window of
``Plan.window_days`` after assignment, and the same window before it gives the pre-period
revenue CUPED adjusts with. Members whose window has not closed yet are left out, so both
arms are measured over full windows.

Metrics: ``goal`` (journeys with a goal: the journey's own goal, from ``goal_at``),
``conversion`` (any purchase in the window), ``revenue`` (sum of purchase totals),
``points_cost`` (points earned or granted in the window, times ``cost_per_point``),
``net_profit`` (``margin * revenue - points_cost``) and ``unsubscribes`` (any
``message_unsubscribed``).

The call follows the fixed horizon of :mod:`nextbest.experiments.stats`: the planned size
per arm is the one that detects a change of ``Plan.mde`` (relative) on the holdout's
observed mean at ``alpha`` and ``power``, and no metric is called before both arms reach
it, nor when the sample-ratio check fails. Past the horizon the call reads the
CUPED-adjusted interval (unbiased, and never wider in expectation). ``P(beat)`` is the
exact Beta-Binomial probability for binary metrics, the normal approximation on the
CUPED-adjusted difference for continuous ones; for costs and unsubscribes "beat" means
lower.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, select

from nextbest.experiments.assignment import SampleRatio, srm_check
from nextbest.experiments.stats import (
    Array,
    Kind,
    StatsError,
    cuped_lift,
    prob_beat_binary,
    prob_beat_normal,
    sample_size_means,
    sample_size_proportions,
    verdict,
)
from nextbest.journeys.definition import JourneyError, parse_journey
from nextbest.store import tables as t

Source = Literal["journey", "journey split", "universal holdout", "policy experiment"]
DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    kind: Kind
    higher_is_better: bool


METRICS = (
    Metric("goal", "binary", True),
    Metric("conversion", "binary", True),
    Metric("revenue", "continuous", True),
    Metric("points_cost", "continuous", False),
    Metric("net_profit", "continuous", True),
    Metric("unsubscribes", "binary", False),
)


@dataclass(frozen=True, slots=True)
class Plan:
    """How the experiments are read: window, horizon, and the money of points."""

    window_days: float = 30.0
    mde: float = 0.10  # minimum detectable effect, relative to the control's mean
    alpha: float = 0.05
    power: float = 0.8
    cost_per_point: float = 0.01
    margin: float = 1.0  # share of revenue that is profit; 1 counts revenue as profit


@dataclass(slots=True)
class Units:
    """The members of one experiment, one entry per member, in the same order everywhere."""

    experiment: str
    source: Source
    members: list[str]
    treated: npt.NDArray[np.bool_]
    start: Array  # epoch seconds of assignment
    holdout_share: float | None  # planned; None when unknown (no sample-ratio check)
    goal: Array | None = None  # journeys with a goal: 1 when the member reached it


@dataclass(frozen=True, slots=True)
class MetricRow:
    experiment: str
    metric: str
    kind: Kind
    n_treatment: int
    n_control: int
    mean_treatment: float
    mean_control: float
    lift: float
    ci: tuple[float, float]
    relative: float | None
    relative_ci: tuple[float, float] | None
    p_value: float
    cuped_lift: float
    cuped_ci: tuple[float, float]
    cuped_relative: float | None
    cuped_relative_ci: tuple[float, float] | None
    variance_reduction: float
    p_beat: float  # probability the treatment is better (lower, for costs and unsubscribes)
    planned_treatment: int | None  # the fixed horizon per arm; None: no effect to plan for
    planned_control: int | None
    horizon: str  # "reached" or "n of N per arm"
    verdict: str


@dataclass(slots=True)
class ExperimentReport:
    experiment: str
    source: Source
    treated: int  # members assigned, window closed or not
    holdout: int
    measured: int  # members whose window has closed
    holdout_share: float | None
    srm: SampleRatio | None
    rows: list[MetricRow] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["srm"] = None if self.srm is None else asdict(self.srm)
        return out


def _epoch(at: datetime) -> float:
    return (at.replace(tzinfo=UTC) if at.tzinfo is None else at).timestamp()


def _canonical(conn: Connection) -> dict[str, str]:
    """Merged-away member to its surviving member, following chains."""
    parent = {
        str(m): str(into)
        for m, into in conn.execute(
            select(t.members.c.member_id, t.members.c.merged_into).where(
                t.members.c.merged_into.is_not(None)
            )
        )
    }
    out: dict[str, str] = {}
    for m in parent:
        seen, cur = {m}, parent[m]
        while cur in parent and cur not in seen:
            seen.add(cur)
            cur = parent[cur]
        out[m] = cur
    return out


def _first_by_member(
    rows: Iterable[Sequence[Any]], canon: dict[str, str]
) -> dict[str, tuple[float, bool, bool]]:
    """member -> (first start, treated at first start, goal reached in any row)."""
    first: dict[str, tuple[float, bool, bool]] = {}
    for member, at, holdout, goal in rows:
        m = canon.get(str(member), str(member))
        start, treated = _epoch(at), not bool(holdout)
        got = first.get(m)
        reached = bool(goal) or (got is not None and got[2])
        if got is None or start < got[0]:
            first[m] = (start, treated, reached)
        else:
            first[m] = (got[0], got[1], reached)
    return first


def _units(
    experiment: str,
    source: Source,
    first: dict[str, tuple[float, bool, bool]],
    share: float | None,
    with_goal: bool,
) -> Units:
    members = sorted(first)
    return Units(
        experiment=experiment,
        source=source,
        members=members,
        treated=np.array([first[m][1] for m in members], dtype=bool),
        start=np.array([first[m][0] for m in members], dtype=np.float64),
        holdout_share=share,
        goal=np.array([float(first[m][2]) for m in members]) if with_goal else None,
    )


def journey_units(conn: Connection, canon: dict[str, str] | None = None) -> list[Units]:
    """One experiment per journey; planned share and goal from its active version."""
    canon = _canonical(conn) if canon is None else canon
    jv, ji = t.journey_versions, t.journey_instances
    defined: dict[str, tuple[float | None, bool]] = {}
    for jid, source in conn.execute(select(jv.c.journey_id, jv.c.source).where(jv.c.active == 1)):
        try:
            j = parse_journey(source)
            defined[str(jid)] = (j.holdout, j.goal is not None)
        except JourneyError:
            defined[str(jid)] = (None, False)
    by_journey: dict[str, list[tuple[Any, ...]]] = {}
    for jid, *rest in conn.execute(
        select(ji.c.journey_id, ji.c.member_id, ji.c.entered_at, ji.c.holdout, ji.c.goal_at)
    ):
        by_journey.setdefault(str(jid), []).append(tuple(rest))
    out = []
    for jid in sorted(by_journey):
        share, has_goal = defined.get(jid, (None, False))
        first = _first_by_member(by_journey[jid], canon)
        out.append(_units(f"journey:{jid}", "journey", first, share, has_goal))
    return out


def split_units(conn: Connection, canon: dict[str, str] | None = None) -> list[Units]:
    """Each random ``split`` step of a journey as an A/B/n test: every arm against the
    split's first arm, members by the arm their first pass took (``journey_steps``), the
    journey's goal as a metric. Planned shares come from the active journey file."""
    canon = _canonical(conn) if canon is None else canon
    jv, ji, js = t.journey_versions, t.journey_instances, t.journey_steps
    splits: dict[tuple[str, str], tuple[list[str], list[float], bool]] = {}
    for jid, source in conn.execute(select(jv.c.journey_id, jv.c.source).where(jv.c.active == 1)):
        try:
            j = parse_journey(source)
        except JourneyError:
            continue
        for step in j.steps.values():
            if step.kind == "split":
                arms = [str(a.next) for a in step.spec]
                splits[(str(jid), step.id)] = (
                    arms,
                    [a.share for a in step.spec],
                    j.goal is not None,
                )
    if not splits:
        return []
    rows = conn.execute(
        select(js.c.journey_id, js.c.step, js.c.outcome, js.c.at, ji.c.member_id, ji.c.goal_at)
        .join(ji, ji.c.instance_id == js.c.instance_id)
        .where(js.c.kind == "split")
    )
    # (journey, split) -> member -> (first pass, arm index, goal reached)
    first: dict[tuple[str, str], dict[str, tuple[float, int, bool]]] = {}
    for jid, step_id, outcome, at, member, goal_at in rows:
        key = (str(jid), str(step_id))
        if key not in splits or not str(outcome).startswith("arm "):
            continue
        m, start, i = canon.get(str(member), str(member)), _epoch(at), int(str(outcome)[4:])
        seen = first.setdefault(key, {})
        if m not in seen or start < seen[m][0]:
            seen[m] = (start, i, goal_at is not None)
    out: list[Units] = []
    for (jid, split), by_member in sorted(first.items()):
        arms, shares, has_goal = splits[(jid, split)]
        for i in range(1, len(arms)):
            pair = {m: (st, a == i, g) for m, (st, a, g) in by_member.items() if a in (0, i)}
            held = shares[0] / (shares[0] + shares[i])
            name = f"journey:{jid}:{split}:{arms[i]} vs {arms[0]}"
            out.append(_units(name, "journey split", pair, held, has_goal))
    return out


def universal_units(
    conn: Connection, *, holdout_share: float | None, canon: dict[str, str] | None = None
) -> Units | None:
    """The decision engine's universal holdout against the members it decided for."""
    canon = _canonical(conn) if canon is None else canon
    d = t.decisions
    rows = conn.execute(select(d.c.member_id, d.c.decided_at, d.c.holdout))
    first = _first_by_member(((m, at, h, False) for m, at, h in rows), canon)
    if not first:
        return None
    return _units("decisions:universal", "universal holdout", first, holdout_share, False)


def policy_units(conn: Connection, canon: dict[str, str] | None = None) -> list[Units]:
    """The catalogue's policy experiments (A/B/n), read back from the decision log: each
    arm against the experiment's control arm, members by the arm of their first decision.
    The planned split comes from the shares the log recorded with each decision."""
    canon = _canonical(conn) if canon is None else canon
    d = t.decisions
    # experiment -> member -> (first decision, arm, share, control, control share)
    first: dict[str, dict[str, tuple[float, str, float, str, float]]] = {}
    rows = conn.execute(
        select(d.c.member_id, d.c.decided_at, d.c.record).where(
            d.c.holdout == 0, d.c.record.like('%"experiments":{"%')
        )
    )
    for member, at, record in rows:
        got = json.loads(record).get("response", {}).get("experiments") or {}
        m, start = canon.get(str(member), str(member)), _epoch(at)
        for exp, arm in got.items():
            seen = first.setdefault(str(exp), {})
            if m not in seen or start < seen[m][0]:
                seen[m] = (
                    start,
                    str(arm["arm"]),
                    float(arm["share"]),
                    str(arm["control"]),
                    float(arm["control_share"]),
                )
    out: list[Units] = []
    for exp in sorted(first):
        by_member = first[exp]
        shares = {arm: share for _s, arm, share, _c, _cs in by_member.values()}
        control = next(iter(by_member.values()))[3]
        control_share = next(iter(by_member.values()))[4]
        for arm in sorted(a for a in shares if a != control):
            pair = {
                m: (start, a == arm, False)
                for m, (start, a, _sh, _c, _cs) in by_member.items()
                if a in (arm, control)
            }
            held = control_share / (control_share + shares[arm])
            out.append(
                _units(f"policy:{exp}:{arm} vs {control}", "policy experiment", pair, held, False)
            )
    return out


def outcomes(
    conn: Connection, units: Units, *, plan: Plan, canon: dict[str, str] | None = None
) -> dict[str, Array]:
    """Per-member metric values in the window after assignment, and ``pre_revenue`` before."""
    canon = _canonical(conn) if canon is None else canon
    n = len(units.members)
    index = {m: i for i, m in enumerate(units.members)}
    window = plan.window_days * DAY
    vals = {k: np.zeros(n) for k in ("purchases", "revenue", "pre_revenue", "points", "unsub")}
    if n:
        lo = datetime.fromtimestamp(float(units.start.min()) - window - DAY, UTC)
        hi = datetime.fromtimestamp(float(units.start.max()) + window + DAY, UTC)
        e = t.events
        for member, kind, at, payload in conn.execute(
            select(e.c.member_id, e.c.type, e.c.occurred_at, e.c.payload).where(
                e.c.type.in_(("purchase", "message_unsubscribed")),
                e.c.occurred_at >= lo,
                e.c.occurred_at < hi,
                e.c.member_id.is_not(None),
            )
        ):
            i = index.get(canon.get(str(member), str(member)))
            if i is None:
                continue
            dt = _epoch(at) - float(units.start[i])
            if kind == "purchase":
                total = float(json.loads(payload).get("total") or 0.0)
                if 0 <= dt < window:
                    vals["purchases"][i] += 1
                    vals["revenue"][i] += total
                elif -window <= dt < 0:
                    vals["pre_revenue"][i] += total
            elif 0 <= dt < window:
                vals["unsub"][i] += 1
        le = t.ledger_entries
        for member, at, points in conn.execute(
            select(le.c.member_id, le.c.occurred_at, le.c.points).where(
                le.c.kind.in_(("earn", "adjust")),
                le.c.points > 0,
                le.c.occurred_at >= lo,
                le.c.occurred_at < hi,
            )
        ):
            i = index.get(canon.get(str(member), str(member)))
            if i is not None and 0 <= _epoch(at) - float(units.start[i]) < window:
                vals["points"][i] += float(points)
    points_cost = vals["points"] * plan.cost_per_point
    out = {
        "conversion": (vals["purchases"] > 0).astype(np.float64),
        "revenue": vals["revenue"],
        "points_cost": points_cost,
        "net_profit": plan.margin * vals["revenue"] - points_cost,
        "unsubscribes": (vals["unsub"] > 0).astype(np.float64),
        "pre_revenue": vals["pre_revenue"],
    }
    if units.goal is not None:
        out["goal"] = units.goal
    return out


def _planned(
    metric: Metric, control: Array, *, plan: Plan, treatment_share: float
) -> tuple[int, int] | None:
    """The fixed horizon per arm for a relative effect ``plan.mde`` on the control's mean."""
    base = float(control.mean())
    try:
        if metric.kind == "binary":
            mde = base * plan.mde
            if base + mde >= 1:
                mde = -mde
            return sample_size_proportions(
                baseline=base,
                mde=mde,
                alpha=plan.alpha,
                power=plan.power,
                treatment_share=treatment_share,
            )
        return sample_size_means(
            sd=float(control.std(ddof=1)),
            mde=abs(base) * plan.mde,
            alpha=plan.alpha,
            power=plan.power,
            treatment_share=treatment_share,
        )
    except StatsError:
        return None  # no baseline to plan from (a rate of 0, no variation)


def analyse(
    units: Units, values: dict[str, Array], *, plan: Plan, now: datetime
) -> ExperimentReport:
    """Rows per metric for the members whose window has closed by ``now``."""
    treated_all = np.asarray(units.treated, dtype=bool)
    n1_all, n0_all = int(treated_all.sum()), int((~treated_all).sum())
    srm = None
    if units.holdout_share is not None and 0 < units.holdout_share < 1:
        srm = srm_check([n1_all, n0_all], [1 - units.holdout_share, units.holdout_share])
    closed = units.start + plan.window_days * DAY <= _epoch(now)
    report = ExperimentReport(
        experiment=units.experiment,
        source=units.source,
        treated=n1_all,
        holdout=n0_all,
        measured=int(closed.sum()),
        holdout_share=units.holdout_share,
        srm=srm,
    )
    t_mask, c_mask = closed & treated_all, closed & ~treated_all
    if t_mask.sum() < 2 or c_mask.sum() < 2:
        return report
    pre = values["pre_revenue"]
    # The horizon is planned for the intended split (the observed one when it is unknown).
    if srm is not None and units.holdout_share is not None:
        share = 1 - units.holdout_share
    else:
        share = float(t_mask.sum() / (t_mask.sum() + c_mask.sum()))
    for metric in METRICS:
        if metric.name not in values:
            continue
        y = values[metric.name]
        y1, y0 = y[t_mask], y[c_mask]
        got = cuped_lift(
            y1,
            y0,
            treatment_pre=pre[t_mask],
            control_pre=pre[c_mask],
            kind=metric.kind,
            alpha=plan.alpha,
        )
        base = got.plain
        if metric.kind == "binary":
            p_up = prob_beat_binary(x1=int(y1.sum()), n1=y1.size, x0=int(y0.sum()), n0=y0.size)
        else:
            p_up = prob_beat_normal(got.lift.absolute, got.lift.se)
        planned = _planned(metric, y0, plan=plan, treatment_share=share)
        reached = planned is not None and y1.size >= planned[0] and y0.size >= planned[1]
        horizon = (
            "no baseline"
            if planned is None
            else "reached"
            if reached
            else f"{y1.size:,}/{planned[0]:,} treated, {y0.size:,}/{planned[1]:,} holdout"
        )
        report.rows.append(
            MetricRow(
                experiment=units.experiment,
                metric=metric.name,
                kind=metric.kind,
                n_treatment=base.n_treatment,
                n_control=base.n_control,
                mean_treatment=base.mean_treatment,
                mean_control=base.mean_control,
                lift=base.absolute,
                ci=base.ci,
                relative=base.relative,
                relative_ci=base.relative_ci,
                p_value=base.p_value,
                cuped_lift=got.lift.absolute,
                cuped_ci=got.lift.ci,
                cuped_relative=got.lift.relative,
                cuped_relative_ci=got.lift.relative_ci,
                variance_reduction=got.variance_reduction,
                p_beat=p_up if metric.higher_is_better else 1 - p_up,
                planned_treatment=None if planned is None else planned[0],
                planned_control=None if planned is None else planned[1],
                horizon=horizon,
                verdict=verdict(
                    got.lift.ci,
                    reached=reached,
                    higher_is_better=metric.higher_is_better,
                    srm=srm is not None and srm.flagged,
                ),
            )
        )
    return report


def experiments_report(
    db: Engine,
    *,
    now: datetime | None = None,
    plan: Plan | None = None,
    holdout_share: float | None = None,
) -> list[ExperimentReport]:
    """Every journey's holdout, the universal holdout and each policy experiment's arms
    against its control, measured."""
    plan = plan or Plan()
    now = now or datetime.now(UTC)
    with db.connect() as conn:
        canon = _canonical(conn)
        found = journey_units(conn, canon)
        universal = universal_units(conn, holdout_share=holdout_share, canon=canon)
        if universal is not None:
            found.append(universal)
        found += split_units(conn, canon)
        found += policy_units(conn, canon)
        measured = [(u, outcomes(conn, u, plan=plan, canon=canon)) for u in found]
    return [analyse(u, v, plan=plan, now=now) for u, v in measured]


def lift_chart(report: ExperimentReport, path: str) -> None:
    """Relative lift per metric with its 95% interval, plain and CUPED-adjusted (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report.rows if r.relative is not None and r.relative_ci is not None]
    fig, ax = plt.subplots(figsize=(7, 0.6 * max(len(rows), 1) + 1.6))
    for k, r in enumerate(rows):
        assert r.relative is not None and r.relative_ci is not None
        y = len(rows) - 1 - k
        ax.errorbar(
            [100 * r.relative],
            [y + 0.12],
            xerr=[[100 * (r.relative - r.relative_ci[0])], [100 * (r.relative_ci[1] - r.relative)]],
            fmt="o",
            color="#4c72b0",
            capsize=4,
            label="plain" if k == 0 else None,
        )
        if r.cuped_relative is not None and r.cuped_relative_ci is not None:
            lo, hi = r.cuped_relative_ci
            ax.errorbar(
                [100 * r.cuped_relative],
                [y - 0.12],
                xerr=[[100 * (r.cuped_relative - lo)], [100 * (hi - r.cuped_relative)]],
                fmt="s",
                color="#dd8452",
                capsize=4,
                label="CUPED" if k == 0 else None,
            )
    ax.axvline(0, color="grey", linewidth=1)
    ax.set_yticks(range(len(rows)), [r.metric for r in rows][::-1])
    ax.set_xlabel("relative lift, treated vs holdout (%), 95% interval")
    title = f"{report.experiment}: {report.treated:,} treated, {report.holdout:,} holdout"
    if report.srm is not None and report.srm.flagged:
        title += f"\nSAMPLE RATIO MISMATCH (p = {report.srm.p_value:.2g})"
    ax.set_title(title, fontsize=10)
    if rows:
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = [
    "METRICS",
    "ExperimentReport",
    "MetricRow",
    "Plan",
    "Units",
    "analyse",
    "experiments_report",
    "journey_units",
    "lift_chart",
    "outcomes",
    "universal_units",
]
