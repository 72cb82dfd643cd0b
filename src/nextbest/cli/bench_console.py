"""`nextbest bench console`: the web console's pages timed over HTTP on a large store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table


def bench_console(
    members: int = typer.Option(100_000, min=1, help="Members in the store."),
    months: int = typer.Option(24, min=9, help="Months of synthetic history."),
    seed: int = typer.Option(7, help="Seed of the synthetic history."),
    score: bool = typer.Option(True, help="Run the scoring job so segments exist."),
    loads: int = typer.Option(5, min=1, help="Warm loads per page (the median is shown)."),
    cache: Path = typer.Option(
        Path.home() / ".cache" / "nextbest" / "bench",
        help="Where the built store is kept and reused.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Cold and warm load of every console page, logged in as an admin, beside two peers."""
    from nextbest.bench.console import PAGES, run_console_bench

    err = Console(stderr=True)
    result = run_console_bench(
        cache=cache,
        members=members,
        months=months,
        seed=seed,
        score=score,
        loads=loads,
        progress=lambda line: err.print(f"[dim]{line}[/]"),
    )
    if as_json:
        print(json.dumps(result))
        return
    shown = {p.name: p.path.format(email="<email>", member="<id>") for p in PAGES}
    _print(result, shown)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def _print(result: dict[str, Any], shown: dict[str, str]) -> None:
    console = Console(width=max(100, Console().width))
    store = result["store"]
    c = store["counts"]
    built = ", ".join(f"{k} {v:.1f} s" for k, v in store["build_stages_s"].items())
    made = "reused from the cache (built in" if store["reused"] else "built in"
    console.print(
        f"store: {c['members']:,} members, {c['events']:,} events ({c['purchases']:,} "
        f"purchases), {c['ledger_entries']:,} ledger entries, {c['decisions']:,} decisions; "
        f"{made} {store['build_seconds']:.1f} s{')' if store['reused'] else ''}: {built}"
    )
    table = Table(
        title=f"console pages over HTTP, logged in as admin ({result['warm_loads']} warm loads)"
    )
    for col in ("page", "path", "status", "first ms", "cold ms", "warm ms", "KB"):
        table.add_column(col, justify="left" if col in ("page", "path") else "right")
    for name, p in result["pages"].items():
        label = name + (" *" if p["cached_figures"] else "")
        table.add_row(
            label,
            shown.get(name, p["path"]),
            str(p["status"]),
            _ms(p["first_s"]),
            _ms(p["cold_s"]),
            _ms(p["warm_s"]),
            f"{p['bytes'] / 1024:,.1f}",
        )
    floor = result["peer_floor"]
    table.add_row(
        "floor (peer)",
        "bare FastAPI HTML page",
        "200",
        _ms(floor["cold_s"]),
        _ms(floor["cold_s"]),
        _ms(floor["warm_s"]),
        "",
    )
    console.print(table)
    duck = result["peer_duckdb"]
    console.print(
        f"overview's liability: {result['liability_background_s']:,.1f} s from the first load "
        "until the full run (breakage fitted and backtested) landed; on a ledger of over "
        "100,000 lots it runs in the background, the page shows the open points meanwhile, "
        "and its result is kept for the hour (so cold loads below reuse it)"
    )
    console.print(
        "* figures cached for a minute; cleared before the cold load. "
        f"Member 360 and search on the busiest member ({result['member_searched']})."
    )
    console.print(
        f"peer: {duck['what']}: {_ms(duck['median_s'])} ms (median; first "
        f"{_ms(duck['first_s'])} ms); overview cold / DuckDB = "
        f"{result['ratio_overview_cold_to_duckdb']:.1f}x (the overview also reads scores, "
        "the ledger's liability and experiments, and renders the page)"
    )
