"""`nextbest bench analytics`: RFM, BTYD, CLV and churn scored end to end on DuckDB, timed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table


def bench_analytics(
    members: int = typer.Option(1_000_000, min=1, help="Simulated members."),
    months: int = typer.Option(24, min=9, help="Months of history (joins spread over them)."),
    seed: int = typer.Option(7, help="Seed of the synthetic history."),
    train_members: int = typer.Option(
        200_000, min=1, help="Members the churn model is trained on (all members are scored)."
    ),
    chunk_members: int = typer.Option(
        100_000, min=1, help="Members per generated Parquet file (bounds generation memory)."
    ),
    threads: int = typer.Option(2, min=1, help="DuckDB threads."),
    cache: Path = typer.Option(
        Path.home() / ".cache" / "nextbest" / "bench",
        help="Where the generated history is kept and reused.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Features, RFM, BG/NBD, Gamma-Gamma CLV and a churn model over ~20 purchases a member."""
    from nextbest.bench.analytics import STAGES, run_analytics_bench

    err = Console(stderr=True)
    result = run_analytics_bench(
        cache=cache,
        members=members,
        months=months,
        seed=seed,
        train_members=train_members,
        chunk_members=chunk_members,
        threads=threads,
        progress=lambda line: err.print(f"[dim]{line}[/]"),
    )
    if as_json:
        print(json.dumps(result))
        return
    _print(result, STAGES)


def _print(result: dict[str, Any], stages: dict[str, str]) -> None:
    console = Console()
    h = result["history"]
    made = "reused from the cache (generated in" if h["reused"] else "generated in"
    console.print(
        f"history: {h['members']:,} members, {h['purchases']:,} purchases "
        f"({h['purchases_per_member']} a member), {h['events']:,} events over {h['months']} "
        f"months; {made} {h['seconds']:.1f} s{')' if h['reused'] else ''}, not part of the total"
    )
    total = result["total_seconds"]
    table = Table(
        title=f"analytics end to end: {result['members']:,} members, snapshot {result['as_of']}"
        f" (DuckDB, {result['duckdb_threads']} threads)"
    )
    for col in ("stage", "what", "seconds", "share"):
        table.add_column(col, justify="left" if col in ("stage", "what") else "right")
    for name, what in stages.items():
        seconds = result["stages"][name]
        table.add_row(name, what, f"{seconds:.1f}", f"{seconds / total:.0%}")
    goal = "within" if result["within_goal"] else "OVER"
    table.add_row(
        "total", f"{goal} the {result['goal_seconds']:.0f} s goal", f"{total:.1f}", "100%"
    )
    console.print(table)
    peer = result["peer"]
    console.print(
        f"throughput: {result['members_per_s']:,.0f} members/s, "
        f"{result['transactions_per_s']:,.0f} purchases/s; peak RSS {result['peak_rss_mb']:,.0f} MB"
    )
    console.print(
        f"peer: {peer['what']}: {peer['seconds']:.2f} s; feature pipeline / peer = "
        f"{result['ratio_features_to_peer']:.1f}x (the pipeline also parses the basket JSON, "
        "reads local time, and computes windows, category shares, tops and event counts)"
    )
    c = result["churn"]
    bgnbd = c["auc_bgnbd_p_alive"]
    console.print(
        f"churn ({c['horizon_days']}-day horizon): AUC {c['auc_model']:.3f} vs RFM recency "
        f"{c['auc_rfm_recency']:.3f}"
        + (f", BG/NBD P(alive) {bgnbd:.3f}" if bgnbd is not None else "")
        + f" on {c['validation_n']:,} members at {c['windows']['validation_snapshot']} (churn "
        f"rate {c['validation_churn_rate']:.1%}); trained on a sample of "
        f"{c['train_sample_members']:,} members ({c['train_rows']:,} rows, {c['rounds']} "
        f"rounds), {c['scored_members']:,} members scored"
    )
    segments = result["rfm"]["segments"]
    console.print("RFM segments: " + ", ".join(f"{name} {n:,}" for name, n in segments.items()))
    b, v = result["bgnbd"], result["clv"]
    params = ", ".join(f"{k}={val:.3g}" for k, val in b["params"].items())
    console.print(
        f"BG/NBD ({params}) on {b['histories']:,} distinct histories: mean P(alive) "
        f"{b['p_alive']['mean']:.3f}, mean expected purchases in 52 weeks "
        f"{b['expected_purchases_52w']['mean']:.2f}"
    )
    console.print(
        f"CLV: mean {v['clv']['mean']:,.2f}, median {v['clv']['median']:,.2f}, total "
        f"{v['clv']['sum']:,.0f} ({v['method']})"
    )
