"""`nextbest users`: console users with roles (create, list, disable; each audited)."""

from __future__ import annotations

import os

import typer
from rich.console import Console
from rich.table import Table

from nextbest.api.roles import ROLES
from nextbest.cli.keys import _actor
from nextbest.config import Settings
from nextbest.console.users import create_user, disable_user, list_users
from nextbest.errors import NextbestError
from nextbest.store.engine import make_engine

app = typer.Typer(help=f"Web console users with roles ({', '.join(ROLES)}).", no_args_is_help=True)

PASSWORD_ENV = "NEXTBEST_CONSOLE_PASSWORD"


@app.command("create")
def users_create(
    username: str = typer.Option(..., "--username", help="The login name."),
    roles: str = typer.Option(..., "--roles", help=f"Comma-separated, from: {', '.join(ROLES)}."),
) -> None:
    """Create a console user. The password comes from $NEXTBEST_CONSOLE_PASSWORD, else a
    prompt (never an argument, which would land in the shell history)."""
    password = os.environ.get(PASSWORD_ENV) or typer.prompt(
        "password", hide_input=True, confirmation_prompt=True
    )
    engine = make_engine(Settings())
    try:
        user = create_user(
            engine, username=username, password=password, roles=roles, actor=_actor()
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    except NextbestError as exc:
        Console(stderr=True).print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    Console(stderr=True).print(
        f"created console user [bold]{user.username}[/] ({', '.join(user.roles)})"
    )


@app.command("list")
def users_list() -> None:
    """List console users (never their passwords)."""
    engine = make_engine(Settings())
    try:
        users = list_users(engine)
    finally:
        engine.dispose()
    table = Table()
    for column in ("username", "roles", "created", "disabled"):
        table.add_column(column)
    for u in users:
        table.add_row(
            u.username,
            ", ".join(u.roles),
            u.created_at.isoformat(timespec="seconds"),
            u.disabled_at.isoformat(timespec="seconds") if u.disabled_at else "",
        )
    Console().print(table)


@app.command("disable")
def users_disable(username: str = typer.Argument(..., help="The user to disable.")) -> None:
    """Disable a user and end their sessions."""
    engine = make_engine(Settings())
    try:
        disable_user(engine, username, actor=_actor())
    except NextbestError as exc:
        Console(stderr=True).print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    Console(stderr=True).print(f"disabled {username}")
