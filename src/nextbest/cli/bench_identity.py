"""`nextbest bench identity`: deterministic graph vs probabilistic linking, on simulated truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table


def _f(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def bench_identity(
    members: int = typer.Option(5_000, help="Simulated persons (≈75 events each a year)."),
    seed: int = typer.Option(7),
    cache: Path = typer.Option(Path(".nextbest/bench"), help="Where the simulation is cached."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Precision and recall of members: deterministic graph alone vs with probabilistic linking."""
    from nextbest.bench.identity_graph import run_identity_bench

    result = run_identity_bench(members=members, seed=seed, cache=cache)
    if as_json:
        print(json.dumps(result))
        return
    console = Console()
    records = result["records"]
    table = Table(
        title=f"member records a linker can compare ({records['deterministic']['records']:,} "
        f"members with a name, birthday, postcode, email or phone; "
        f"{records['deterministic']['true_pairs']:,} same-person pairs)"
    )
    for col in ("matcher", "precision", "recall", "F1", "pairs joined", "seconds"):
        table.add_column(col, justify="left" if col == "matcher" else "right")
    for name, label in (
        ("deterministic", "deterministic graph only"),
        ("peer_exact_rule", "peer: exact rule (name + postcode or birthday)"),
        ("probabilistic", "nextbest probabilistic linking (Splink, auto-configured)"),
    ):
        r = records[name]
        table.add_row(
            label,
            _f(r["precision"]),
            _f(r["recall"]),
            _f(r["f1"]),
            f"{r['predicted_pairs']:,}",
            _f(r.get("seconds"), 2),
        )
    table.add_row(
        "ours / peer (recall)",
        "",
        _f(result["ratio_recall_ours_to_rule"], 3),
        "",
        "",
        _f(result["ratio_seconds_ours_to_rule"], 1),
    )
    console.print(table)

    events = Table(title="whole graph: pairs of events vs true persons")
    for col in ("graph", "precision", "recall", "F1", "members", "persons split"):
        events.add_column(col, justify="left" if col == "graph" else "right")
    for name, label in (
        ("deterministic_events", "deterministic"),
        ("probabilistic_events", "+ probabilistic linking"),
    ):
        r = result[name]
        events.add_row(
            label,
            _f(r["precision"]),
            _f(r["recall"]),
            _f(r["f1"]),
            f"{r['members']:,}",
            f"{r['persons_split']:,}",
        )
    console.print(events)
    q, run = result["merge_quality"], result["link_run"]
    console.print(
        f"merges {q['merges']:,} (correct {q['merges_correct']:,}), review queue "
        f"{q['review_queue']:,} ({q['review_queue_same_person']:,} same person); "
        f"comparable same-person pairs left {q['comparable_same_person_pairs_left']:,}; "
        f"linker train {run['seconds'].get('linker_train', 0):.1f} s, "
        f"predict {run['seconds'].get('linker_predict', 0):.1f} s; "
        f"ingest {result['ingest']['events']:,} events in {result['ingest']['seconds']:.0f} s"
    )
