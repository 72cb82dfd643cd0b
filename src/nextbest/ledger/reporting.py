"""Liability and breakage over the store: lots read back with their histories, then the pure
estimates of ``breakage`` and ``liability``.

A lot's outflows come from the member-side postings that name it: burns, expiry and
clawbacks. A reversal that put points back annuls the entry it reversed (both are left
out); a reversal that took an earn back counts as a clawback. Transfers only move a lot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from nextbest.identity.repository import as_utc
from nextbest.ledger.breakage import (
    Backtest,
    BreakageModel,
    InsufficientHistory,
    backtest,
    fit_breakage,
)
from nextbest.ledger.flows import LotFlow, Outflow, OutflowKind
from nextbest.ledger.liability import LiabilityReport, liability_report
from nextbest.ledger.program import Program, add_months
from nextbest.store import tables as t

_OUTFLOW: dict[str, OutflowKind] = {"burn": "burn", "expire": "expire", "clawback": "clawback"}


def _dt(value: Any) -> datetime:
    return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def lot_flows(conn: Connection, program: Program) -> list[LotFlow]:
    """Every spendable lot with what became of it, and its holder's current tier."""
    currency = program.points.spendable
    e, p = t.ledger_entries, t.ledger_postings
    reversals = dict(
        conn.execute(select(e.c.entry_id, e.c.reverses).where(e.c.reverses.is_not(None))).all()
    )
    restored = {original for reversal, original in reversals.items() if original is not None}
    kinds = dict(
        conn.execute(select(e.c.entry_id, e.c.kind).where(e.c.entry_id.in_(restored))).all()
    )
    # Reversals of debits put points back: they and the debit they undo leave no outflow.
    annulled = {o for o in restored if kinds.get(o) in ("burn", "clawback", "adjust")}
    annulled |= {r for r, o in reversals.items() if o in annulled}
    outflows: dict[str, list[Outflow]] = {}
    rows = conn.execute(
        select(p.c.lot_id, p.c.amount, e.c.entry_id, e.c.kind, e.c.occurred_at)
        .join(e, e.c.entry_id == p.c.entry_id)
        .where(p.c.lot_id.is_not(None))
        .where(p.c.currency == currency)
        .where(p.c.member_id.is_not(None))
        .where(p.c.amount < 0)
        .where(e.c.kind.in_(("burn", "expire", "clawback", "adjust", "reverse")))
    )
    for lot_id, amount, entry_id, kind, occurred in rows:
        if entry_id in annulled:
            continue
        flow = _OUTFLOW.get(kind, "clawback")  # negative adjustments, earns taken back
        outflows.setdefault(lot_id, []).append(Outflow(_dt(occurred), -amount, flow))
    tiers = dict(conn.execute(select(t.ledger_tiers.c.member_id, t.ledger_tiers.c.tier)).all())
    lots = []
    for lot_id, member, earned, expires, points in conn.execute(
        select(
            t.ledger_lots.c.lot_id,
            t.ledger_lots.c.member_id,
            t.ledger_lots.c.earned_at,
            t.ledger_lots.c.expires_at,
            t.ledger_lots.c.points,
        ).where(t.ledger_lots.c.currency == currency)
    ):
        flows = tuple(sorted(outflows.get(lot_id, ()), key=lambda o: o.at))
        lots.append(
            LotFlow(
                lot_id,
                member,
                tiers.get(member),
                _dt(earned),
                _dt(expires) if expires is not None else None,
                points,
                flows,
            )
        )
    return lots


def last_activity(conn: Connection) -> datetime | None:
    latest = conn.execute(select(func.max(t.ledger_entries.c.occurred_at))).scalar()
    return _dt(latest) if latest is not None else None


@dataclass(frozen=True, slots=True)
class LiabilityRun:
    report: LiabilityReport
    model: BreakageModel | None
    backtest: Backtest | None
    problems: tuple[str, ...]  # why a model or backtest could not be made

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.report.to_dict(),
            "breakage_model": self.model.to_dict() if self.model else None,
            "backtest": self.backtest.to_dict() if self.backtest else None,
            "problems": list(self.problems),
        }


def run_liability(
    lots: list[LotFlow],
    program: Program,
    *,
    as_of: datetime,
    cutoff: datetime | None = None,
) -> LiabilityRun:
    """Fit breakage on the history up to ``as_of``, backtest it from ``cutoff``, value the rest.

    The default cutoff is one expiry period (or a year) before ``as_of``: every lot
    outstanding then has met its fate by ``as_of``, so the backtest compares like with like.
    """
    problems: list[str] = []
    months = program.expiry.months if program.expiry.kind == "lot" else 12
    cutoff = cutoff or add_months(as_of, -months)
    model: BreakageModel | None = None
    checked: Backtest | None = None
    # With per-lot expiry no lot lives past its expiry age: the model needs no longer horizon.
    horizon = program.expiry.months if program.expiry.kind == "lot" else 36
    try:
        model = fit_breakage(lots, as_of=as_of, max_age_months=horizon)
    except InsufficientHistory as exc:
        problems.append(f"breakage model: {exc}")
    try:
        checked = backtest(lots, cutoff=cutoff, as_of=as_of, max_age_months=horizon)
    except InsufficientHistory as exc:
        problems.append(f"backtest: {exc}")
    report = liability_report(
        lots, as_of=as_of, cost_per_point=program.points.cost_per_point, model=model
    )
    return LiabilityRun(report, model, checked, tuple(problems))
