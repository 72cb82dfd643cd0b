"""Privacy: the record of each member erasure (never the erased identifiers).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = 128


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("erasure_id", sa.String(64), primary_key=True),
        sa.Column("anonymous_id", sa.String(ID), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("counts", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("erasures")
