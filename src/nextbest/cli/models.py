"""`nextbest models …`: fit and evaluate the predictive models."""

from __future__ import annotations

import typer

app = typer.Typer(help="Buy-till-you-die CLV, churn, recommendations: fit, evaluate, inspect.")
