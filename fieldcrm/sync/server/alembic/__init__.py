"""Alembic migrations of the sync server (a package so that it ships in the wheel)."""
