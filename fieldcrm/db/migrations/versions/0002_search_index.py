"""Full-text search over accounts, contacts and visit notes (FTS5), filled from existing rows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 11:45:00
"""

from __future__ import annotations

from alembic import op

from fieldcrm.db.search_sql import create_statements, drop_statements, rebuild_statements

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in create_statements() + rebuild_statements():
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_statements():
        op.execute(statement)
