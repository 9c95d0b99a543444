"""Opening the local database: engine setup (WAL, foreign keys), migrations, clear errors.

One engine per database file; sessions are made per operation from ``Database.sessions``
(STYLE.md: one session per operation, never global).
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from fieldcrm.errors import DatabaseError, DatabaseTooNew

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(path: Path) -> Engine:
    """Return an engine for the SQLite file at ``path`` with fieldcrm's PRAGMAs on every connection."""
    engine = create_engine(f"sqlite:///{path}", future=True)
    event.listen(engine, "connect", _on_connect)
    return engine


def _alembic_config():  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


_REV = re.compile(r'^(down_)?revision\s*=\s*["\']?([\w]+|None)["\']?', re.MULTILINE)


@functools.cache
def _revision_graph() -> dict[str, str | None]:
    """Return {revision: down_revision} read from the migration files' text.

    Reading the text rather than importing Alembic keeps opening an up-to-date database fast
    (Alembic is imported only when there is something to migrate).
    """
    graph: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        found = dict((bool(down), rev) for down, rev in _REV.findall(path.read_text("utf-8")))
        if False in found:
            down = found.get(True)
            graph[found[False]] = None if down in (None, "None") else down
    return graph


def head_revision() -> str:
    """Return the newest migration revision this fieldcrm knows."""
    graph = _revision_graph()
    heads = set(graph) - {d for d in graph.values() if d}
    if len(heads) != 1:
        raise DatabaseError(f"fieldcrm's migrations have {len(heads)} heads; this install is broken.")
    return heads.pop()


def known_revisions() -> set[str]:
    """Return every migration revision this fieldcrm knows."""
    return set(_revision_graph())


def current_revision(engine: Engine) -> str | None:
    """Return the database's migration revision, or None for a new (empty) database."""
    with engine.connect() as conn:
        has_table = conn.execute(
            text("SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'")
        ).first()
        if not has_table:
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return row[0] if row else None


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (all in one transaction: on failure nothing changes)."""
    from alembic import command

    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


@dataclass
class Database:
    """An open local database: its path, engine and session factory."""

    path: Path
    engine: Engine
    sessions: sessionmaker[Session]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Yield a session for one operation; the caller commits, errors roll back."""
        with self.sessions() as session:
            try:
                yield session
            except Exception:
                session.rollback()
                raise

    def close(self) -> None:
        self.engine.dispose()


def _explain(exc: BaseException, path: Path) -> DatabaseError:
    message = str(getattr(exc, "orig", exc)).lower()
    if "not a database" in message or "malformed" in message or "file is encrypted" in message:
        return DatabaseError(f"The file {path} is not a fieldcrm database, or it is damaged.")
    if "locked" in message or "busy" in message:
        return DatabaseError(
            f"The database {path} is locked by another program. Close other fieldcrm windows "
            "and try again."
        )
    if "readonly" in message or "read-only" in message:
        return DatabaseError(f"The database {path} is read-only; fieldcrm needs to write to it.")
    if "unable to open" in message:
        return DatabaseError(f"The database {path} cannot be opened (missing folder or no permission).")
    return DatabaseError(f"The database {path} could not be opened: {getattr(exc, 'orig', exc)}")


def open_database(path: Path | str, *, migrate: bool = True) -> Database:
    """Open (creating if needed) and migrate the local database at ``path``.

    Raises
    ------
    DatabaseTooNew
        The file was written by a newer fieldcrm; it is left untouched.
    DatabaseError
        The file is corrupt, locked, read-only or cannot be opened.
    """
    path = Path(path).expanduser()
    if path.exists() and path.is_dir():
        raise DatabaseError(f"{path} is a folder, not a database file.")
    engine = make_engine(path)
    try:
        current = current_revision(engine)
        if current is not None and current not in known_revisions():
            raise DatabaseTooNew(
                f"The database {path} was written by a newer version of fieldcrm "
                f"(schema {current}). Update fieldcrm to open it; the file was not changed."
            )
        with engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode=WAL").scalar()
            if mode is None:
                raise DatabaseError(f"The database {path} could not be opened.")
        if migrate and current != head_revision():
            upgrade(engine)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT count(*) FROM account").scalar()
    except DatabaseError:
        engine.dispose()
        raise
    except (OperationalError, DBAPIError, sqlite3.Error) as exc:
        engine.dispose()
        raise _explain(exc, path) from exc
    return Database(path, engine, sessionmaker(engine, expire_on_commit=False))
