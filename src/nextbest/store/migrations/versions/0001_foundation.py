"""Foundation: events, members, identity graph, profiles, dead letters, API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("member_id", sa.String(128), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_index("ix_events_member_time", "events", ["member_id", "occurred_at"])
    op.create_table(
        "members",
        sa.Column("member_id", sa.String(128), primary_key=True),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("merged_into", sa.String(128), nullable=True),
        sa.Column("recorded_at", TS, nullable=False),
    )
    op.create_index("ix_members_merged_into", "members", ["merged_into"])
    op.create_table(
        "identifiers",
        sa.Column("key", sa.String(320), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("member_id", sa.String(128), nullable=False),
        sa.Column("first_event_id", sa.String(128), nullable=False),
        sa.Column("first_seen_at", TS, nullable=False),
    )
    op.create_index("ix_identifiers_member_id", "identifiers", ["member_id"])
    op.create_table(
        "member_merges",
        sa.Column("merge_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("survivor_id", sa.String(128), nullable=False),
        sa.Column("merged_id", sa.String(128), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("identifier", sa.String(320), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
    )
    op.create_index("ix_member_merges_survivor_id", "member_merges", ["survivor_id"])
    op.create_index("ix_member_merges_merged_id", "member_merges", ["merged_id"])
    op.create_table(
        "profiles",
        sa.Column("member_id", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("event_count", sa.Integer, nullable=False),
        sa.Column("purchase_count", sa.Integer, nullable=False),
        sa.Column("spend", sa.Float, nullable=False),
        sa.Column("first_purchase_at", TS, nullable=True),
        sa.Column("last_purchase_at", TS, nullable=True),
        sa.Column("last_event_at", TS, nullable=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "dead_letters",
        sa.Column("dead_letter_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("origin", sa.String(500), nullable=False),
        sa.Column("location", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=True),
        sa.Column("field", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(128), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )


def downgrade() -> None:
    for table in (
        "api_keys",
        "dead_letters",
        "profiles",
        "member_merges",
        "identifiers",
        "members",
        "events",
    ):
        op.drop_table(table)
