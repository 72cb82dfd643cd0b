"""`nextbest keys`: create, list and revoke API keys (each audited)."""

from __future__ import annotations

import getpass

import typer
from rich.console import Console
from rich.table import Table

from nextbest.api.keys_store import SCOPES, create_key, list_keys, revoke_key
from nextbest.api.roles import ROLES
from nextbest.config import Settings
from nextbest.errors import NextbestError
from nextbest.store.engine import make_engine

app = typer.Typer(
    help=f"API keys with roles ({', '.join(ROLES)}); see nextbest.api.roles.",
    no_args_is_help=True,
)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@app.command("create")
def keys_create(
    name: str = typer.Option(..., "--name", help="Who or what uses the key."),
    roles: str = typer.Option("", "--roles", help=f"Comma-separated, from: {', '.join(ROLES)}."),
    scopes: str = typer.Option(
        "", "--scopes", help=f"Legacy, comma-separated, from: {', '.join(SCOPES)}."
    ),
) -> None:
    """Create a key and print its secret ONCE (only a hash is stored)."""
    engine = make_engine(Settings())
    try:
        key, token = create_key(engine, name=name, roles=roles, scopes=scopes, actor=_actor())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--roles") from None
    finally:
        engine.dispose()
    err = Console(stderr=True)
    err.print(f"created key [bold]{key.key_id}[/] ({key.name}) with {key.describe()}")
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
    table = Table()
    table.add_column("key_id", no_wrap=True)
    for column in ("name", "access", "created_at", "status"):
        table.add_column(column)
    for key in keys:
        status = "active" if key.active else f"revoked {key.revoked_at:%Y-%m-%d %H:%M}"
        table.add_row(
            key.key_id, key.name, key.describe(), f"{key.created_at:%Y-%m-%d %H:%M}", status
        )
    Console().print(table)


@app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(..., help="The key_id shown by `keys list`.")) -> None:
    """Revoke a key; servers stop accepting it within 10 seconds."""
    engine = make_engine(Settings())
    try:
        key = revoke_key(engine, key_id, actor=_actor())
    except NextbestError as exc:
        Console(stderr=True).print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    Console().print(f"revoked [bold]{key.key_id}[/] ({key.name})")
