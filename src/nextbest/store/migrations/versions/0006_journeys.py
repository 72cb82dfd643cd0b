"""Journeys: applied versions, instances with their timers, steps taken, trigger cursors.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = 128


def upgrade() -> None:
    op.create_table(
        "journey_versions",
        sa.Column("journey_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("active", sa.Integer, nullable=False),
        sa.Column("applied_at", TS, nullable=False),
    )
    op.create_table(
        "journey_instances",
        sa.Column("instance_id", sa.String(ID), primary_key=True),
        sa.Column("journey_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("member_id", sa.String(ID), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("step", sa.String(64), nullable=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("due_at", sa.Float, nullable=True),
        sa.Column("waiting_for", sa.String(64), nullable=True),
        sa.Column("holdout", sa.Integer, nullable=False),
        sa.Column("vars", sa.Text, nullable=False),
        sa.Column("entered_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("exit_reason", sa.String(200), nullable=True),
        sa.Column("goal_at", TS, nullable=True),
    )
    op.create_index("ix_journey_instances_member_id", "journey_instances", ["member_id"])
    op.create_index("ix_journey_instances_due", "journey_instances", ["status", "due_at"])
    op.create_index(
        "ix_journey_instances_journey", "journey_instances", ["journey_id", "member_id"]
    )
    op.create_table(
        "journey_steps",
        sa.Column("instance_id", sa.String(ID), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("journey_id", sa.String(64), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(200), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_journey_steps_journey_id", "journey_steps", ["journey_id"])
    op.create_table(
        "journey_cursors",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("position", sa.String(200), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("journey_cursors", "journey_steps", "journey_instances", "journey_versions"):
        op.drop_table(table)
