"""Alembic environment: runs on the connection fieldcrm.db.engine hands over (batch mode for SQLite)."""

from __future__ import annotations

from alembic import context

from fieldcrm.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when the alembic CLI is used directly
    from sqlalchemy import create_engine

    url = context.config.get_main_option("sqlalchemy.url") or "sqlite:///fieldcrm-dev.db"
    connection = create_engine(url).connect()

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
