"""The overview's figures: members, activity, revenue, points and experiments.

Everything is aggregated in SQL (``GROUP BY``, ``COUNT(DISTINCT ...)``); the only whole-table
reads in Python are the ledger's liability capability (its lots) and the experiments report,
both as the CLI calls them. The result is cached for a minute per database.

Time is the data's, not the clock's: "the last 90 days" end at the latest event in the
store, so a historical demo store still shows activity. A purchase counts for the member
it was merged into, if any (``members.merged_into``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, Float, cast, func, select
from sqlalchemy.dialects.postgresql import JSONB

from nextbest.config import Settings
from nextbest.console.experiments_data import experiments, headline
from nextbest.console.figures_cache import FIGURES, TtlCache, key_of
from nextbest.console.segments_data import SCORE_RFM, label_counts
from nextbest.identity.repository import as_utc
from nextbest.store import tables as t

ACTIVE_DAYS = 90
# RFM segments read as "at risk": bought often once, not lately (rows R 1-2, F 3-5).
AT_RISK_SEGMENTS = ("at risk", "can't lose")
CHURN_AT_RISK = 0.5  # a churn_risk score at or above this counts the member as at risk
SCORE_CHURN = "churn_risk"


@dataclass(frozen=True, slots=True)
class Month:
    month: str  # "YYYY-MM", UTC
    revenue: float
    purchases: int
    active: int  # distinct members with a purchase in the month


@dataclass(frozen=True, slots=True)
class Liability:
    as_of: datetime
    currency: str
    points: int
    gross: float
    net: float | None  # None without a breakage model
    breakage_points: float | None
    breakage_share: float | None
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Lift:
    experiment: str
    source: str
    metric: str
    relative: bool  # the figures are relative lifts (shares), else absolute differences
    estimate: float
    low: float
    high: float
    n_treatment: int
    n_control: int
    verdict: str


@dataclass(frozen=True, slots=True)
class Overview:
    latest_event: datetime | None
    members: int
    active: int
    active_since: datetime | None
    purchases: int
    revenue_all: float
    revenue_recent: float
    months: tuple[Month, ...]
    rfm_scored: int
    segments: tuple[tuple[str, int], ...]  # RFM segment -> members, largest first
    at_risk_rfm: int
    churn_scored: int
    at_risk_churn: int
    points_earned: int
    points_redeemed: int
    liability: Liability | None
    liability_note: str | None  # why there is no liability figure
    experiments: int
    lifts: tuple[Lift, ...]

    @property
    def redemption_rate(self) -> float | None:
        return self.points_redeemed / self.points_earned if self.points_earned else None


def _dt(value: Any) -> datetime | None:
    if value is None:
        return None
    return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def purchase_total(conn: Connection) -> sa.ColumnElement[Any]:
    """The ``total`` of a purchase event's JSON payload, as a float, in this dialect."""
    payload = t.events.c.payload
    if conn.dialect.name == "postgresql":
        return cast(cast(payload, JSONB)["total"].astext, Float)
    return cast(func.json_extract(payload, "$.total"), Float)


def month_of(conn: Connection, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """``YYYY-MM`` of a timestamp in UTC (SQLite stores ISO text in UTC)."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), sa.literal_column("'YYYY-MM'"))
    # Literal bounds: SQLite matches the GROUP BY to the selected expression only when
    # they are the same text, not two sets of bound parameters.
    return func.substr(column, sa.literal_column("1"), sa.literal_column("7"))


def _purchases(conn: Connection) -> tuple[sa.FromClause, sa.ColumnElement[Any]]:
    """The events to read purchases from and the expression of their (current) member.

    The join to ``members`` is only needed when some member was merged into another; it
    costs more than the rest of the query on a large store, so it is left out otherwise.
    """
    e, m = t.events, t.members
    merged = conn.execute(select(m.c.member_id).where(m.c.merged_into.is_not(None)).limit(1))
    if merged.first() is None:
        return e, e.c.member_id
    joined = e.outerjoin(m, m.c.member_id == e.c.member_id)
    return joined, func.coalesce(m.c.merged_into, e.c.member_id)


def _activity(
    conn: Connection, latest: datetime | None
) -> tuple[int, float, int, float, tuple[Month, ...]]:
    e = t.events
    joined, member = _purchases(conn)
    total = purchase_total(conn)
    is_purchase = e.c.type == "purchase"
    month = month_of(conn, e.c.occurred_at).label("month")
    # Sums and distinct members in two queries: one GROUP BY carrying both sorts far more.
    sums = conn.execute(
        select(month, func.sum(total), func.count())
        .where(is_purchase)
        .group_by(month)
        .order_by(month)
    ).all()
    distinct: dict[str, int] = {
        str(k): int(n)
        for k, n in conn.execute(
            select(month, func.count(func.distinct(member)))
            .select_from(joined)
            .where(is_purchase)
            .group_by(month)
        )
    }
    months = tuple(
        Month(str(k), float(r or 0.0), int(n), distinct.get(str(k), 0)) for k, r, n in sums
    )
    # All-time totals are the months' sums: one scan of the purchases fewer.
    count, revenue = sum(m.purchases for m in months), sum(m.revenue for m in months)
    active, recent = 0, 0.0
    if latest is not None:
        since = latest - timedelta(days=ACTIVE_DAYS)
        active, recent = conn.execute(
            select(func.count(func.distinct(member)), func.coalesce(func.sum(total), 0.0))
            .select_from(joined)
            # No upper bound: nothing is later than the latest event. (SQLite compares the
            # stored ISO text, so a bound equal to a stored time would be unreliable.)
            .where(is_purchase, e.c.occurred_at > since)
        ).one()
    return int(count), float(revenue), int(active), float(recent), months


def _scores(conn: Connection) -> tuple[int, tuple[tuple[str, int], ...], int, int, int]:
    s = t.member_scores
    segments = label_counts(conn, SCORE_RFM)
    scored = sum(c for _, c in segments)
    at_risk = sum(c for label, c in segments if label in AT_RISK_SEGMENTS)
    churn_scored, churn_risky = conn.execute(
        select(
            func.count(s.c.value),
            func.coalesce(func.sum(sa.case((s.c.value >= CHURN_AT_RISK, 1), else_=0)), 0),
        ).where(s.c.name == SCORE_CHURN)
    ).one()
    return scored, segments, at_risk, int(churn_scored), int(churn_risky)


def points_flow(conn: Connection) -> tuple[int, int]:
    """Points earned and redeemed (burned) by members, leaving out entries later reversed."""
    le = t.ledger_entries
    reversed_ = select(le.c.reverses).where(le.c.reverses.is_not(None)).scalar_subquery()
    kept = sa.not_(le.c.entry_id.in_(reversed_))
    earned = conn.execute(
        select(func.coalesce(func.sum(le.c.points), 0)).where(le.c.kind == "earn", kept)
    ).scalar_one()
    burned = conn.execute(
        select(func.coalesce(func.sum(le.c.points), 0)).where(le.c.kind == "burn", kept)
    ).scalar_one()
    return int(earned), -int(burned)


# Above this many lots the full liability run (a breakage model fitted and backtested over
# every lot: about a minute at 2 million lots) leaves the request: the page shows the
# outstanding points at once, and the breakage estimate when a background run has it.
LIABILITY_SYNC_LOTS = 100_000
LIABILITY_RUNS = TtlCache(ttl=3600.0)


def liability(
    conn: Connection, as_of: datetime | None = None, *, engine: Engine | None = None
) -> tuple[Liability | None, str | None]:
    """The ledger's liability run as ``nextbest ledger liability`` makes it, or why not.

    ``as_of`` is the store's latest event, like every other tile: on historical data a
    later bookkeeping entry (a merge's points transfer, stamped when the linking job ran)
    would otherwise value the points at a date when every lot had long expired. With an
    ``engine``, a big ledger's full run happens in the background (:data:`LIABILITY_SYNC_LOTS`)."""
    from nextbest.ledger.reporting import last_activity
    from nextbest.ledger.repository import active_program

    program = active_program(conn)
    if program is None:
        return None, "no program is active"
    last = last_activity(conn)
    if last is None:
        return None, "the ledger holds no entries yet"
    when = min(last, as_of) if as_of is not None else last
    if engine is None:
        return _full_liability(conn, program, when), None
    lots = conn.execute(
        select(func.count()).where(t.ledger_lots.c.currency == program.points.spendable)
    ).scalar_one()
    if lots <= LIABILITY_SYNC_LOTS:
        return _full_liability(conn, program, when), None
    key = (*key_of("liability", engine), when.isoformat())
    done: Liability | None = LIABILITY_RUNS.peek(key)
    if done is not None:
        return done, None

    def run() -> Liability:
        with engine.connect() as own:
            return _full_liability(own, program, when)

    LIABILITY_RUNS.refresh_in_background(key, run)
    return _outstanding(conn, program, when, int(lots)), None


def _full_liability(conn: Connection, program: Any, when: datetime) -> Liability:
    from nextbest.ledger.reporting import lot_flows, run_liability

    run = run_liability(lot_flows(conn, program), program, as_of=when)
    total = run.report.total
    return Liability(
        as_of=run.report.as_of,
        currency=program.currency,
        points=total.points,
        gross=total.gross_liability,
        net=total.net_liability,
        breakage_points=total.expected_breakage_points,
        breakage_share=total.breakage_share,
        problems=run.problems,
    )


def _outstanding(conn: Connection, program: Any, when: datetime, lots: int) -> Liability:
    """Points still open on unexpired lots, valued at cost: no breakage model (yet)."""
    lot = t.ledger_lots
    points = conn.execute(
        select(func.coalesce(func.sum(lot.c.remaining), 0)).where(
            lot.c.currency == program.points.spendable,
            lot.c.remaining > 0,
            sa.or_(lot.c.expires_at.is_(None), lot.c.expires_at > when),
        )
    ).scalar_one()
    return Liability(
        as_of=when,
        currency=program.currency,
        points=int(points),
        gross=int(points) * program.points.cost_per_point,
        net=None,
        breakage_points=None,
        breakage_share=None,
        problems=(
            f"breakage is being estimated over {lots:,} lots in the background; "
            "reload in a minute or two",
        ),
    )


def _lifts(engine: Engine, settings: Settings) -> tuple[int, tuple[Lift, ...]]:
    found = experiments(engine, settings).reports
    lifts = []
    for report in found:
        row = headline(report)
        if row is None:
            continue
        relative = row.relative is not None and row.relative_ci is not None
        estimate = row.relative if row.relative is not None and relative else row.lift
        low, high = row.relative_ci if row.relative_ci is not None and relative else row.ci
        lifts.append(
            Lift(
                experiment=report.experiment,
                source=report.source,
                metric=row.metric,
                relative=relative,
                estimate=estimate,
                low=low,
                high=high,
                n_treatment=row.n_treatment,
                n_control=row.n_control,
                verdict=row.verdict,
            )
        )
    return len(found), tuple(lifts)


def compute_overview(engine: Engine, settings: Settings) -> Overview:
    with engine.connect() as conn:
        members = conn.execute(
            select(func.count()).select_from(t.members).where(t.members.c.merged_into.is_(None))
        ).scalar_one()
        # The profiles' latest event: one row per member, not a scan of every event.
        latest = _dt(conn.execute(select(func.max(t.profiles.c.last_event_at))).scalar())
        count, revenue, active, recent, months = _activity(conn, latest)
        scored, segments, at_risk, churn_scored, churn_risky = _scores(conn)
        earned, redeemed = points_flow(conn)
        owed, note = liability(conn, latest, engine=engine)
    n_experiments, lifts = _lifts(engine, settings)
    return Overview(
        latest_event=latest,
        members=int(members),
        active=active,
        active_since=latest - timedelta(days=ACTIVE_DAYS) if latest is not None else None,
        purchases=count,
        revenue_all=revenue,
        revenue_recent=recent,
        months=months,
        rfm_scored=scored,
        segments=segments,
        at_risk_rfm=at_risk,
        churn_scored=churn_scored,
        at_risk_churn=churn_risky,
        points_earned=earned,
        points_redeemed=redeemed,
        liability=owed,
        liability_note=note,
        experiments=n_experiments,
        lifts=lifts,
    )


def overview(engine: Engine, settings: Settings) -> Overview:
    """The overview's figures, cached for a minute per database."""
    return FIGURES.get(
        key_of("overview", engine),
        lambda: compute_overview(engine, settings),
        stale_while_refreshing=True,
    )
