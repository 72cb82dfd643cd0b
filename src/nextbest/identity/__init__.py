"""Identity graph: identifiers resolved to one member, with merge history."""
