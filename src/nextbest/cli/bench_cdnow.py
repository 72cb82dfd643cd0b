"""`nextbest bench cdnow` and `bench btyd`: the published CDNOW fits, and BG/NBD at scale."""

from __future__ import annotations

import typer


def bench_cdnow() -> None:
    """Not built yet."""
    raise typer.Exit(2)


def bench_btyd() -> None:
    """Not built yet."""
    raise typer.Exit(2)
