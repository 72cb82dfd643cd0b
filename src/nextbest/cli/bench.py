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
    program: Path | None = typer.Option(
        None,
        exists=True,
        dir_okay=False,
        help="Also ingest with this loyalty program active (purchases earn points).",
    ),
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
        program=program,
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
    if "ours_sqlite_with_program" in result:
        rows.insert(
            1, ("nextbest → profiles + points (SQLite)", result["ours_sqlite_with_program"], "")
        )
    for name, figures, _ in rows:
        table.add_row(name, f"{figures['seconds']:.1f}", f"{figures['events_per_s']:,.0f}", "")
    table.add_row("ours / SQLite peer", "", "", f"{result['ratio_ours_to_sqlite_peer']:.3f}")
    table.add_row("ours / DuckDB peer", "", "", f"{result['ratio_ours_to_duckdb_peer']:.3f}")
    if "ratio_with_program_to_without" in result:
        ratio = result["ratio_with_program_to_without"]
        table.add_row("with points / without", "", "", f"{ratio:.3f}")
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


def _linking_row(table: Table, name: str, figures: dict[str, float], phases: list[str]) -> None:
    cells = [f"{figures.get(k, float('nan')):.4f}" for k in ("precision", "recall", "f1")]
    cells += [f"{figures[f'{p}_s']:.2f}" if f"{p}_s" in figures else "" for p in phases]
    table.add_row(name, *cells)


@app.command("febrl")
def bench_febrl(
    threshold: float = typer.Option(0.9, min=0.0, max=1.0, help="Match probability cut."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """FEBRL4 linkage: our auto-configured model beside an expert's Splink model; FEBRL3."""
    from nextbest.bench.linking import run_febrl_bench

    figures = run_febrl_bench(threshold=threshold)
    if as_json:
        print(json.dumps(figures))
        return
    phases = ["train", "predict", "total"]
    table = Table(title=f"FEBRL (pairwise, match probability >= {threshold})")
    for col in ("run", "precision", "recall", "F1", "train s", "predict s", "total s"):
        table.add_column(col, justify="left" if col == "run" else "right")
    _linking_row(table, "FEBRL4 4a x 4b: nextbest (auto)", figures["febrl4_ours"], phases)
    _linking_row(table, "peer: expert Splink model", figures["febrl4_peer_expert_splink"], phases)
    _linking_row(table, "FEBRL3 dedupe: nextbest (auto)", figures["febrl3_dedupe_ours"], phases)
    console = Console()
    console.print(table)
    for name, ratio in figures["ratios_ours_to_peer"].items():
        console.print(f"ours / peer {name}: {ratio:.3f}")


@app.command("dedupe")
def bench_dedupe(
    records: int = typer.Option(1_000_000, min=100, help="Simulated identity records."),
    seed: int = typer.Option(7),
    threshold: float = typer.Option(0.9, min=0.0, max=1.0, help="Match probability cut."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Deduplicate simulated identity records, per phase, beside exact email/phone matching."""
    from nextbest.bench.linking import run_dedupe_bench

    figures = run_dedupe_bench(records=records, seed=seed, threshold=threshold)
    if as_json:
        print(json.dumps(figures))
        return
    phases = ["infer", "prepare", "train", "predict", "cluster", "total"]
    table = Table(title=f"dedupe {records:,} simulated records of {figures['persons']:,} persons")
    for col in ("run", "P", "R", "F1", *(f"{p} s" for p in phases)):
        table.add_column(col, justify="left" if col == "run" else "right")
    _linking_row(table, "nextbest", figures["ours"], phases)
    _linking_row(table, "peer: exact email/phone", figures["peer_exact_email_phone"], phases)
    console = Console(width=max(Console().width, 120))  # ten columns: do not truncate
    console.print(table)
    console.print(f"records generated in {figures['generate_s']:.1f} s (not timed above)")
    for name, ratio in figures["ratios_ours_to_peer"].items():
        console.print(f"ours / peer {name}: {ratio:.3f}")
    goal = figures["goal_total_s"]
    total = figures["ours"]["total_s"]
    console.print(f"goal: total under {goal:.0f} s: {'met' if total < goal else 'NOT met'}")
