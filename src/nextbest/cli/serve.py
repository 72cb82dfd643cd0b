"""`nextbest serve`."""

from __future__ import annotations


def serve() -> None:
    """Serve the HTTP API (not yet built)."""
    raise SystemExit("not yet built")
