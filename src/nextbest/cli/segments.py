"""`nextbest segments …`: RFM scores and named segments, migration, micro-segments."""

from __future__ import annotations

import typer

app = typer.Typer(help="RFM segments, their migration between two dates, micro-segments.")
