"""Sync client tables: conflicts the server ruled on and quarantined edits (lost territory).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 11:35:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_conflict",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=36), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("kept_json", sa.Text(), nullable=False),
        sa.Column("mine_json", sa.Text(), nullable=False),
        sa.Column("mutation_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=False),
        sa.Column("resolution_sent", sa.Boolean(), nullable=False),
        sa.Column("row_version", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sync_conflict_entity", "sync_conflict", ["entity", "entity_id"])
    op.create_table(
        "sync_quarantine",
        sa.Column("mutation_id", sa.String(length=36), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=36), nullable=False),
        sa.Column("op", sa.String(length=16), nullable=False),
        sa.Column("fields_json", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("mutation_id"),
    )
    op.create_index("ix_row_scope_scope", "row_scope", ["scope_id", "entity"])
    op.create_index("ix_outbox_entity", "outbox", ["entity", "entity_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_outbox_entity", table_name="outbox")
    op.drop_index("ix_row_scope_scope", table_name="row_scope")
    op.drop_table("sync_quarantine")
    op.drop_index("ix_sync_conflict_entity", table_name="sync_conflict")
    op.drop_table("sync_conflict")
