"""`nextbest journeys …` and `nextbest worker`: journey files, analytics and the durable worker."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from nextbest.config import Settings

app = typer.Typer(help="Journeys: validate files, start from templates, see how they convert.")
console = Console()


@app.command("list")
def list_journeys() -> None:
    """The journeys the worker runs (the configured folder, or the built-in templates)."""
    from nextbest.journeys.catalog import load_journeys

    settings = Settings()
    table = Table(title=f"journeys ({settings.effective_journeys_dir() or 'built-in templates'})")
    for col in ("journey", "name", "trigger", "steps", "holdout", "version"):
        table.add_column(col)
    for j in load_journeys(settings.effective_journeys_dir()):
        trig = j.trigger.model_dump(exclude_defaults=True)
        table.add_row(
            j.id, j.name, json.dumps(trig), str(len(j.steps)), f"{j.holdout:.0%}", j.version
        )
    console.print(table)


@app.command("validate")
def validate(files: list[Path]) -> None:
    """Check journey files; every problem is printed with its line."""
    from nextbest.journeys.definition import JourneyError, load_journey

    bad = 0
    for path in files:
        try:
            j = load_journey(path)
            console.print(
                f"[green]ok[/] {path}: {j.id} ({len(j.steps)} steps, version {j.version})"
            )
        except JourneyError as exc:
            bad += 1
            for issue in exc.issues:
                console.print(f"[red]{path}:{issue}[/]")
    if bad:
        raise typer.Exit(1)


@app.command("init")
def init(folder: Path) -> None:
    """Copy the built-in journey templates into FOLDER to start from."""
    folder.mkdir(parents=True, exist_ok=True)
    src = resources.files("nextbest.journeys") / "templates"
    for item in src.iterdir():
        if item.name.endswith(".yaml"):
            with resources.as_file(item) as p:
                shutil.copy(p, folder / item.name)
            console.print(f"wrote {folder / item.name}")


@app.command("stats")
def stats(
    journey: str | None = typer.Argument(None, help="One journey id; default all."),
    chart: Path | None = typer.Option(
        None, help="Write a funnel chart per journey into this folder."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Entries, members reaching each step, goal conversion against the holdout."""
    from nextbest.journeys.catalog import load_journeys
    from nextbest.journeys.stats import funnel_chart, journey_stats
    from nextbest.store.engine import make_engine

    settings = Settings()
    db = make_engine(settings)
    chosen = [
        j for j in load_journeys(settings.effective_journeys_dir()) if journey in (None, j.id)
    ]
    if not chosen:
        raise typer.BadParameter(f"no journey {journey!r}")
    results = [journey_stats(db, j) for j in chosen]
    if chart is not None:
        chart.mkdir(parents=True, exist_ok=True)
        for s in results:
            funnel_chart(s, str(chart / f"{s.journey_id}.png"))
    if as_json:
        typer.echo(json.dumps({"journeys": [s.as_dict() for s in results]}, default=str))
        return
    for s in results:
        table = Table(title=f"{s.journey_id}: {s.entries:,} entries ({s.holdout:,} in holdout)")
        for col in ("step", "kind", "members", "of treated"):
            table.add_column(col)
        for row in s.steps:
            table.add_row(row["step"], row["kind"], f"{row['members']:,}", f"{row['share']:.0%}")
        console.print(table)
        if s.goal_treated is not None:
            hold = "n/a" if s.goal_holdout is None else f"{s.goal_holdout:.1%}"
            line = f"goal: treated {s.goal_treated:.1%}, holdout {hold}"
            if s.lift is not None and s.lift_ci is not None:
                line += f", lift {s.lift:+.1%} (95% CI {s.lift_ci[0]:+.1%} to {s.lift_ci[1]:+.1%})"
            console.print(line)


def worker(
    once: bool = typer.Option(False, help="One pass, then exit."),
    poll: float = typer.Option(1.0, min=0.01, help="Seconds to sleep when there is nothing to do."),
    channels: bool = typer.Option(True, help="Also deliver due messages."),
    scan_every: float = typer.Option(3600.0, help="Seconds between score/segment/date scans."),
) -> None:
    """Run journeys and deliveries until stopped; safe to kill and to run several."""
    from nextbest.journeys.worker import Worker

    w = Worker(Settings(), channels=channels, scan_every=scan_every)
    try:
        if once:
            got = w.run_once()
            console.print(f"entered {got.entered}, steps {got.steps}, sent {got.sent}")
        else:
            w.run(poll_seconds=poll)
    except KeyboardInterrupt:
        pass
    finally:
        w.close()
