"""`nextbest bench ledger`: postings per second through the ledger, beside bare inserts."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table


def bench_ledger(
    postgres_url: str | None = typer.Option(
        None, help="Also run on PostgreSQL (postgresql+psycopg://…), in a scratch schema."
    ),
    members: int = typer.Option(2_000, help="Accounts the requests spread over."),
    requests: int = typer.Option(4_000, help="Single-transaction requests (credit, redeem)."),
    purchases: int = typer.Option(50_000, help="Purchases posted the way ingestion posts them."),
    clients: int = typer.Option(4, help="Concurrent clients sending requests."),
    chunk: int = typer.Option(5_000, help="Purchases per ingestion transaction."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Ledger postings/s on SQLite (and PostgreSQL), per request and in ingestion chunks."""
    from nextbest.bench.ledger import run_ledger_bench

    err = Console(stderr=True)
    result = run_ledger_bench(
        postgres_url=postgres_url,
        members=members,
        requests=requests,
        purchases=purchases,
        clients=clients,
        chunk=chunk,
        progress=lambda line: err.print(f"[dim]{line}[/]"),
    )
    if as_json:
        print(json.dumps(result))
        return
    table = Table(title=f"ledger postings ({clients} clients; ingestion chunks of {chunk:,})")
    for col in ("store", "workload", "postings", "s", "postings/s", "peer /s", "ratio"):
        table.add_column(col, justify="left" if col in ("store", "workload") else "right")
    for store in ("sqlite", "postgres"):
        if store not in result:
            continue
        r = result[store]
        for name, label in (("requests", "requests"), ("ingest", "ingest chunks")):
            ours, peer = r[name], r[f"peer_{name}"]
            table.add_row(
                store,
                label,
                f"{ours['postings']:,}",
                f"{ours['seconds']:.2f}",
                f"{ours['postings_per_s']:,.0f}",
                f"{peer['postings_per_s']:,.0f}",
                f"{r[f'ratio_{name}_to_peer']:.3f}",
            )
    console = Console()
    console.print(table)
    for store in ("sqlite", "postgres"):
        if store in result:
            balanced = "yes" if result[store]["ledger_balances"] else "NO"
            console.print(f"{store}: the ledger balances after the run: {balanced}")
    console.print(
        "requests: one use case per transaction (a credit, a redemption) from each client; "
        "ingest chunks: purchases posted as ingestion posts them. Peer: bare INSERTs of the "
        "same posting rows in the same transactions (no idempotency check, lock, lots, "
        "balance, tier or outbox)."
    )
