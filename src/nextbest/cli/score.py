"""`nextbest score` and `nextbest models cards`: the scoring job and the model registry."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nextbest.config import Settings


def score(
    reuse: bool = typer.Option(False, "--reuse", help="Score with the latest registered models."),
    as_of: datetime | None = typer.Option(
        None, help="Score as of this time (default: the day after the last purchase)."
    ),
    churn_days: int = typer.Option(60, help="Churn label: no purchase in the next N days."),
    value_days: int = typer.Option(365, help="Value horizon in days (capped by the history)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Train (or load) the models, score every member, write scores into the profiles."""
    from nextbest.analytics.predict.training import Horizons
    from nextbest.analytics.scoring import NotEnoughData, run_scoring

    err = Console(stderr=True)
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=as_json) as bar:
        job = bar.add_task("scoring", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(job, completed=done, total=total, description="writing scores")

        try:
            report = run_scoring(
                Settings(),
                horizons=Horizons(churn_days=churn_days, value_days=value_days),
                retrain=not reuse,
                as_of=as_of,
                progress=lambda line: bar.update(job, description=line),
                advance=advance,
            )
        except NotEnoughData as exc:
            err.print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from exc
    data = report.to_dict()
    if as_json:
        print(json.dumps(data, default=str))
        return
    out = Console()
    out.print(f"scored {report.members:,} members as of {report.as_of:%Y-%m-%d}")
    table = Table(title="scores written")
    for col in ("score", "members", "model version"):
        table.add_column(col, justify="right" if col == "members" else "left")
    for name, n in report.scored.items():
        table.add_row(name, f"{n:,}", report.versions[name])
    out.print(table)
    _print_metrics(out, data["metrics"])
    for note in report.notes:
        out.print(f"[yellow]note:[/] {note}")
    out.print(f"seconds: {report.seconds}")


def _print_metrics(out: Console, reports: dict[str, Any]) -> None:
    if "churn" in reports:
        table = Table(title="churn (validation snapshot, out of time)")
        for col in ("score", "AUC", "PR-AUC", "Brier", "ECE"):
            table.add_column(col, justify="left" if col == "score" else "right")
        for name, r in reports["churn"].items():
            if name == "by_group":
                continue
            table.add_row(
                name,
                f"{r['auc']:.3f}",
                f"{r['pr_auc']:.3f}",
                f"{r.get('brier', float('nan')):.3f}",
                f"{r.get('ece', float('nan')):.3f}",
            )
        out.print(table)
    for task in ("next_purchase", "value"):
        if task in reports:
            table = Table(title=f"{task} (validation)")
            for col in ("predictor", "MAE", "RMSE", "Spearman"):
                table.add_column(col, justify="left" if col == "predictor" else "right")
            for name, r in reports[task].items():
                if isinstance(r, dict):
                    table.add_row(
                        name, f"{r['mae']:.2f}", f"{r['rmse']:.2f}", f"{r['spearman']:.3f}"
                    )
            out.print(table)
    if "propensity" in reports:
        p = reports["propensity"]
        out.print(
            f"category propensity: mean AUC {p['mean_auc']:.3f}"
            f" (past share of spend: {p['mean_auc_past_share']:.3f})"
        )


def cards(
    task: str | None = typer.Option(None, help="Only this task (churn, next_purchase, value, …)."),
    as_json: bool = typer.Option(False, "--json", help="Print the cards as JSON."),
) -> None:
    """Model cards: data window, features, metrics, drift against the previous version, fairness."""
    from nextbest.analytics.registry import cards as load_cards
    from nextbest.store.engine import make_engine

    found = load_cards(make_engine(Settings()), task)
    if as_json:
        print(json.dumps(found, default=str))
        return
    out = Console()
    table = Table(title="model versions")
    for col in ("version", "task", "created", "window", "AUC / MAE", "PSI vs previous"):
        table.add_column(col)
    for card in found:
        m = card.get("metrics", {}).get("model", {})
        quality = (
            f"AUC {m['auc']:.3f}" if "auc" in m else (f"MAE {m['mae']:.2f}" if "mae" in m else "")
        )
        window = card.get("window", {})
        psi = card.get("drift", {}).get("psi")
        table.add_row(
            card["version"],
            card["task"],
            card["created_at"][:19],
            f"{window.get('validation_snapshot', '')} ({window.get('horizon_days', '')}d)",
            quality,
            "" if psi is None else f"{psi:.4f}",
        )
    out.print(table)
