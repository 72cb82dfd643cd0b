"""Decisions: contact counters, the decision log, credited outcomes and learner state.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "contact_counters",
        sa.Column("key", sa.String(320), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=True),
    )
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.String(64), primary_key=True),
        sa.Column("request_key", sa.String(128), nullable=True, unique=True),
        sa.Column("member_id", sa.String(128), nullable=False, index=True),
        sa.Column("decided_at", TS, nullable=False, index=True),
        sa.Column("action_id", sa.String(128), nullable=False, index=True),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column("send_at", TS, nullable=True),
        sa.Column("propensity", sa.Float, nullable=False),
        sa.Column("holdout", sa.Integer, nullable=False),
        sa.Column("contacted", sa.Integer, nullable=False),
        sa.Column("catalogue_version", sa.String(64), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("reward", sa.Float, nullable=True),
        sa.Column("rewarded_at", TS, nullable=True),
    )
    op.create_table(
        "decision_outcomes",
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("decision_id", sa.String(64), nullable=False, index=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("reward", sa.Float, nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
    )
    op.create_table(
        "policy_states",
        sa.Column("policy", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    for name in ("policy_states", "decision_outcomes", "decisions", "contact_counters"):
        op.drop_table(name)
