"""The points ledger: programs, accounts, entries, postings, lots, tiers, budgets, outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ledger_programs",
        sa.Column("version", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("source", sa.Text, nullable=False),  # the YAML as applied
        sa.Column("definition", sa.Text, nullable=False),  # JSON of the validated program
        sa.Column("applied_at", TS, nullable=False),
        sa.Column("applied_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "ledger_accounts",
        sa.Column("member_id", sa.String(128), primary_key=True),
        sa.Column("currency", sa.String(64), primary_key=True),
        sa.Column("balance", sa.Integer, nullable=False),
        sa.Column("last_activity_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("entry_id", sa.String(128), primary_key=True),
        sa.Column("idempotency_key", sa.String(320), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("member_id", sa.String(128), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("program_version", sa.String(32), nullable=True),
        sa.Column("reference", sa.String(320), nullable=True),
        sa.Column("reverses", sa.String(128), nullable=True, unique=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("day", sa.String(10), nullable=True),  # cap day of an earn
        sa.Column("points", sa.Integer, nullable=False),  # net change of the spendable balance
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Index("ix_ledger_entries_member_time", "member_id", "occurred_at"),
        sa.Index("ix_ledger_entries_member_day", "member_id", "day"),
        sa.Index("ix_ledger_entries_reference", "reference"),
    )
    op.create_table(
        "ledger_postings",
        sa.Column("posting_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entry_id", sa.String(128), nullable=False, index=True),
        sa.Column("account", sa.String(320), nullable=False),
        sa.Column("member_id", sa.String(128), nullable=True),
        sa.Column("currency", sa.String(64), nullable=False),
        sa.Column("amount", sa.Integer, nullable=False),
        sa.Column("lot_id", sa.String(320), nullable=True, index=True),
        sa.Index("ix_ledger_postings_member", "member_id", "currency"),
    )
    op.create_table(
        "ledger_lots",
        sa.Column("lot_id", sa.String(320), primary_key=True),
        sa.Column("member_id", sa.String(128), nullable=False),
        sa.Column("origin_member_id", sa.String(128), nullable=False, index=True),
        sa.Column("currency", sa.String(64), nullable=False),
        sa.Column("entry_id", sa.String(128), nullable=False),
        sa.Column("earned_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("remaining", sa.Integer, nullable=False),
        sa.Index("ix_ledger_lots_member_open", "member_id", "remaining"),
        sa.Index("ix_ledger_lots_expires", "expires_at"),
    )
    op.create_table(
        "ledger_tiers",
        sa.Column("member_id", sa.String(128), primary_key=True),
        sa.Column("tier", sa.String(64), nullable=True),
        sa.Column("since", TS, nullable=True),
        sa.Column("grace_until", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "ledger_promotions",
        sa.Column("promotion_id", sa.String(64), primary_key=True),
        sa.Column("spent", sa.Integer, nullable=False),
    )
    op.create_table(
        "ledger_rewards",
        sa.Column("reward_id", sa.String(64), primary_key=True),
        sa.Column("taken", sa.Integer, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("message_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(64), nullable=False, index=True),
        sa.Column("member_id", sa.String(128), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("published_at", TS, nullable=True),
    )


def downgrade() -> None:
    for name in (
        "outbox",
        "ledger_rewards",
        "ledger_promotions",
        "ledger_tiers",
        "ledger_lots",
        "ledger_postings",
        "ledger_entries",
        "ledger_accounts",
        "ledger_programs",
    ):
        op.drop_table(name)
