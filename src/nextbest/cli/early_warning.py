"""`nextbest models early-warning`: churn model vs RFM recency on the simulator's truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from nextbest.config import Settings


def early_warning(
    truth: Path | None = typer.Option(
        None, help="The simulator's truth folder (default: the demo's, DATA_DIR/sim/truth)."
    ),
    window_days: int = typer.Option(90, help="Evaluation window before the last labelled day."),
    churn_days: int = typer.Option(60, help="Churn horizon: no purchase in the next N days."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Days earlier the churn model flags members who drop out than RFM, at equal precision."""
    from nextbest.analytics.early_warning import NotEnoughData, run_early_warning
    from nextbest.analytics.features import Snapshot
    from nextbest.analytics.features.load import open_features, spend_currency
    from nextbest.analytics.predict.training import Horizons
    from nextbest.store.engine import make_engine

    settings = Settings()
    truth_dir = truth or settings.data_dir / "sim" / "truth"
    err = Console(stderr=True)
    if not (truth_dir / "persons.parquet").exists():
        err.print(f"[red]error:[/] no simulator truth at {truth_dir} (run `nextbest demo` first)")
        raise typer.Exit(2)
    engine = make_engine(settings)
    features = open_features(settings, engine)
    first, last = features.span()
    if first is None or last is None:
        err.print("[red]error:[/] no purchases in the event history")
        raise typer.Exit(2)
    try:
        result = run_early_warning(
            features,
            truth_dir=truth_dir,
            start=first,
            end=last,
            categories=features.categories(Snapshot(as_of=last)),
            spend_currency=spend_currency(engine),
            horizons=Horizons(churn_days=churn_days),
            window_days=window_days,
            progress=lambda line: err.print(f"[dim]{line}[/]"),
        )
    except NotEnoughData as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    if as_json:
        print(json.dumps(result))
        return
    out = Console()
    out.print(
        f"window {result['window'][0]} .. {result['window'][1]}: {result['snapshots']} weekly"
        f" snapshots, {result['members']:,} members, {result['dropouts_in_window']:,} drop-outs"
        f" (simulator truth); a flag is right if the member drops out within"
        f" {result['horizon_days']} days"
    )
    table = Table(title="first right flag, days after the true drop-out (negative: before)")
    columns = ("precision", "model: delay", "recall", "RFM: delay", "recall")
    for col in (*columns, "BG/NBD: delay", "recall", "model earlier than RFM by"):
        table.add_column(col, justify="right")

    def cells(flags: dict[str, Any] | None) -> tuple[str, str]:
        if flags is None:
            return "not reached", "-"
        return f"{flags['median_delay_days']:+.1f}", f"{flags['recall']:.1%}"

    for row in result["levels"]:
        earlier = row["days_earlier_median"]
        table.add_row(
            f"{row['precision_target']:.2f}",
            *cells(row["model"]),
            *cells(row["rfm_recency"]),
            *cells(row["bgnbd_p_alive"]),
            "-" if earlier is None else f"{earlier:+.1f} d",
        )
    out.print(table)
