"""`nextbest bench microsegments`: micro-segments for many members, count and time."""

from __future__ import annotations

import typer


def bench_microsegments() -> None:
    """Not built yet."""
    raise typer.Exit(2)
