"""`nextbest bench microsegments`: micro-segments for many members, count and time."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table


def bench_microsegments(
    members: int = typer.Option(1_000_000, min=1, help="Synthetic members to segment."),
    min_size: int = typer.Option(50, "--min-size", min=1, help="Members per segment, at least."),
    seed: int = typer.Option(7, help="Seed of the synthetic member table."),
    repeat: int = typer.Option(1, min=1, help="Time each step this many times; keep the best."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Micro-segments of a synthetic member table: segments, sizes, seconds, beside a peer."""
    from nextbest.bench.microsegments import run_microsegments_bench

    err = Console(stderr=True)
    result = run_microsegments_bench(
        members=members,
        min_size=min_size,
        seed=seed,
        repeat=repeat,
        progress=lambda line: err.print(f"[dim]{line}[/]"),
    )
    if as_json:
        print(json.dumps(result))
        return
    ours, peer, rfm = result["microsegments"], result["peer_group_by"], result["rfm"]
    table = Table(title=f"micro-segments of {members:,} synthetic members (seed {seed})")
    for col in ("work", "groups", "min", "median", "max", "s", "members/s", "ratio"):
        table.add_column(col, justify="left" if col == "work" else "right")
    table.add_row(
        "micro-segments",
        f"{ours['segments']:,}",
        f"{ours['min_size']:,}",
        f"{ours['median_size']:,.0f}",
        f"{ours['max_size']:,}",
        f"{ours['seconds']:.2f}",
        f"{ours['members_per_s']:,.0f}",
        f"{result['ratio_to_peer']:.3f}",
    )
    table.add_row(
        "peer: group_by count",
        f"{peer['cells']:,}",
        "",
        "",
        "",
        f"{peer['seconds']:.2f}",
        f"{peer['members_per_s']:,.0f}",
        "1.000",
    )
    table.add_row(
        "RFM scores",
        f"{len(rfm['segments'])}",
        "",
        "",
        "",
        f"{rfm['seconds']:.2f}",
        f"{rfm['members_per_s']:,.0f}",
        "",
    )
    console = Console()
    console.print(table)
    same = "yes" if result["same_cells"] else "NO"
    console.print(
        f"ours: validation, {len(ours['dimensions'])} dimensions, the min-size fallback from "
        f"{ours['raw_cells']:,} full-key cells, ids, descriptions, stats. Peer: one polars "
        f"group_by count over the same keys (same cell count: {same}). Ratio: our members/s "
        f"over the peer's. Table built in {result['build_seconds']:.2f} s."
    )
