"""nextbest: an open-source loyalty orchestration engine."""

__version__ = "0.1.0"
