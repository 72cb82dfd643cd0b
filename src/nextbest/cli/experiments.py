"""`nextbest experiments …`: the journeys' holdouts and the universal holdout, measured."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from nextbest.config import Settings

app = typer.Typer(help="Experiments: lift against the holdouts, with intervals and a horizon.")
console = Console()


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1%}"


def _horizon(status: str, n1: int, n0: int, planned1: int | None, planned0: int | None) -> str:
    if planned1 is None or planned0 is None or status == "reached":
        return status
    return f"{n1:,}/{planned1:,} | {n0:,}/{planned0:,}"


def _ci(ci: tuple[float, float] | None, *, relative: bool = False) -> str:
    if ci is None:
        return "n/a"
    if relative:
        return f"{ci[0]:+.1%} to {ci[1]:+.1%}"
    return f"{ci[0]:+.4g} to {ci[1]:+.4g}"


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


@app.command("report")
def report(
    database_url: str | None = typer.Option(None, help="Database (default: the configured one)."),
    chart: Path | None = typer.Option(None, help="Write a lift chart per experiment here."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    window_days: float = typer.Option(30.0, min=1.0, help="Outcome window after assignment."),
    mde: float = typer.Option(
        0.10, min=0.001, help="Minimum detectable effect, relative, for the fixed horizon."
    ),
    catalogue: Path | None = typer.Option(
        None, help="Action catalogue (for the universal holdout's planned share)."
    ),
    at: datetime | None = typer.Option(None, help="Read as of this time (default now)."),
) -> None:
    """Lift per experiment and metric: interval, CUPED interval, P(beat), SRM, horizon."""
    from nextbest.decide.service import default_catalogue
    from nextbest.experiments.report import Plan, experiments_report, lift_chart
    from nextbest.store.engine import make_engine

    settings = Settings()
    db = make_engine(settings, url=database_url)
    cat = default_catalogue(catalogue or settings.effective_catalogue_path())
    plan = Plan(window_days=window_days, mde=mde, cost_per_point=cat.cost_per_point)
    results = experiments_report(
        db, now=_utc(at or datetime.now(UTC)), plan=plan, holdout_share=cat.learning.holdout_share
    )
    db.dispose()
    if chart is not None:
        chart.mkdir(parents=True, exist_ok=True)
        for r in results:
            lift_chart(r, str(chart / f"{r.experiment.replace(':', '_')}.png"))
    if as_json:
        typer.echo(json.dumps({"experiments": [r.as_dict() for r in results]}, default=str))
        return
    if not results:
        console.print("no experiments in the store yet (no journey entries, no decisions)")
        return
    for r in results:
        srm = "n/a" if r.srm is None else f"p = {r.srm.p_value:.3g}"
        if r.srm is not None and r.srm.flagged:
            srm = f"[red]{srm}: sample ratio mismatch[/]"
        table = Table(
            title=f"{r.experiment}: {r.treated:,} treated, {r.holdout:,} holdout, "
            f"{r.measured:,} with a closed window; SRM {srm}"
        )
        for col in (
            "metric",
            "treated",
            "holdout",
            "lift",
            "95% CI",
            "relative",
            "CUPED 95% CI",
            "var. cut",
            "P(beat)",
            "horizon",
            "call",
        ):
            table.add_column(col)
        for row in r.rows:
            table.add_row(
                row.metric,
                f"{row.mean_treatment:.4g}",
                f"{row.mean_control:.4g}",
                f"{row.lift:+.4g}",
                _ci(row.ci),
                f"{_pct(row.relative)} ({_ci(row.relative_ci, relative=True)})",
                _ci(row.cuped_ci),
                f"{row.variance_reduction:.0%}",
                f"{row.p_beat:.1%}",
                _horizon(
                    row.horizon,
                    row.n_treatment,
                    row.n_control,
                    row.planned_treatment,
                    row.planned_control,
                ),
                row.verdict,
            )
        console.print(table)
        if not r.rows:
            console.print("  too few members with a closed window in one of the arms")
