"""`nextbest demo`."""

from __future__ import annotations


def demo() -> None:
    """Simulate, ingest, resolve and serve (not yet built)."""
    raise SystemExit("not yet built")
