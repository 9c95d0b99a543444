"""The demo database: reproducible, realistic, covered by territories."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from fieldcrm.cli import main
from fieldcrm.db.engine import open_database


def dump(path: Path) -> list[tuple]:
    db = open_database(path)
    with db.engine.connect() as c:
        rows = c.execute(text("SELECT id, name, lat, lon, territory_id, last_visit_at FROM account ORDER BY id")).all()
        rows += c.execute(text("SELECT id, checked_in_at, outcome FROM visit ORDER BY id")).all()
    db.close()
    return rows


def test_same_seed_same_demo_and_territories_cover_every_account(tmp_path: Path) -> None:
    args = ["--accounts", "300", "--seed", "7", "--today", "2026-06-01"]
    assert main(["demo", "--db", str(tmp_path / "a.db"), *args]) == 0
    assert main(["demo", "--db", str(tmp_path / "b.db"), *args]) == 0
    assert dump(tmp_path / "a.db") == dump(tmp_path / "b.db")
    db = open_database(tmp_path / "a.db")
    with db.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM account WHERE territory_id IS NULL")).scalar() == 0
        assert 8 <= c.execute(text("SELECT count(*) FROM territory")).scalar() <= 12
        assert c.execute(text("SELECT count(*) FROM user WHERE role='rep'")).scalar() == 5
        assert c.execute(text("SELECT count(*) FROM user WHERE role='manager'")).scalar() == 1
        first, last = c.execute(text("SELECT min(checked_in_at), max(checked_in_at) FROM visit")).one()
        assert first >= "2025-06-01" and last <= "2026-06-02"  # a year of history
        assert c.execute(text("SELECT count(*) FROM account_fts")).scalar() == 300
    db.close()


def test_demo_refuses_an_existing_file_and_bad_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    existing = tmp_path / "x.db"
    existing.write_bytes(b"keep me")
    assert main(["demo", "--db", str(existing)]) == 2
    assert existing.read_bytes() == b"keep me"
    assert main(["demo", "--db", str(tmp_path / "y.db"), "--accounts", "0"]) == 2
    assert not (tmp_path / "y.db").exists()
    assert "1–100,000" in capsys.readouterr().err


def test_other_countries_use_their_towns(tmp_path: Path) -> None:
    assert main(["demo", "--db", str(tmp_path / "de.db"), "--accounts", "50", "--country", "DE",
                 "--today", str(date(2026, 1, 1))]) == 0
    db = open_database(tmp_path / "de.db")
    with db.engine.connect() as c:
        assert c.execute(text("SELECT DISTINCT country FROM account")).scalars().all() == ["DE"]
        assert c.execute(text("SELECT count(*) FROM account WHERE name LIKE '%GmbH'")).scalar() == 50
    db.close()
