"""`nextbest evaluate`: measured comparisons of policies in the closed-loop simulator."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Evaluate policies in the closed-loop simulator.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Evaluate policies in the closed-loop simulator (a group even with one command)."""


COLUMNS = (
    ("incremental_revenue", "incr. revenue $", "{:,.0f}"),
    ("net_incremental_profit", "net incr. profit $", "{:,.0f}"),
    ("reward_cost", "reward cost $", "{:,.0f}"),
    ("contacts", "contacts", "{:,.0f}"),
    ("unsubscribes", "unsubs", "{:,.0f}"),
    ("churn", "churn", "{:.1%}"),
    ("redemption_rate", "redeemed", "{:.1%}"),
)


def _cell(v: dict[str, float], fmt: str, seeds: int) -> str:
    text = fmt.format(v["mean"])
    if seeds < 2:
        return text
    half = (v["high"] - v["low"]) / 2
    return f"{text} ± {fmt.format(half)}"


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


@app.command()
def maturity(
    members: int = typer.Option(3000, min=50, help="Simulated persons."),
    days: int = typer.Option(84, min=35, help="Days simulated (the first 28 observe only)."),
    seeds: int = typer.Option(3, min=1, help="Seeds (populations); intervals need two."),
    chart: Path | None = typer.Option(None, "--chart", help="Write a chart here (.png, .svg)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """The maturity model measured: no marketing, mass, stage 1 to 3 and the oracle."""
    from nextbest.evaluate.config import MaturityConfig
    from nextbest.evaluate.maturity import UNITS, run_maturity

    config = MaturityConfig(members=members, days=days, seeds=tuple(range(1, seeds + 1)))
    start = time.perf_counter()
    figures = run_maturity(config)
    figures["seconds"] = round(time.perf_counter() - start, 1)
    if chart is not None:
        from nextbest.evaluate.chart import write_chart

        figures["chart"] = str(write_chart(figures, chart))
    if as_json:
        print(json.dumps(_json_safe({**figures, "units": UNITS})))
        return
    table = Table(
        title=f"maturity model: {members:,} members, {days} days, {seeds} seeds "
        f"(mean ± 95% interval half-width over seeds; incremental: against no marketing)"
    )
    table.add_column("policy")
    for _key, head, _fmt in COLUMNS:
        table.add_column(head, justify="right")
    for p in figures["policies"]:
        table.add_row(p["label"], *(_cell(p["metrics"][k], fmt, seeds) for k, _h, fmt in COLUMNS))
    console = Console()
    console.print(table)
    t = figures["targets"]
    if t:
        met = t["met"]
        console.print(
            f"stage 3 / oracle net incremental profit: {t['oracle_share']:.0%} "
            f"(target >= 80%: {'met' if met['oracle_80pct'] else 'NOT met'}); "
            f"stage 3 / stage 1: {t['vs_stage1']:.2f} "
            f"(target >= 25% more: {'met' if met['stage1_plus_25pct'] else 'NOT met'}); "
            f"contacts stage 3 / stage 1: {t['contacts_vs_stage1']:.2f} "
            f"(target <= 0.70: {'met' if met['contacts_30pct_fewer'] else 'NOT met'})"
        )
    if chart is not None:
        console.print(f"chart: {figures['chart']}")
    console.print(f"{figures['seconds']:.1f} s")
