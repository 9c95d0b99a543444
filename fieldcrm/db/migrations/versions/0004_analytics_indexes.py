"""Covering indexes for the analytics report (sales and visits summed per account).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 11:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_sale_account_date_amount", "sale",
                    ["account_id", "sold_on", "currency", "amount_minor", "deleted"])
    op.create_index("ix_visit_account_time_status", "visit",
                    ["account_id", "checked_in_at", "status", "deleted"])


def downgrade() -> None:
    op.drop_index("ix_visit_account_time_status", table_name="visit")
    op.drop_index("ix_sale_account_date_amount", table_name="sale")
