"""`nextbest channels …`: run the dispatcher, see the queue and its dead letters, export
direct mail."""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from nextbest.config import Settings

app = typer.Typer(help="Delivery: the outbox, channel adapters, retries and dead letters.")
console = Console()


@app.command("run")
def run(
    once: bool = typer.Option(False, "--once", help="One pass over due messages, then exit."),
    limit: int = typer.Option(200, min=1, help="Messages claimed per pass."),
    poll_seconds: float = typer.Option(1.0, min=0.05, help="Wait between passes when idle."),
) -> None:
    """Send due messages: governance, templates, adapters, retries."""
    from nextbest.channels.dispatch import Dispatcher
    from nextbest.store.engine import make_engine

    settings = Settings()
    db = make_engine(settings)
    dispatcher = Dispatcher(db, settings)
    try:
        while True:
            report = dispatcher.run_once(limit=limit)
            if report.claimed:
                console.print(" ".join(f"{k}={v}" for k, v in report.to_dict().items()))
            if once:
                break
            if report.claimed < limit:
                time.sleep(poll_seconds)
    except KeyboardInterrupt:
        pass
    finally:
        dispatcher.close()
        db.dispose()


@app.command("status")
def status(
    dead: int = typer.Option(20, min=0, help="Dead letters to list."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Messages by status and channel, and the latest dead letters with their last error."""
    from nextbest.channels.outbox import STATUSES, dead_letters, status_counts
    from nextbest.store.engine import make_engine

    db = make_engine(Settings())
    try:
        counts = status_counts(db)
        letters = dead_letters(db, limit=dead) if dead else []
    finally:
        db.dispose()
    if as_json:
        by = [{"status": s, "channel": c, "count": n} for (s, c), n in sorted(counts.items())]
        print(json.dumps({"counts": by, "dead_letters": letters}, default=str))
        return
    channels = sorted({c for _, c in counts})
    table = Table("status", *channels, "total", title="deliveries")
    for s in STATUSES:
        row = [counts.get((s, c), 0) for c in channels]
        table.add_row(s, *map(str, row), str(sum(row)))
    console.print(table)
    if letters:
        dl = Table("message", "member", "channel", "attempts", "last error", title="dead letters")
        for r in letters:
            dl.add_row(
                r["message_id"], r["member_id"], r["channel"], str(r["attempts"]), r["last_error"]
            )
        console.print(dl)


@app.command("requeue-dead")
def requeue_dead() -> None:
    """Give every dead letter a fresh set of attempts (once what killed them is fixed)."""
    from nextbest.channels.outbox import requeue_dead as requeue
    from nextbest.store.engine import make_engine

    db = make_engine(Settings())
    try:
        console.print(f"{requeue(db)} messages queued again")
    finally:
        db.dispose()


@app.command("export-direct-mail")
def export_direct_mail(
    day: datetime | None = typer.Option(None, "--date", help="Batch day (UTC); default today."),
    out: Path | None = typer.Option(None, help="Copy the batch file here."),
) -> None:
    """The day's direct-mail batch file (one row per letter) for the print house."""
    from nextbest.channels.direct_mail import batch_path, exported

    folder = Settings().data_dir / "direct_mail"
    when = (day or datetime.now(UTC)).replace(tzinfo=UTC)
    path = batch_path(folder, when)
    rows = exported(folder, when)
    if not rows:
        console.print(f"no letters in {path}")
        raise typer.Exit(1)
    if out is not None:
        shutil.copyfile(path, out)
        console.print(f"{len(rows)} letters copied to {out}")
    else:
        console.print(f"{len(rows)} letters in {path}")
