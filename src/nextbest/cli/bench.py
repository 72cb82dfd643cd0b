"""`nextbest bench` commands: figures beside a peer measured in the same run."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Benchmarks (each prints a table, or one JSON object with --json).")


@app.command("ingest")
def bench_ingest(
    events: int = typer.Option(1_000_000, help="Simulated events to ingest."),
    members: int = typer.Option(14_000, help="Simulated members (≈75 events each a year)."),
    seed: int = typer.Option(7),
    workers: int | None = typer.Option(
        None, help="Validation worker processes (0: inline; default: cores - 1)."
    ),
    postgres_url: str | None = typer.Option(
        None, help="Also run ours on PostgreSQL (postgresql+psycopg://…)."
    ),
    cache: Path = typer.Option(Path(".nextbest/bench"), help="Where inputs are cached."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Batch ingestion of simulated events into profiles, beside bare bulk inserts."""
    from nextbest.bench.ingest import run_ingest_bench
    from nextbest.config import Settings

    if workers is None:
        workers = Settings().ingest_workers
    result = run_ingest_bench(
        events=events,
        members=members,
        seed=seed,
        cache=cache,
        postgres_url=postgres_url,
        workers=workers,
    )
    if as_json:
        print(json.dumps(result))
        return
    table = Table(title=f"batch ingestion of {result['events']:,} simulated events")
    for col in ("run", "seconds", "events/s", "ratio to peer"):
        table.add_column(col, justify="right" if col != "run" else "left")
    ours = result["ours_sqlite"]
    rows = [
        ("nextbest → profiles (SQLite)", ours, ""),
        ("peer: bare SQLite executemany", result["peer_sqlite_bulk_insert"], None),
        ("peer: DuckDB CREATE TABLE AS", result["peer_duckdb_bulk_insert"], None),
    ]
    if "ours_postgres" in result:
        rows.insert(1, ("nextbest → profiles (PostgreSQL)", result["ours_postgres"], ""))
    for name, figures, _ in rows:
        table.add_row(name, f"{figures['seconds']:.1f}", f"{figures['events_per_s']:,.0f}", "")
    table.add_row("ours / SQLite peer", "", "", f"{result['ratio_ours_to_sqlite_peer']:.3f}")
    table.add_row("ours / DuckDB peer", "", "", f"{result['ratio_ours_to_duckdb_peer']:.3f}")
    console = Console()
    console.print(table)
    console.print(
        f"stages: validate {ours['prepare_s']:.1f} s (in {result['workers']} worker(s)), "
        f"store {ours['store_s']:.1f} s; members created {ours['members_created']:,}, "
        f"merges {ours['merges']:,}, rejected {ours['rejected']:,}"
    )


@app.command("http")
def bench_http(
    events: int = typer.Option(50_000, min=1, help="Events posted in batches."),
    batch: int = typer.Option(100, min=1, max=10_000, help="Events per request."),
    single: int = typer.Option(2_000, min=0, help="Events posted one per request."),
    clients: int = typer.Option(4, min=1, help="Concurrent client threads."),
    postgres_url: str | None = typer.Option(
        None, help="Also run against this PostgreSQL (in a scratch schema)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """HTTP ingestion with a durable write per request, beside a bare insert endpoint."""
    from nextbest.bench.http import run_http_bench

    figures = run_http_bench(
        events=events, batch=batch, single=single, clients=clients, postgres_url=postgres_url
    )
    if as_json:
        print(json.dumps(figures))
        return
    table = Table(title=f"HTTP ingestion ({clients} clients, commit before each reply)")
    for col in ("target", "mode", "events/s", "p50 ms", "p99 ms", "failed requests"):
        table.add_column(col, justify="left" if col in ("target", "mode") else "right")
    names = {
        "sqlite": "nextbest (SQLite)",
        "postgres": "nextbest (PostgreSQL)",
        "peer_sqlite_raw": "peer: parse + raw SQLite insert",
    }
    for key, name in names.items():
        for mode in ("batch", "single"):
            run = figures.get(key, {}).get(mode)
            if run:
                label = f"{run['events_per_request']} per request"
                table.add_row(
                    name,
                    label,
                    f"{run['events_per_second']:,.0f}",
                    f"{run['latency_ms_p50']:.1f}",
                    f"{run['latency_ms_p99']:.1f}",
                    str(run["failed_requests"]),
                )
    console = Console()
    console.print(table)
    for name, ratio in figures["ratios"].items():
        console.print(f"{name.replace('_', ' ')}: {ratio:.3f}")
