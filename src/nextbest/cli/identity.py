"""`nextbest identity` commands."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from nextbest.cli import review
from nextbest.config import Settings
from nextbest.errors import NotFound
from nextbest.identity.quality import identity_quality
from nextbest.profiles.read import member_view
from nextbest.store.engine import make_engine

app = typer.Typer(help="The identity graph: members, identifiers, merges.", no_args_is_help=True)
app.command("link-members")(review.link_members_command)
app.command("review")(review.review)
app.command("unmerge")(review.unmerge_command)


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


@app.command("show")
def show(
    identifier: str = typer.Argument(..., help="Member id, kind:value, email or +phone."),
    as_json: bool = typer.Option(False, "--json", help="Print the member view as JSON."),
) -> None:
    """One member: identifiers (with the event that first brought each), merges, profile."""
    settings = Settings()
    try:
        view = member_view(make_engine(settings), identifier, region=settings.default_region)
    except NotFound as exc:
        Console(stderr=True).print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(view))
        return
    console = Console()
    console.print(f"[bold]{view['member_id']}[/], first seen {view['first_seen_at']}")
    idents = Table(title="identifiers")
    for col in ("identifier", "first event", "first seen"):
        idents.add_column(col)
    for ident in view["identifiers"]:
        key = ident["key"] + (" (shared: no longer links)" if ident["shared"] else "")
        idents.add_row(key, ident["first_event_id"], ident["first_seen_at"])
    console.print(idents)
    if view["merged_from"]:
        merges = Table(title="merges in this member (undone ones struck through)")
        for col in ("merge", "member", "kind", "evidence", "at"):
            merges.add_column(col)
        for m in view["merged_from"]:
            evidence = (
                f"event {m['event_id']}: {m['identifier']}"
                if m["kind"] == "deterministic"
                else m["identifier"]
            )
            style = "strike dim" if m["undone_at"] else None
            merges.add_row(
                str(m["merge_id"]),
                m["member_id"],
                m["kind"],
                evidence,
                m["occurred_at"],
                style=style,
            )
        console.print(merges)
    profile = Table(title="profile", show_header=False)
    for name, value in view["profile"].items():
        profile.add_row(name, json.dumps(value) if isinstance(value, dict | list) else str(value))
    console.print(profile)
