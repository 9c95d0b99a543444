"""Engine, sessions and on-start migrations of the sync server, on SQLite or PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from fieldcrm.errors import InvalidInput

ALEMBIC_DIR = Path(__file__).with_name("alembic")
VERSION_TABLE = "fieldcrm_server_alembic_version"
_MIGRATION_LOCK = 7_316_402  # pg_advisory_lock key: one worker migrates, the others wait
READONLY = "fieldcrm_readonly"
PING_AFTER_IDLE_S = 30.0


@dataclass(frozen=True)
class Database:
    """One engine plus two session factories: writers serialise, readers read a snapshot."""

    engine: Engine
    write: sessionmaker[Session]
    read: sessionmaker[Session]

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def statements(self) -> Iterator[Connection]:
        """A connection for reads that each need only their own snapshot (auth checks).

        On PostgreSQL it runs in autocommit: no BEGIN and COMMIT round trips, each statement
        sees its own consistent snapshot. On SQLite it is a read transaction (plain BEGIN).
        """
        if self.is_sqlite:
            with self.engine.connect().execution_options(**{READONLY: True}) as conn:
                yield conn
        else:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                yield conn


def _sqlite_listeners(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front (BEGIN IMMEDIATE), so a scope version is
        # handed out only to the one transaction that will commit next: version order is
        # commit order. Readers use a plain BEGIN and see one WAL snapshot.
        if conn.get_execution_options().get(READONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def _ping_idle_connections(engine: Engine) -> None:
    """Check a pooled connection before use only when it sat idle for a while.

    ``pool_pre_ping`` costs a round trip on every checkout (two per request); a connection in
    steady use needs none. A connection idle for ``PING_AFTER_IDLE_S`` is pinged, and a dead
    one is replaced (the pool retries the checkout), so a database restart during a quiet
    spell costs no failed request. One that dies under load fails its request: pushes retry
    (``push._transient``), anything else answers 503 with Retry-After.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            dbapi_conn.execute("SELECT 1")
            if not dbapi_conn.autocommit:
                dbapi_conn.rollback()
        except Exception as exc:
            raise DisconnectionError(f"stale pooled connection: {exc}") from exc


def make_database(url: str, *, pool_size: int = 5) -> Database:
    """Create the engine for ``url`` (``sqlite:///file`` or ``postgresql+psycopg://...``).

    Raises
    ------
    InvalidInput
        The URL is malformed or names an unsupported database.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with the URL inside
        raise InvalidInput(f"invalid database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise InvalidInput("the server needs a SQLite file, e.g. sqlite:///server.db")
        engine = create_engine(
            parsed, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=pool_size
        )
        _sqlite_listeners(engine)
    elif backend == "postgresql":
        engine = create_engine(parsed, pool_size=pool_size, max_overflow=pool_size)
        _ping_idle_connections(engine)
    else:
        raise InvalidInput(f"unsupported database {backend!r}: use sqlite or postgresql")
    reader = engine.execution_options(**{READONLY: True})
    if backend == "postgresql":
        # One snapshot per pull: counters, index and rows agree with each other.
        reader = engine.execution_options(**{READONLY: True}, isolation_level="REPEATABLE READ")
    return Database(
        engine=engine,
        write=sessionmaker(engine, expire_on_commit=False),
        read=sessionmaker(reader, expire_on_commit=False),
    )


def migrate(engine: Engine) -> None:
    """Upgrade the server schema to the newest Alembic revision (safe with many workers)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
            conn.commit()
        try:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
        finally:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
                conn.commit()
