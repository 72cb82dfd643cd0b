"""Table definitions (SQLAlchemy Core). Migrations in ``migrations/versions`` create them."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

ID = 128  # event ids, member ids, key ids
KEY = 320  # identifier keys "kind:value"

events = Table(
    "events",
    metadata,
    Column("event_id", String(ID), primary_key=True),
    Column("type", String(32), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("source", String(32), nullable=False),
    # The member at ingest time; follow members.merged_into for the current one.
    Column("member_id", String(ID), nullable=True),
    Column("payload", Text, nullable=False),
    Index("ix_events_member_time", "member_id", "occurred_at"),
)

members = Table(
    "members",
    metadata,
    Column("member_id", String(ID), primary_key=True),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("merged_into", String(ID), nullable=True, index=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

identifiers = Table(
    "identifiers",
    metadata,
    Column("key", String(KEY), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("member_id", String(ID), nullable=False, index=True),
    Column("first_event_id", String(ID), nullable=False),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
)

member_merges = Table(
    "member_merges",
    metadata,
    Column("merge_id", Integer, primary_key=True, autoincrement=True),
    Column("survivor_id", String(ID), nullable=False, index=True),
    Column("merged_id", String(ID), nullable=False, index=True),
    Column("event_id", String(ID), nullable=False),
    Column("identifier", String(KEY), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

profiles = Table(
    "profiles",
    metadata,
    Column("member_id", String(ID), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("event_count", Integer, nullable=False),
    Column("purchase_count", Integer, nullable=False),
    Column("spend", Float, nullable=False),
    Column("first_purchase_at", DateTime(timezone=True), nullable=True),
    Column("last_purchase_at", DateTime(timezone=True), nullable=True),
    Column("last_event_at", DateTime(timezone=True), nullable=True),
    Column("state", Text, nullable=False),  # JSON of nextbest.profiles.state.ProfileState
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("dead_letter_id", Integer, primary_key=True, autoincrement=True),
    # Hash of origin + location + raw: re-sending the same bad record adds nothing.
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("origin", String(500), nullable=False),
    Column("location", String(100), nullable=False),
    Column("event_id", String(ID), nullable=True),
    Column("field", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(128), nullable=False),
    Column("scopes", String(200), nullable=False),  # space-separated
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)
