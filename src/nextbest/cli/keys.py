"""`nextbest keys`: create, list and revoke API keys."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from nextbest.api.keys_store import SCOPES, create_key, list_keys, revoke_key
from nextbest.config import Settings
from nextbest.errors import NextbestError
from nextbest.store.engine import make_engine

app = typer.Typer(help="API keys (scopes: ingest, read, admin).", no_args_is_help=True)


@app.command("create")
def keys_create(
    name: str = typer.Option(..., "--name", help="Who or what uses the key."),
    scopes: str = typer.Option(
        "ingest,read", "--scopes", help=f"Comma-separated, from: {', '.join(SCOPES)}."
    ),
) -> None:
    """Create a key and print its secret ONCE (only a hash is stored)."""
    engine = make_engine(Settings())
    try:
        key, token = create_key(engine, name=name, scopes=scopes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scopes") from None
    finally:
        engine.dispose()
    err = Console(stderr=True)
    err.print(f"created key [bold]{key.key_id}[/] ({key.name}) scopes: {' '.join(key.scopes)}")
    err.print("the secret below is shown once; store it now:")
    print(token)


@app.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""
    engine = make_engine(Settings())
    try:
        keys = list_keys(engine)
    finally:
        engine.dispose()
    table = Table("key_id", "name", "scopes", "created_at", "status")
    for key in keys:
        status = "active" if key.active else f"revoked {key.revoked_at:%Y-%m-%d %H:%M}"
        table.add_row(
            key.key_id, key.name, " ".join(key.scopes), f"{key.created_at:%Y-%m-%d %H:%M}", status
        )
    Console().print(table)


@app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(..., help="The key_id shown by `keys list`.")) -> None:
    """Revoke a key; servers stop accepting it within 10 seconds."""
    engine = make_engine(Settings())
    try:
        key = revoke_key(engine, key_id)
    except NextbestError as exc:
        Console(stderr=True).print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    Console().print(f"revoked [bold]{key.key_id}[/] ({key.name})")
