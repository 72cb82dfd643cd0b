"""`nextbest simulate`."""

from __future__ import annotations


def simulate() -> None:
    """Write a simulated loyalty program history (not yet built)."""
    raise SystemExit("not yet built")
