"""`nextbest demo`: the whole foundation on the embedded default, then the API and the console."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nextbest.config import Settings
from nextbest.store.engine import make_engine, upgrade

if TYPE_CHECKING:
    from nextbest.analytics.scoring import ScoringReport


def _points_rows(points: dict[str, Any] | None) -> list[tuple[str, str]]:
    if points is None:
        return []
    cur = points["currency"]
    rows = [
        ("loyalty program", points["program"]),
        (
            f"{cur} earned / redeemed",
            f"{points['earned']:,} / {points['redeemed']:,} "
            f"({points['refused_redemptions']:,} redemptions refused: not enough {cur})",
        ),
        (
            f"{cur} expired / clawed back by returns",
            f"{points['expired']:,} / {points['clawed_back']:,}",
        ),
        ("members by tier", ", ".join(f"{k} {v:,}" for k, v in points["tiers"].items())),
        (
            "ledger balances (postings = balances = lots)",
            "yes" if points["ledger_balances"] else "NO",
        ),
    ]
    total = points["liability"]["total"]
    share = total.get("breakage_share")
    rows.append(
        (
            f"outstanding {cur}, liability",
            f"{total['points']:,} {cur}, {total['gross_liability']:,.2f} gross, "
            + (
                f"{total['net_liability']:,.2f} net of {share:.1%} expected breakage"
                if share is not None
                else "no breakage model"
            ),
        )
    )
    backtest = points["liability"].get("backtest")
    if backtest:
        rows.append(
            (
                "breakage backtest",
                f"from {backtest['cutoff'][:10]}: predicted {backtest['predicted_share']:.1%}, "
                f"actual {backtest['actual_share']:.1%}, error {backtest['abs_error_pp']:.2f} pp "
                f"over {backtest['points_evaluated']:,} {cur}",
            )
        )
    for problem in points["liability"].get("problems", []):
        rows.append(("breakage note", problem))
    return rows


def _scoring_rows(scoring: ScoringReport | None) -> list[tuple[str, str]]:
    if scoring is None:
        return []
    rows = [
        (
            "members scored",
            f"{scoring.scored.get('rfm', 0):,} purchasers of {scoring.members:,}"
            f" as of {scoring.as_of:%Y-%m-%d} ({scoring.seconds.get('total', 0):.0f} s)",
        )
    ]
    top = ", ".join(f"{name} {n:,}" for name, n in list(scoring.segments.items())[:5])
    rows.append(("RFM segments (largest)", top))
    rows.append(("micro-segments", f"{scoring.microsegments:,}"))
    churn = scoring.reports.get("churn", {})
    if churn:
        parts = [f"model {churn['model']['auc']:.3f}"]
        for name, label in (("rfm_recency", "RFM recency"), ("bgnbd_p_alive", "BG/NBD P(alive)")):
            if name in churn:
                parts.append(f"{label} {churn[name]['auc']:.3f}")
        rows.append(("churn AUC, out of time", ", ".join(parts)))
    return rows


def _action_rows(actions: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not actions:
        return []
    top = ", ".join(f"{a} {n:,}" for a, n in list(actions["by_action"].items())[:4])
    channels = ", ".join(f"{c} {n:,}" for c, n in actions["by_channel"].items()) or "none"
    replayed = f", {actions['replayed']:,} replayed from the log" if actions["replayed"] else ""
    return [
        (
            "next best actions (stage 3)",
            f"{actions['members']:,} members at {actions['at'][:10]}: "
            f"{actions['contacts']:,} contacts ({channels}), {actions['holdout']:,} in the "
            f"universal holdout{replayed}; {actions['seconds']:.1f} s",
        ),
        ("  most chosen", top),
    ]


def demo(
    members: int = typer.Option(20_000, help="Simulated members."),
    months: int = typer.Option(12, help="Months of history."),
    seed: int = typer.Option(7, help="Simulation seed (same seed, same data)."),
    serve: bool = typer.Option(True, help="Serve the API on 127.0.0.1:PORT until Ctrl-C."),
    port: int = typer.Option(8000),
) -> None:
    """Simulate a coffee & bakery loyalty program, ingest it, resolve identities, serve."""
    from nextbest.api.keys_store import create_key
    from nextbest.console.users import ensure_user
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
        stage = bar.add_task("models", total=None, visible=False)

        def on_file(path: Path) -> Callable[[int], None]:
            bar.update(sim_task, visible=False)
            rows = pq.ParquetFile(path).metadata.num_rows
            return partial(bar.advance, bar.add_task(f"ingesting {path.name}", total=rows))

        result = run_demo(
            engine,
            settings,
            SimConfig(members=members, months=months, seed=seed),
            on_file=on_file,
            on_stage=lambda line: bar.update(stage, description=line, visible=True),
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
    rows += _points_rows(result.points)
    rows += _scoring_rows(result.scoring)
    rows += _action_rows(result.actions)
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    if result.liability_chart is not None and result.points is not None:
        console.print(
            f"points liability: nextbest ledger liability --as-of {result.points['as_of']}; "
            f"chart: {result.liability_chart}"
        )
    if result.scoring is not None:
        console.print(
            f"member scores: nextbest identity show MEMBER; model cards: nextbest models cards;"
            f" RFM heat map: {result.rfm_chart}"
        )
    if result.actions:
        console.print(
            "why a member gets an action: nextbest decide MEMBER --explain; "
            "the log: nextbest decisions log MEMBER"
        )
    if result.audit is not None:
        console.print("[bold]data readiness: what to fix first[/]")
        for i, fix in enumerate(result.audit.fixes[:3], 1):
            console.print(f"  {i}. {fix.title}: {fix.figure}")
        console.print(f"  full report: nextbest audit; HTML with charts: {result.audit_html}")
    if not serve:
        return
    _key, token = create_key(engine, name="demo", roles="admin")
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
    console.print(f"Web console: http://127.0.0.1:{port}/console/ (fresh passwords each run)")
    for username, roles in (("admin", "admin"), ("marketer", "marketer"), ("analyst", "analyst")):
        password = secrets.token_urlsafe(12)
        ensure_user(engine, username=username, password=password, roles=roles, actor="demo")
        console.print(f"  {username:<9} {password}   (roles: {roles})")
    engine.dispose()
    import uvicorn

    uvicorn.run(
        "nextbest.console.app:from_env",
        factory=True,
        host="127.0.0.1",
        port=port,
        access_log=False,
    )
