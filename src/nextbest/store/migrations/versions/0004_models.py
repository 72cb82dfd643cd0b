"""Model registry and member scores: model cards per version, scores written back.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("task", sa.String(64), nullable=False, index=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("card", sa.Text, nullable=False),  # JSON model card
        sa.Column("artefact", sa.Text, nullable=False),  # JSON: booster text, encoding, calibration
    )
    op.create_table(
        "member_scores",
        sa.Column("member_id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("as_of", TS, nullable=False),
        sa.Column("scored_at", TS, nullable=False),
        sa.Column("explanation", sa.Text, nullable=True),  # JSON: top drivers
    )


def downgrade() -> None:
    op.drop_table("member_scores")
    op.drop_table("model_versions")
