"""Case-insensitive index on account names, so the list sorts Åby beside aby without a sort step.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 12:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_account_name_nocase ON account (name COLLATE NOCASE, id)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_account_name_nocase")
