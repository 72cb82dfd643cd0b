"""`nextbest identity` commands."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from nextbest.config import Settings
from nextbest.identity.quality import identity_quality
from nextbest.store.engine import make_engine

app = typer.Typer(help="The identity graph: members, identifiers, merges.", no_args_is_help=True)


@app.command("evaluate")
def evaluate(
    truth: Path = typer.Option(
        Path(".nextbest/sim/truth/records.parquet"),
        exists=True,
        dir_okay=False,
        help="Ground truth (event_id, person_id), e.g. from `nextbest simulate`.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Precision and recall of resolved members against the simulator's true persons."""
    scores = identity_quality(make_engine(Settings()), truth)
    if as_json:
        print(json.dumps(scores))
        return
    Console().print(quality_table(scores))


def quality_table(scores: dict[str, object]) -> Table:
    table = Table(title="identity resolution vs ground truth (pairs of events)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name in ("precision", "recall", "f1"):
        table.add_row(name, f"{scores[name]:.4f}")
    for name in ("events", "members", "persons", "persons_split", "members_mixed"):
        table.add_row(name.replace("_", " "), f"{scores[name]:,}")
    table.add_row("anonymous events (no identifier)", f"{scores['anonymous_share']:.1%}")
    return table
