"""`nextbest ledger liability`: outstanding points valued, breakage learned and backtested."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from nextbest.config import Settings
from nextbest.ledger.liability import LiabilityLine
from nextbest.ledger.reporting import LiabilityRun
from nextbest.store.engine import make_engine, upgrade


def _date(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def liability(
    as_of: str | None = typer.Option(
        None, help="Value the points as of this date (default: the last ledger activity)."
    ),
    cutoff: str | None = typer.Option(
        None, help="Backtest from this date (default: one expiry period before --as-of)."
    ),
    chart: Path | None = typer.Option(
        Path(".nextbest/liability.png"), help="Write the chart here (.png or .svg)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Outstanding points x cost per point by tier, cohort and expiry month, net of breakage."""
    from nextbest.ledger.liability_chart import write_liability_chart
    from nextbest.ledger.reporting import last_activity, lot_flows, run_liability
    from nextbest.ledger.repository import active_program

    engine = make_engine(Settings())
    upgrade(engine)
    with engine.connect() as conn:
        program = active_program(conn)
        if program is None:
            Console(stderr=True).print(
                "[red]no program is active: `nextbest program apply FILE`[/]"
            )
            raise typer.Exit(1)
        when = _date(as_of) or last_activity(conn)
        if when is None:
            Console(stderr=True).print("[red]the ledger holds no entries yet[/]")
            raise typer.Exit(1)
        lots = lot_flows(conn, program)
    run = run_liability(lots, program, as_of=when, cutoff=_date(cutoff))
    if chart is not None:
        chart.parent.mkdir(parents=True, exist_ok=True)
        write_liability_chart(run.report, chart, model=run.model)
    if as_json:
        print(json.dumps({**run.to_dict(), "chart": str(chart) if chart else None}, default=str))
        return
    console = Console()
    console.print(render(run, currency=program.currency, points=program.points.spendable))
    if chart is not None:
        console.print(f"chart: {chart}")


def render(run: LiabilityRun, *, currency: str, points: str) -> Table:
    report = run.report
    table = Table(title=f"points liability as of {report.as_of:%Y-%m-%d} ({points}, {currency})")
    for col in ("group", "key", "points", "gross", "breakage", "net"):
        table.add_column(col, justify="left" if col in ("group", "key") else "right")

    def row(group: str, line: LiabilityLine) -> None:
        d = line.to_dict()
        share = d.get("breakage_share")
        table.add_row(
            group,
            str(d["key"]),
            f"{d['points']:,}",
            f"{d['gross_liability']:,.2f}",
            f"{share:.1%}" if share is not None else "-",
            f"{d['net_liability']:,.2f}" if d.get("net_liability") is not None else "-",
        )

    row("total", report.total)
    for line in report.by_tier:
        row("tier", line)
    for line in report.by_expiry_month:
        row("expiry month", line)
    for line in report.by_cohort[-6:]:
        row("cohort (last 6)", line)
    for window in report.expiring:
        d = window.to_dict()
        table.add_row(
            "expiring",
            f"next {d['days']} days",
            f"{d['points']:,}",
            f"{d['gross_liability']:,.2f}",
            "",
            "",
        )
    if run.backtest is not None:
        b = run.backtest
        table.add_row(
            "backtest",
            f"from {b.cutoff:%Y-%m-%d}",
            f"{b.points_evaluated:,}",
            f"predicted {b.predicted_share:.1%}",
            f"actual {b.actual_share:.1%}",
            f"error {b.abs_error_pp:.2f} pp",
        )
    for problem in run.problems:
        table.add_row("note", problem, "", "", "", "")
    return table
