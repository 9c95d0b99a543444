"""The local database: migrations on open, upgrade from the first revision, and clear errors."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from fieldcrm.db.engine import current_revision, head_revision, make_engine, open_database, upgrade
from fieldcrm.errors import DatabaseError, DatabaseTooNew


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_new_database_is_at_head_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    db = open_database(tmp_path / "a.db")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert current_revision(db.engine) == head_revision()
    db.close()


def test_upgrade_from_first_revision_keeps_rows_and_indexes_them(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = make_engine(path)
    upgrade(engine, "0001")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO account (id, name, status, tier, tags, street, postcode, city, region, country,"
            " geocode_source, phone, phone_raw, phone_valid, email, email_valid, website, notes,"
            " row_version, deleted, created_at, updated_at, extra_json) VALUES ('a1', 'Kiruna Järn AB',"
            " 'customer', 'A', '', '', '', 'Kiruna', '', 'SE', 'none', '', '', 1, '', 1, '', 'old note',"
            " 3, 0, :now, :now, '{}')"), {"now": now})
    engine.dispose()
    db = open_database(path)
    assert current_revision(db.engine) == head_revision()
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT name, row_version FROM account")).all() == [("Kiruna Järn AB", 3)]
        hits = conn.execute(text("SELECT count(*) FROM account_fts WHERE account_fts MATCH 'jarn'")).scalar()
    assert hits == 1  # the upgrade indexed the existing row (diacritics folded)
    db.close()


def test_newer_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    open_database(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffff9999'")
    before = digest(path)
    with pytest.raises(DatabaseTooNew, match="newer version of fieldcrm"):
        open_database(path)
    assert digest(path) == before


def test_corrupt_file_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite at all" * 200)
    before = digest(path)
    with pytest.raises(DatabaseError, match="not a fieldcrm database, or it is damaged"):
        open_database(path)
    assert digest(path) == before


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_file_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    open_database(path).close()
    path.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(DatabaseError, match="read-only|cannot be opened"):
            db = open_database(path)
            with db.session() as s:
                s.execute(text("INSERT INTO meta VALUES ('x', 'y')"))
                s.commit()
    finally:
        tmp_path.chmod(0o755)


def test_locked_database_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    engine = make_engine(path)
    upgrade(engine, "0001")
    engine.dispose()
    holder = sqlite3.connect(path, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(DatabaseError, match="locked by another program"):
            open_database(path)
    finally:
        holder.rollback()
        holder.close()
    assert current_revision(make_engine(path)) == "0001"  # the failed open migrated nothing


def test_a_folder_is_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="is a folder"):
        open_database(tmp_path)
