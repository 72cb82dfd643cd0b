"""`nextbest identity link-members | review | unmerge`: probabilistic merges and their undoing."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from nextbest.config import Settings
from nextbest.errors import NextbestError
from nextbest.members import review as queue
from nextbest.members.link import link_members
from nextbest.members.quality import merge_quality
from nextbest.members.unmerge import unmerge
from nextbest.store.engine import make_engine


def _actor(by: str | None) -> str:
    return by or f"cli:{getpass.getuser()}"


def _fail(exc: Exception) -> typer.Exit:
    Console(stderr=True).print(f"[red]{exc}[/]")
    return typer.Exit(1)


def link_members_command(
    truth: Path | None = typer.Option(
        None,
        exists=True,
        dir_okay=False,
        help="Simulator ground truth (event_id, person_id): also print how right the merges are.",
    ),
    retrain: bool = typer.Option(
        False, "--retrain", help="Train a new model instead of scoring with the stored one."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Link members probabilistically: merge sure pairs, queue the grey zone for review."""
    settings = Settings()
    engine = make_engine(settings)
    run = link_members(engine, settings, retrain=retrain)
    out = run.to_dict()
    if truth is not None:
        out["quality"] = merge_quality(engine, truth)
    if as_json:
        print(json.dumps(out))
        return
    table = Table(title="probabilistic linking of members")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name in (
        "records",
        "pairs",
        "merged",
        "queued_for_review",
        "already_decided",
        "kept_apart",
        "model_version",
    ):
        value = out[name]
        table.add_row(name.replace("_", " "), f"{value:,}" if isinstance(value, int) else value)
    for name, seconds in run.timings.items():
        table.add_row(f"{name.replace('_', ' ')} (s)", f"{seconds:.2f}")
    for name, value in out.get("quality", {}).items():
        shown = "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else value
        table.add_row(name.replace("_", " "), f"{shown:,}" if isinstance(shown, int) else shown)
    Console().print(table)


def review(
    accept: int | None = typer.Option(None, "--accept", help="Accept this candidate: merge."),
    reject: int | None = typer.Option(None, "--reject", help="Reject it: never proposed again."),
    note: str = typer.Option("", "--note", help="Why (kept in the audit log)."),
    by: str | None = typer.Option(None, "--by", help="Reviewer name (default: cli:<user>)."),
    status: str = typer.Option("pending", "--status", help=f"List: {', '.join(queue.STATUSES)}."),
    limit: int = typer.Option(20, "--limit", min=1),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The review queue of probable links: list it, or accept or reject one."""
    engine = make_engine(Settings())
    if accept is not None and reject is not None:
        raise typer.BadParameter("give --accept or --reject, not both")
    try:
        if accept is not None or reject is not None:
            chosen = accept if accept is not None else reject
            assert chosen is not None
            cand = queue.decide(
                engine, chosen, accept=accept is not None, actor=_actor(by), note=note
            )
            if as_json:
                print(json.dumps(cand.to_dict()))
            else:
                Console().print(f"candidate {cand.candidate_id}: [bold]{cand.status}[/]")
            return
        with engine.connect() as conn:
            found = queue.candidates(conn, status=status, limit=limit)
    except (NextbestError, ValueError) as exc:
        raise _fail(exc) from None
    if as_json:
        print(json.dumps([c.to_dict() for c in found]))
        return
    table = Table(title=f"link candidates ({status}), most probable first")
    for col in ("id", "left member", "right member", "p", "main evidence (match weight)"):
        table.add_column(col)
    for c in found:
        top = sorted(c.weights.items(), key=lambda kv: -abs(kv[1]))[:4]
        table.add_row(
            str(c.candidate_id),
            c.left_member,
            c.right_member,
            f"{c.match_probability:.3f}",
            ", ".join(f"{k} {w:+.1f}" for k, w in top),
        )
    Console().print(table)


def unmerge_command(
    member: str | None = typer.Argument(
        None, help="A member that was merged away (its latest merge is undone)."
    ),
    merge_id: int | None = typer.Option(None, "--merge-id", help="Or the merge to undo."),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the audit log)."),
    block: list[str] = typer.Option(
        [], "--block", help="Identifier (kind:value) to declare shared so it stops linking."
    ),
    by: str | None = typer.Option(None, "--by", help="Who (default: cli:<user>)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Split a member back: identifiers, events and profiles return to their owners."""
    if member is None and merge_id is None:
        raise typer.BadParameter("give a MEMBER or --merge-id")
    settings = Settings()
    try:
        report = unmerge(
            make_engine(settings),
            settings,
            member_id=member,
            merge_id=merge_id,
            actor=_actor(by),
            reason=reason,
            block=block,
        )
    except (NextbestError, ValueError) as exc:
        raise _fail(exc) from None
    out = report.to_dict()
    if as_json:
        print(json.dumps(out))
        return
    console = Console()
    console.print(
        f"undid merge {report.merge_id}: {report.merged} is its own member again "
        f"({report.identifiers_moved} identifiers and {report.events_moved} events moved, "
        f"{report.profiles_rebuilt} profiles rebuilt from events)"
    )
    for survivor, folded in report.groups.items():
        console.print(f"  {survivor}" + (f" ← {', '.join(folded)}" if folded else ""))
