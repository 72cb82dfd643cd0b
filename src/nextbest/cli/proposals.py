"""`nextbest proposals`: changes to the catalogue or a journey waiting for a second person.

The same rules as the console's approvals page (``nextbest.agents.proposals``): validated
before stored, never approved by whoever proposed them, refused when the target changed
meanwhile, every step audited. A running API picks an approved catalogue up at its next
start (the console swaps it in at once).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from nextbest.cli.keys import _actor
from nextbest.config import Settings

app = typer.Typer(help="Proposed changes to offers, rules and journeys.", no_args_is_help=True)
err = Console(stderr=True)

ACTOR = typer.Option(None, "--as", help="Who acts, for the audit log (default cli:<user>).")


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]{exc}[/]")
    return typer.Exit(1)


@app.command("list")
def proposals_list(
    status: str | None = typer.Option(None, help="pending, approved or rejected."),
    limit: int = typer.Option(50, min=1, max=1000),
) -> None:
    """Proposals, newest first."""
    from nextbest.agents.proposals import list_proposals
    from nextbest.store.engine import make_engine

    db = make_engine(Settings())
    rows = list_proposals(db, statuses=[status] if status else None, limit=limit)
    table = Table()
    table.add_column("id", no_wrap=True)
    for col in ("status", "kind", "target", "proposed by", "at", "decided by"):
        table.add_column(col)
    for p in rows:
        table.add_row(
            p.proposal_id,
            p.status,
            p.kind,
            p.target,
            p.proposed_by,
            p.proposed_at.strftime("%Y-%m-%d %H:%M"),
            p.decided_by or "",
        )
    Console().print(table)


@app.command("show")
def proposals_show(proposal_id: str) -> None:
    """One proposal and its diff."""
    from nextbest.agents.proposals import get
    from nextbest.errors import NotFound
    from nextbest.store.engine import make_engine

    try:
        p = get(make_engine(Settings()), proposal_id)
    except NotFound as exc:
        raise _fail(exc) from None
    print(f"{p.kind} {p.target}: {p.status}, proposed by {p.proposed_by} at {p.proposed_at}")
    if p.decided_by:
        print(f"{p.status} by {p.decided_by} at {p.decided_at}: {p.note}")
    print(p.summary, end="")


@app.command("propose")
def proposals_propose(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The new YAML text."),
    kind: str = typer.Option("catalogue", help="catalogue or journey."),
    target: str = typer.Option("", help="The journey id (a catalogue needs none)."),
    actor: str | None = ACTOR,
) -> None:
    """Propose a file as the new catalogue or journey; problems are listed with their line."""
    from nextbest.agents.changes import InvalidChange
    from nextbest.agents.proposals import propose
    from nextbest.store.engine import make_engine

    settings = Settings()
    try:
        p = propose(
            make_engine(settings),
            settings,
            kind=kind,
            target=target,
            text=file.read_text(encoding="utf-8"),
            actor=actor or _actor(),
        )
    except InvalidChange as exc:
        for issue in exc.issues:
            err.print(f"{file}:{issue}")
        raise typer.Exit(1) from None
    print(p.proposal_id)


@app.command("approve")
def proposals_approve(
    proposal_id: str, note: str = typer.Option("", help="Why."), actor: str | None = ACTOR
) -> None:
    """Apply a pending proposal someone else made."""
    from nextbest.agents.proposals import approve
    from nextbest.errors import NextbestError
    from nextbest.store.engine import make_engine

    settings = Settings()
    try:
        approve(make_engine(settings), settings, proposal_id, actor=actor or _actor(), note=note)
    except NextbestError as exc:
        raise _fail(exc) from None
    err.print(f"approved {proposal_id}")


@app.command("reject")
def proposals_reject(
    proposal_id: str, note: str = typer.Option("", help="Why."), actor: str | None = ACTOR
) -> None:
    """Decline a pending proposal; nothing changes."""
    from nextbest.agents.proposals import reject
    from nextbest.errors import NextbestError
    from nextbest.store.engine import make_engine

    try:
        reject(make_engine(Settings()), proposal_id, actor=actor or _actor(), note=note)
    except NextbestError as exc:
        raise _fail(exc) from None
    err.print(f"rejected {proposal_id}")
