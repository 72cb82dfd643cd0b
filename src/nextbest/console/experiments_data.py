"""The experiments the report knows, measured as ``nextbest experiments report`` measures
them (:func:`nextbest.experiments.report.experiments_report`), cached for a minute.

No statistics here: the plan comes from the configured catalogue (cost per point, the
universal holdout's planned share) and the report's defaults (30-day window, 10% minimum
detectable effect, fixed horizon), exactly as the CLI builds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from nextbest.config import Settings
from nextbest.console.figures_cache import FIGURES, key_of
from nextbest.experiments.report import ExperimentReport, MetricRow, Plan, experiments_report

# The metric an experiment is summed up by on the overview, first found wins: a journey's
# own goal, else whether members bought at all.
HEADLINE_METRICS = ("goal", "conversion", "revenue")


@dataclass(frozen=True, slots=True)
class Experiments:
    reports: tuple[ExperimentReport, ...]
    plan: Plan
    computed_at: datetime


def plan_of(settings: Settings) -> tuple[Plan, float | None]:
    """The report's plan and the universal holdout's planned share, from the catalogue."""
    from nextbest.decide.service import default_catalogue

    catalogue = default_catalogue(settings.effective_catalogue_path())
    plan = Plan(cost_per_point=catalogue.cost_per_point)
    return plan, catalogue.learning.holdout_share


def experiments(engine: Engine, settings: Settings) -> Experiments:
    """Every experiment in the store with its rows per metric (cached 60 s per database)."""

    def compute() -> Experiments:
        plan, share = plan_of(settings)
        now = datetime.now(UTC)
        found = experiments_report(engine, now=now, plan=plan, holdout_share=share)
        return Experiments(tuple(found), plan, now)

    return FIGURES.get(key_of("experiments", engine), compute)


def headline(report: ExperimentReport) -> MetricRow | None:
    """The row the overview shows for ``report``, or ``None`` before any window closed."""
    by_metric = {row.metric: row for row in report.rows}
    return next((by_metric[m] for m in HEADLINE_METRICS if m in by_metric), None)
