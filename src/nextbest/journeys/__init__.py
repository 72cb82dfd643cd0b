"""Journeys: event-triggered, durable, multi-step orchestration (definitions and engine)."""
