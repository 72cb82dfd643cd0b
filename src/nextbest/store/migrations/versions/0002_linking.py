"""Probabilistic linking: explained merges, review queue, models, shared identifiers, audit.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Batch mode: SQLite cannot drop NOT NULL in place (a probabilistic merge has no event).
    with op.batch_alter_table("member_merges") as batch:
        batch.alter_column("event_id", existing_type=sa.String(128), nullable=True)
        batch.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default="deterministic")
        )
        batch.add_column(sa.Column("match_probability", sa.Float, nullable=True))
        batch.add_column(sa.Column("explanation", sa.Text, nullable=True))
        batch.add_column(sa.Column("undone_at", TS, nullable=True))
    with op.batch_alter_table("identifiers") as batch:
        batch.add_column(sa.Column("anchors", sa.Text, nullable=True))
        batch.add_column(sa.Column("shared_at", TS, nullable=True))
    op.create_table(
        "link_candidates",
        sa.Column("candidate_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("left_member", sa.String(128), nullable=False),
        sa.Column("right_member", sa.String(128), nullable=False),
        sa.Column("match_probability", sa.Float, nullable=False),
        sa.Column("match_weight", sa.Float, nullable=False),
        sa.Column("explanation", sa.Text, nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.UniqueConstraint("left_member", "right_member", name="uq_link_candidates_pair"),
    )
    op.create_index("ix_link_candidates_status", "link_candidates", ["status"])
    op.create_table(
        "link_models",
        sa.Column("model_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("records", sa.Integer, nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("audit_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(320), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_log_subject", "audit_log", ["subject"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("link_models")
    op.drop_table("link_candidates")
    with op.batch_alter_table("identifiers") as batch:
        batch.drop_column("shared_at")
        batch.drop_column("anchors")
    with op.batch_alter_table("member_merges") as batch:
        batch.drop_column("undone_at")
        batch.drop_column("explanation")
        batch.drop_column("match_probability")
        batch.drop_column("kind")
        batch.alter_column("event_id", existing_type=sa.String(128), nullable=False)
