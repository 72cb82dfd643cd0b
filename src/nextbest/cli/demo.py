"""`nextbest demo`: the whole foundation on the embedded default, then the API."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nextbest.config import Settings
from nextbest.store.engine import make_engine, upgrade


def demo(
    members: int = typer.Option(20_000, help="Simulated members."),
    months: int = typer.Option(12, help="Months of history."),
    seed: int = typer.Option(7, help="Simulation seed (same seed, same data)."),
    serve: bool = typer.Option(True, help="Serve the API on 127.0.0.1:PORT until Ctrl-C."),
    port: int = typer.Option(8000),
) -> None:
    """Simulate a coffee & bakery loyalty program, ingest it, resolve identities, serve."""
    from nextbest.api.keys_store import create_key
    from nextbest.demo import run_demo
    from nextbest.sim import SimConfig

    console = Console()
    settings = Settings()
    engine = make_engine(settings)
    upgrade(engine)
    console.print(
        f"[bold]nextbest demo[/]: {members:,} members, {months} months, seed {seed}, "
        f"data in {settings.data_dir}/ ({engine.url.get_backend_name()})"
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        sim_task = bar.add_task("simulating (first run only)", total=None)

        def on_file(path: Path) -> Callable[[int], None]:
            bar.update(sim_task, visible=False)
            rows = pq.ParquetFile(path).metadata.num_rows
            return partial(bar.advance, bar.add_task(f"ingesting {path.name}", total=rows))

        result = run_demo(
            engine,
            settings,
            SimConfig(members=members, months=months, seed=seed),
            on_file=on_file,
        )
    s = result.summary
    table = Table(title="nextbest demo summary", show_header=False)
    rep = result.ingest
    rate = rep.accepted / result.ingest_seconds if rep.accepted and result.ingest_seconds else 0
    rows = [
        ("members (after identity resolution)", f"{s['members']:,}"),
        ("member merges", f"{s['merged_members']:,}"),
        ("identifiers", f"{s['identifiers']:,}"),
        ("events stored", f"{s['events']:,}"),
        ("  newly ingested this run", f"{rep.accepted:,} ({rate:,.0f} events/s)"),
        ("  already there (idempotent re-run)", f"{rep.duplicates:,}"),
        ("anonymous events (guest checkouts)", f"{s['anonymous_events']:,}"),
        ("dead letters", f"{s['dead_letters']:,}"),
    ]
    for source, count in s["events_by_source"].items():
        rows.append((f"events from {source}", f"{count:,}"))
    link = result.link
    if link is not None:
        rows.append(
            (
                "probabilistic linking (this run)",
                f"{link.records:,} member records, {link.merged:,} merged, "
                f"{link.queued:,} queued for review, {sum(link.timings.values()):.0f} s",
            )
        )
    ident, before = s.get("identity"), result.identity_before_link
    if ident:
        if before and link is not None:
            rows.append(
                (
                    "identity vs truth, deterministic only",
                    f"precision {before['precision']:.3f}, recall {before['recall']:.3f}, "
                    f"persons split {before['persons_split']:,}",
                )
            )
        rows.append(
            (
                "identity vs truth (pairs of events)",
                f"precision {ident['precision']:.3f}, recall {ident['recall']:.3f}, "
                f"F1 {ident['f1']:.3f}, persons split {ident['persons_split']:,}",
            )
        )
        q = s.get("linking") or {}
        if q.get("merges"):
            rows.append(
                (
                    "probabilistic merges vs truth",
                    f"{q['merges_correct']:,} of {q['merges']:,} correct",
                )
            )
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    if result.audit is not None:
        console.print("[bold]data readiness: what to fix first[/]")
        for i, fix in enumerate(result.audit.fixes[:3], 1):
            console.print(f"  {i}. {fix.title}: {fix.figure}")
        console.print(f"  full report: nextbest audit; HTML with charts: {result.audit_html}")
    if not serve:
        return
    _key, token = create_key(engine, name="demo", scopes="admin")
    with engine.connect() as conn:
        sample = conn.exec_driver_sql(
            "SELECT key FROM identifiers WHERE kind = 'email' ORDER BY key LIMIT 1"
        ).scalar()
    console.print(
        f"\nAPI on http://127.0.0.1:{port} (OpenAPI at /openapi.json). Demo key (admin):\n"
        f"  {token}\n"
        f"  curl -H 'Authorization: Bearer {token}' "
        f"http://127.0.0.1:{port}/v1/members/{sample}\n"
        "Ctrl-C stops it."
    )
    engine.dispose()
    import uvicorn

    uvicorn.run(
        "nextbest.api.app:from_env", factory=True, host="127.0.0.1", port=port, access_log=False
    )
