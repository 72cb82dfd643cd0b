"""`nextbest bench journeys`: journey steps per second with one and two workers."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table


def bench_journeys(
    database_url: str | None = typer.Option(
        None, help="PostgreSQL URL (each run gets a schema of its own); default SQLite."
    ),
    members: int = typer.Option(2000, min=10, help="Members flowing through the journey."),
    workers: str = typer.Option("1,2", help="Worker counts to run, comma-separated."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Steps per second of a five-step journey through `nextbest worker` processes."""
    from nextbest.bench.journeys import run_journeys_bench

    counts = [int(w) for w in workers.split(",") if w.strip()]
    figures = run_journeys_bench(database_url, members=members, workers=counts)
    if as_json:
        units = {"seconds": "s", "steps_per_s": "journey steps per second"}
        print(json.dumps({**figures, "units": units}))
        return
    table = Table(title=f"journey steps ({figures['journey_steps']} per member)")
    for col in ("store", "workers", "members done", "steps", "seconds", "steps/s", "ratio"):
        table.add_column(col, justify="right")
    for r in figures["runs"]:
        rate = r["steps_per_s"]
        ratio = r["ratio_to_first"]
        table.add_row(
            r["store"],
            str(r["workers"]),
            f"{r['finished']:,}/{r['members']:,}",
            f"{r['steps']:,}/{r['expected_steps']:,}",
            f"{r['seconds']:.1f}",
            f"{rate:,.0f}" if rate else "-",
            f"{ratio:.2f}" if ratio else "-",
        )
    Console().print(table)
