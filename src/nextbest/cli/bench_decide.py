"""`nextbest bench decide`: next-best-action latency in process and throughput over HTTP."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from nextbest.config import Settings


def bench_decide(
    actions: int = typer.Option(200, min=1, help="Actions in the synthetic catalogue."),
    members: int = typer.Option(2000, min=1, help="Demo members decided for."),
    decisions: int = typer.Option(20_000, min=100, help="In-process decisions timed."),
    http: bool = typer.Option(True, help="Also measure over HTTP beside a bare endpoint."),
    duration: float = typer.Option(8.0, min=1, help="Seconds of HTTP load per server."),
    connections: int = typer.Option(64, min=1, help="Concurrent keep-alive connections."),
    server_workers: int = typer.Option(1, min=1, help="uvicorn workers for both servers."),
    client_workers: int = typer.Option(1, min=1, help="Load-generator processes."),
    redis_url: str | None = typer.Option(None, help="Contact budget on this Redis."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Decisions over 200 actions x 5 channels on the demo program's members."""
    from nextbest.bench.decide import NotEnoughData, run_decide_bench

    settings = Settings()
    if redis_url:
        settings = settings.model_copy(update={"redis_url": redis_url})
    try:
        figures = run_decide_bench(
            settings,
            actions=actions,
            members=members,
            decisions=decisions,
            http=http,
            duration_s=duration,
            connections=connections,
            server_workers=server_workers,
            client_workers=client_workers,
        )
    except NotEnoughData as exc:
        Console(stderr=True).print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    units = {"latency": "microseconds (_us) and milliseconds (_ms)", "rps": "requests/s"}
    if as_json:
        print(json.dumps({**figures, "units": units}))
        return
    out = Console()
    cat = figures["catalogue"]
    table = Table(
        title=f"in process: {cat['actions']} actions x {cat['channels']} channels, "
        f"{figures['members']:,} members"
    )
    for col in ("path", "decisions", "p50 ms", "p99 ms", "mean ms"):
        table.add_column(col, justify="left" if col == "path" else "right")
    for key, name in (("engine", "engine.decide"), ("service", "service (log, budget)")):
        run = figures[key]
        table.add_row(
            name,
            f"{run.get('decisions', figures['decisions']):,}",
            f"{run['p50_us'] / 1000:.3f}",
            f"{run['p99_us'] / 1000:.3f}",
            f"{run['mean_us'] / 1000:.3f}",
        )
    out.print(table)
    eng = figures["engine"]
    out.print(
        f"{eng['competing_per_decision']:.1f} actions competed per decision on average; "
        f"{eng['contact_share']:.0%} of decisions contact the member"
    )
    where = Table("phase (engine, profiled)", "share", title="where the time goes")
    for row in figures["where_time_goes"]:
        where.add_row(row["phase"], f"{row['share']:.0%}")
    out.print(where)
    if "http" in figures:
        h = figures["http"]
        web = Table(
            title=f"over HTTP: {h['connections']} connections, {h['server_workers']} server "
            f"worker(s), budget in {h['budget']}"
        )
        for col in ("server", "decisions/s", "p50 ms", "p99 ms", "errors", "non-2xx"):
            web.add_column(col, justify="left" if col == "server" else "right")
        for key, name in (
            ("nextbest", "nextbest POST /v1/decisions"),
            ("bare_fastapi", "bare FastAPI"),
        ):
            r = h[key]
            web.add_row(
                name,
                f"{r['rps']:,.0f}",
                f"{r['p50_ms']:.1f}",
                f"{r['p99_ms']:.1f}",
                str(r["errors"]),
                str(r["non_2xx"]),
            )
        out.print(web)
        if h["throughput_ratio"] is not None:
            out.print(f"throughput ratio nextbest / bare FastAPI: {h['throughput_ratio']:.3f}")
