"""Bulk writes for imports and merges: batched Core inserts, outbox mutations in bulk, and
search re-indexing once instead of per row."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from fieldcrm.db.models import AccountRecord, ContactRecord, OutboxRecord, VisitRecord
from fieldcrm.db.outbox import mutation_row
from fieldcrm.db.search_sql import drop_trigger_statements, rebuild_statements, trigger_statements
from fieldcrm.db.types import utcnow

CHUNK = 5_000
Tick = Callable[[int, int], None]


def insert_rows(session: Session, model: Any, rows: list[dict[str, Any]], stage: Tick) -> None:
    """Insert rows in batches through Core (one executemany each: every row gets every column,
    so that SQLAlchemy does not fall back to one statement per row)."""
    if not rows:
        return
    now = utcnow()
    table = model.__table__
    defaults = {c.name: _default(c, now) for c in table.columns}
    for start in range(0, len(rows), CHUNK):
        stage(start, len(rows))
        batch = [{**defaults, **row} for row in rows[start:start + CHUNK]]
        session.execute(insert(table), batch)


def _indexed_rows(session: Session) -> int:
    return sum(int(session.scalar(select(func.count()).select_from(m)) or 0)
               for m in (AccountRecord, ContactRecord, VisitRecord))


def insert_indexed(session: Session, model: Any, rows: list[dict[str, Any]], stage: Tick) -> None:
    """Insert rows of a table with a search index. A large import into a small database skips
    the per-row index triggers and re-indexes once at the end (several times faster)."""
    if len(rows) < 2 * CHUNK or len(rows) < _indexed_rows(session):
        insert_rows(session, model, rows, stage)
        return
    # The first batch opens the transaction, so that dropping the triggers is part of it and a
    # cancel or crash rolls the DDL back too (pysqlite starts transactions only at DML).
    insert_rows(session, model, rows[:CHUNK], stage)
    for statement in drop_trigger_statements():
        session.execute(text(statement))
    insert_rows(session, model, rows[CHUNK:], stage)
    for statement in rebuild_statements() + trigger_statements():
        session.execute(text(statement))


def _default(column: Any, now: datetime) -> Any:
    if column.default is None:
        return None
    arg = column.default.arg
    return now if callable(arg) else arg


def enqueue_many(session: Session, entity: str, items: list[tuple[str, str, dict[str, Any]]],
                  stage: Tick) -> None:
    """Add outbox mutations (entity id, op, fields) in bulk, exactly as ``db.outbox.enqueue`` does."""
    rows = [mutation_row(entity=entity, entity_id=entity_id, op=op, fields=fields)
            for entity_id, op, fields in items]
    insert_rows(session, OutboxRecord, rows, stage)
