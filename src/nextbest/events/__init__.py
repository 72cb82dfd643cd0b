"""Canonical events: types, identifiers and validation (pure, no IO)."""

from nextbest.events.identifiers import Identifiers, parse_key
from nextbest.events.types import EVENT_TYPES, SCHEMA_VERSION, Event, Source
from nextbest.events.validate import EVENT_ADAPTER, Rejection, check_event

__all__ = [
    "EVENT_ADAPTER",
    "EVENT_TYPES",
    "SCHEMA_VERSION",
    "Event",
    "Identifiers",
    "Rejection",
    "Source",
    "check_event",
    "parse_key",
]
