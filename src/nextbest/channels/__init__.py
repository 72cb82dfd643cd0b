"""Channels: delivery adapters (email, SMS, push, in-app, webhook, direct mail) and the outbox."""
