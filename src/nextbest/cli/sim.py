"""`nextbest simulate`."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import typer


def simulate(
    members: int = typer.Option(20_000, "--members", min=1, help="Persons to simulate."),
    months: int = typer.Option(12, "--months", min=1, help="Length of the history."),
    seed: int = typer.Option(7, "--seed", help="Same seed, byte-identical output."),
    start: str = typer.Option("2025-01-01", "--start", help="First day (YYYY-MM-DD)."),
    out: Path = typer.Option(Path(".nextbest/sim"), "--out", help="Output directory."),
    fmt: str = typer.Option("parquet", "--format", help="parquet, jsonl or csv."),
) -> None:
    """Write a simulated coffee & bakery loyalty history (events plus ground truth)."""
    from nextbest.sim import SimConfig, simulate_to_dir
    from nextbest.sim.writer import FORMATS

    if fmt not in FORMATS:
        raise typer.BadParameter(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    try:
        first: date = datetime.strptime(start, "%Y-%m-%d").date()
    except ValueError:
        raise typer.BadParameter(f"--start must be YYYY-MM-DD, got {start!r}") from None
    config = SimConfig(members=members, months=months, seed=seed, start=first)
    summary = simulate_to_dir(config, out, fmt)
    typer.echo(f"persons: {summary.persons:,}   events: {summary.events:,}")
    typer.echo("by type:   " + ", ".join(f"{k} {v:,}" for k, v in summary.by_type.items()))
    typer.echo("by source: " + ", ".join(f"{k} {v:,}" for k, v in summary.by_source.items()))
    typer.echo(f"events: {out / 'events'} ({len(summary.event_files)} files)")
    for path in summary.truth_files:
        typer.echo(f"truth:  {path}")
    typer.echo(f"seconds: {summary.seconds:.1f}")
