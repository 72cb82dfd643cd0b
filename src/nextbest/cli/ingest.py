"""`nextbest ingest` commands."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from sqlalchemy import select

from nextbest.config import Settings
from nextbest.ingest.history import EventHistory
from nextbest.ingest.readers import FORMATS, detect_format, size_of
from nextbest.ingest.records import IngestReport
from nextbest.ingest.service import ingest_file
from nextbest.store import tables as t
from nextbest.store.engine import make_engine, upgrade

app = typer.Typer(help="Load events from files and streams.", no_args_is_help=True)
console = Console(stderr=True)


def print_report(report: IngestReport, *, limit: int = 20) -> None:
    table = Table(title="ingestion", show_header=False)
    for name, value in (
        ("accepted", report.accepted),
        ("duplicates (already ingested)", report.duplicates),
        ("rejected → dead letters", report.rejected),
        ("new members", report.members_created),
        ("member merges", report.merges),
        ("anonymous events (no identifier)", report.anonymous),
    ):
        table.add_row(name, f"{value:,}")
    console.print(table)
    if report.rejections:
        bad = Table(title=f"rejected records (first {min(limit, len(report.rejections))})")
        for col in ("where", "event_id", "field", "reason"):
            bad.add_column(col, overflow="fold")
        for r in report.rejections[:limit]:
            bad.add_row(r.location, r.event_id or "", r.field, r.reason)
        console.print(bad)


@app.command("file")
def ingest_files(
    paths: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="Event files."),
    fmt: str | None = typer.Option(None, "--format", help=f"One of {', '.join(FORMATS)}."),
    history: bool = typer.Option(True, help="Append accepted events to the Parquet history."),
) -> None:
    """Ingest JSON Lines, CSV or Parquet files; bad records go to the dead-letter store."""
    settings = Settings()
    engine = make_engine(settings)
    upgrade(engine)
    total = IngestReport()
    for path in paths:
        kind = fmt or detect_format(path)
        unit_bytes = kind != "parquet"
        columns = [TextColumn(f"[bold]{path.name}"), BarColumn()]
        columns.append(TransferSpeedColumn() if unit_bytes else MofNCompleteColumn())
        columns.append(TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("ingest", total=size_of(path, kind))
            report = ingest_file(
                engine,
                settings,
                path,
                fmt=kind,
                progress=partial(bar.advance, task),
                write_history=history,
            )
        # Several files in one summary: say which file each refused record came from.
        report.rejections = [
            replace(r, location=f"{path.name} {r.location}") for r in report.rejections
        ]
        total.add(report)
    print_report(total)


@app.command("dead-letters")
def dead_letters(limit: int = typer.Option(50, help="Rows to show.")) -> None:
    """List the newest dead letters: where each record was, which field, and why."""
    engine = make_engine(Settings())
    upgrade(engine)
    dl = t.dead_letters
    query = select(dl.c.origin, dl.c.location, dl.c.event_id, dl.c.field, dl.c.reason)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(dl.c.dead_letter_id.desc()).limit(limit)).all()
    table = Table(title=f"dead letters (newest {len(rows)})")
    for col in ("origin", "where", "event_id", "field", "reason"):
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(row.origin, row.location, row.event_id or "", row.field, row.reason)
    Console().print(table)


@app.command("compact-history")
def compact_history(
    small_rows: int = typer.Option(100_000, help="Files with fewer rows are merged."),
) -> None:
    """Merge the small Parquet history files that HTTP and stream ingestion write."""
    settings = Settings()
    merged, rows = EventHistory(settings.event_history_dir).compact(small_rows=small_rows)
    Console().print(f"merged {merged} files ({rows:,} events) in {settings.event_history_dir}")
