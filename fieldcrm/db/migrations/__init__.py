"""Alembic migrations of the local database (run on open by fieldcrm.db.engine)."""
