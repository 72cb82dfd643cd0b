"""`nextbest models btyd`: BG/NBD, Pareto/NBD and Gamma-Gamma fitted on a transactions CSV."""

from __future__ import annotations

import typer


def btyd() -> None:
    """Not built yet."""
    raise typer.Exit(2)
