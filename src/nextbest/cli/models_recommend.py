"""`nextbest models recommend` and `bench recommend`: next products per member."""

from __future__ import annotations

import typer


def recommend() -> None:
    """Not built yet."""
    raise typer.Exit(2)


def bench_recommend() -> None:
    """Not built yet."""
    raise typer.Exit(2)
