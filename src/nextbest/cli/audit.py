"""`nextbest audit`: the data-readiness audit of the store, or of event files before ingest."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console

from nextbest.config import Settings
from nextbest.errors import NotFound
from nextbest.store.engine import make_engine


def _as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not an ISO date or time: {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def audit(
    files: list[Path] = typer.Argument(
        None,
        exists=True,
        dir_okay=False,
        help="Event files (JSONL, CSV, Parquet) to audit before ingest; none: the store.",
    ),
    html: Path | None = typer.Option(None, "--html", help="Also write a self-contained HTML page."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Judge freshness as of this ISO time (default: now)."
    ),
    window: int = typer.Option(90, min=1, help="Days scanned for silent days."),
    top: int = typer.Option(10, min=1, help="Fixes listed."),
) -> None:
    """Data readiness: completeness, validity, duplicates, attribution, identity, freshness;
    and what to fix first. With FILES, audits them before ingest; without, the store."""
    # Imported here: Matplotlib and DuckDB should not slow every other command's start.
    from nextbest.audit.html import render_html
    from nextbest.audit.run import audit_files, audit_store
    from nextbest.audit.text import print_report

    settings = Settings()
    when = _as_of(as_of)
    try:
        if files:
            report = audit_files(files, settings, as_of=when, window_days=window, top=top)
        else:
            engine = make_engine(settings)
            try:
                report = audit_store(engine, settings, as_of=when, window_days=window, top=top)
            finally:
                engine.dispose()
    except NotFound as exc:
        Console(stderr=True).print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    if html is not None:
        html.write_text(render_html(report), encoding="utf-8")
    if json_out:
        print(json.dumps(report.to_dict()))
        return
    print_report(report, Console())
    if html is not None:
        Console().print(f"HTML report: {html}")
