"""visit review audit: who decided, when, with which note (the flag reason is kept)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: plain ALTER TABLE on PostgreSQL, SQLite's ADD COLUMN (no table copy needed).
    with op.batch_alter_table("visit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reviewed_by", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("review_note", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("visit", schema=None) as batch_op:
        batch_op.drop_column("review_note")
        batch_op.drop_column("reviewed_at")
        batch_op.drop_column("reviewed_by")
