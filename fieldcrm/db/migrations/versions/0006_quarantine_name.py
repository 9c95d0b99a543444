"""Quarantined edits keep the name of their record: the record itself leaves with the territory.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sync_quarantine",
                  sa.Column("name", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("sync_quarantine") as batch_op:
        batch_op.drop_column("name")
