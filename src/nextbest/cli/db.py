"""`nextbest db` commands."""

from __future__ import annotations

import typer
from rich.console import Console

from nextbest.config import Settings
from nextbest.store.engine import current_revision, make_engine, upgrade

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION on the configured database."""
    settings = Settings()
    engine = make_engine(settings)
    upgrade(engine, revision)
    Console().print(f"database at revision [bold]{current_revision(engine)}[/] ({engine.url!r})")


@app.command("current")
def db_current() -> None:
    """Print the schema revision of the configured database."""
    engine = make_engine(Settings())
    Console().print(current_revision(engine) or "(empty)")
