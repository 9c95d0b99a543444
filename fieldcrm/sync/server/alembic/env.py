"""Alembic environment of the sync server (run programmatically by ``engine.migrate``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from fieldcrm.sync.server.engine import VERSION_TABLE
from fieldcrm.sync.server.models import Base

target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    with create_engine(context.config.get_main_option("sqlalchemy.url")).connect() as conn:
        _run(conn)
        conn.commit()
