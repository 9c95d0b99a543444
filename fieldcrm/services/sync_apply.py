"""Apply pulled pages to the local replica: upserts with rebase, removes, purges, digests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from fieldcrm.db.engine import Database
from fieldcrm.db.models import (
    BaseCopyRecord,
    OutboxRecord,
    RowScopeRecord,
    ScopeCursorRecord,
    SyncConflictRecord,
)
from fieldcrm.db.search_sql import bulk_index
from fieldcrm.db.types import ISODate, UTCDateTime
from fieldcrm.services.sync_wire import (
    MODELS,
    dump_json,
    dump_sorted,
    loads,
    local_values,
    overlay_values,
    row_template,
    sql_value,
)
from fieldcrm.sync.protocol import Change, ChangeOp, PullResponse, ScopeDigest, ScopeState
from fieldcrm.sync.protocol import scope_digest as _digest

DIRTY_STATES = ("pending", "inflight")
_ORDER = {name: i for i, name in enumerate([*MODELS, "conflict"])}


PULL_CHECKPOINT_PAGES = 10_000
"""WAL size (4 KB pages) at which a pull's commit checkpoints: 10× SQLite's default, so a big
download copies each hot index page back into the file once per 40 MB instead of per 4 MB
(visits' commits cost about half as much). :func:`pull` checkpoints once at the end."""


@contextmanager
def replica_session(db: Database) -> Iterator[Session]:
    """A session for applying server data: foreign keys off (a replica mirrors the server,
    where a visit may outlive its account locally), one transaction, committed on success."""
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.exec_driver_sql("PRAGMA cache_size=-65536")  # 64 MB: big pulls touch many indexes
        conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={PULL_CHECKPOINT_PAGES}")
        conn.commit()  # end SQLAlchemy's autobegun block so the session owns its transaction
        try:
            with Session(bind=conn, expire_on_commit=False) as session:
                yield session
                session.commit()
        finally:
            conn.rollback()
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.exec_driver_sql("PRAGMA wal_autocheckpoint=1000")
            conn.commit()


@dataclass
class PageResult:
    applied: int = 0
    skipped: int = 0
    removed: int = 0
    purged: int = 0
    resynced: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)


def dirty_keys(session: Session) -> set[tuple[str, str]]:
    """(entity, id) of every row with a local change the server has not ruled on."""
    rows = session.execute(
        select(OutboxRecord.entity, OutboxRecord.entity_id).where(
            OutboxRecord.state.in_(DIRTY_STATES)
        )
    )
    keys = {(e, i) for e, i in rows}
    return keys | {("visit", loads(f).get("visit_id", "")) for f in _amend_fields(session)}


def _amend_fields(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(OutboxRecord.fields_json).where(
                OutboxRecord.state.in_(DIRTY_STATES), OutboxRecord.entity == "visit_amendment"
            )
        )
    )


def _pending(session: Session, entity: str, entity_id: str) -> list[OutboxRecord]:
    return list(
        session.scalars(
            select(OutboxRecord)
            .where(
                OutboxRecord.entity == entity,
                OutboxRecord.entity_id == entity_id,
                OutboxRecord.state.in_(DIRTY_STATES),
            )
            .order_by(OutboxRecord.client_seq)
        )
    )


def rebuild_row(session: Session, entity: str, entity_id: str) -> None:
    """local = base + amendments (visits) + pending outbox patches (SYNC.md client display)."""
    copy = session.get(BaseCopyRecord, (entity, entity_id))
    model = MODELS.get(entity)
    if copy is None or model is None:
        return
    values, extra = local_values(entity, loads(copy.data_json))
    values["row_version"] = copy.row_version
    values["extra_json"] = json.dumps(extra, sort_keys=True)
    if entity == "visit":
        values.update(_amendments(session, entity_id))
    for rec in _pending(session, entity, entity_id):
        if rec.op == "delete":
            values["deleted"] = True
        else:
            values.update(overlay_values(entity, loads(rec.fields_json)))
    row = session.get(model, entity_id)
    if row is None:
        session.add(model(id=entity_id, **values))
    else:
        for key, value in values.items():
            setattr(row, key, value)


def _amendments(session: Session, visit_id: str) -> dict[str, Any]:
    from fieldcrm.db.models import VisitAmendmentRecord as Amend

    out: dict[str, Any] = {}
    for fields_json in session.scalars(
        select(Amend.fields_json).where(Amend.visit_id == visit_id).order_by(Amend.id)
    ):
        changes = loads(fields_json)
        out.update(overlay_values("visit", changes.get("changes", changes)))
    return out


def _apply_conflict(session: Session, conflict_id: str, data: dict[str, Any]) -> None:
    row = session.get(SyncConflictRecord, conflict_id) or SyncConflictRecord(id=conflict_id)
    row.entity, row.entity_id = str(data.get("entity", "")), str(data.get("entity_id", ""))
    row.field, row.kind = str(data.get("field", "")), str(data.get("kind", "field"))
    row.kept_json = json.dumps(data.get("kept_value"), sort_keys=True, default=str)
    row.mine_json = json.dumps(data.get("rejected_value"), sort_keys=True, default=str)
    row.mutation_id = str(data.get("rejected_mutation_id", ""))
    row.status = str(data.get("status", "open"))
    row.row_version = int(data.get("row_version") or 0)
    row.created_at = str(data.get("created_at") or "")
    row.deleted = False
    session.merge(row)


def _drop_row(session: Session, entity: str, entity_id: str) -> None:
    if entity == "conflict":
        session.execute(delete(SyncConflictRecord).where(SyncConflictRecord.id == entity_id))
        return
    model = MODELS[entity]
    session.execute(delete(model).where(model.id == entity_id))
    session.execute(
        delete(BaseCopyRecord).where(
            BaseCopyRecord.entity == entity, BaseCopyRecord.entity_id == entity_id
        )
    )


def _held_elsewhere(session: Session, entity: str, entity_id: str) -> bool:
    return session.scalar(
        select(RowScopeRecord.scope_id).where(
            RowScopeRecord.entity == entity, RowScopeRecord.entity_id == entity_id
        ).limit(1)
    ) is not None


def _apply_gone(session: Session, ch: Change, dirty: set[tuple[str, str]], res: PageResult) -> None:
    """``remove`` (left this scope) or ``delete`` (tombstone): drop the row unless another
    scope still holds it (remove) or it has a pending local change."""
    session.execute(
        delete(RowScopeRecord).where(
            RowScopeRecord.entity == ch.entity,
            RowScopeRecord.entity_id == ch.id,
            RowScopeRecord.scope_id == ch.scope,
        )
    )
    if ch.op == ChangeOp.REMOVE and _held_elsewhere(session, ch.entity, ch.id):
        return
    if (ch.entity, ch.id) in dirty:
        if ch.op == ChangeOp.DELETE and ch.entity in MODELS:
            row = session.get(MODELS[ch.entity], ch.id)
            if row is not None:
                row.deleted = True
        return
    _drop_row(session, ch.entity, ch.id)
    res.removed += 1


def purge_scope(session: Session, scope: str, dirty: set[tuple[str, str]]) -> int:
    """Forget a scope: drop its non-dirty rows that no other scope holds; keep the outbox."""
    held = list(
        session.execute(
            select(RowScopeRecord.entity, RowScopeRecord.entity_id).where(
                RowScopeRecord.scope_id == scope
            )
        )
    )
    session.execute(delete(RowScopeRecord).where(RowScopeRecord.scope_id == scope))
    dropped = 0
    for entity, entity_id in held:
        if (entity, entity_id) in dirty or _held_elsewhere(session, entity, entity_id):
            continue
        _drop_row(session, entity, entity_id)
        dropped += 1
    return dropped


def purge_orphans(session: Session) -> int:
    """After a complete pull: drop non-dirty synced rows that no scope holds (ghosts of a
    lost territory, creates the server refused)."""
    dirty = dirty_keys(session)
    dropped = 0
    for entity, model in MODELS.items():
        held = select(RowScopeRecord.entity_id).where(RowScopeRecord.entity == entity)
        for entity_id in list(session.scalars(select(model.id).where(model.id.not_in(held)))):
            if (entity, entity_id) not in dirty:
                _drop_row(session, entity, entity_id)
                dropped += 1
    return dropped


def apply_page(session: Session, page: PullResponse) -> PageResult:
    """Apply one pull page and advance its cursors; the caller commits it as one transaction."""
    res = PageResult()
    dirty = dirty_keys(session)
    for info in page.scopes:
        if info.state in (ScopeState.RESYNC, ScopeState.REVOKED):
            res.purged += purge_scope(session, info.id, dirty)
            (res.resynced if info.state == ScopeState.RESYNC else res.revoked).append(info.id)
        if info.state == ScopeState.REVOKED:
            session.execute(delete(ScopeCursorRecord).where(ScopeCursorRecord.scope_id == info.id))
    for ch in page.changes:
        if ch.op != ChangeOp.UPSERT:
            _apply_gone(session, ch, dirty, res)
    upserts = [c for c in page.changes if c.op == ChangeOp.UPSERT]
    _hold(session, upserts)
    for entity in sorted({c.entity for c in upserts}, key=_ORDER.__getitem__):
        batch = {c.id: c for c in upserts if c.entity == entity}  # one row, many scopes
        if entity == "conflict":
            for ch in batch.values():
                _apply_conflict(session, ch.id, ch.data or {})
                res.applied += 1
        else:
            _apply_upserts(session, entity, list(batch.values()), dirty, res)
    for scope, cur in page.next_cursors.items():
        session.merge(ScopeCursorRecord(scope_id=scope, epoch=cur.epoch, version=cur.version))
    return res


def _hold(session: Session, upserts: list[Change]) -> None:
    """Record which scopes hold each upserted row (insert or ignore, in bulk)."""
    rows = [{"entity": c.entity, "entity_id": c.id, "scope_id": c.scope} for c in upserts]
    if rows:
        _raw_insert(session, "row_scope", rows, "ON CONFLICT DO NOTHING")


def _chunks(ids: list[str], size: int = 500) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _apply_upserts(
    session: Session, entity: str, changes: list[Change], dirty: set[tuple[str, str]],
    res: PageResult,
) -> None:
    """Insert new rows in bulk; rows we already hold (or edit locally) go the careful way."""
    model = MODELS[entity]
    have, present, special = _held_locally(session, entity, [c.id for c in changes])
    rows, copies, slow = [], [], []
    defaults = row_template(model)
    for ch in changes:
        data = ch.data or {}
        incoming = int(data.get("row_version") or 0)
        if ch.id in present and incoming <= have.get(ch.id, -1):
            res.skipped += 1
            continue
        copies.append((entity, ch.id, incoming, dump_json(data)))
        if ch.id in present or (entity, ch.id) in dirty or ch.id in special:
            slow.append(ch)
            continue
        values, extra = local_values(entity, data, sql=True)
        rows.append({**defaults, **values, "id": ch.id, "row_version": incoming,
                     "extra_json": dump_sorted(extra)})
    conn = session.connection()
    if copies:
        conn.exec_driver_sql(
            "INSERT INTO base_copy (entity, entity_id, row_version, data_json) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(entity, entity_id) DO UPDATE SET "
            "row_version = excluded.row_version, data_json = excluded.data_json", copies)
    if rows:
        with bulk_index(conn, model.__tablename__, len(rows)):
            _raw_insert(session, model.__tablename__, rows, converted=True)
    for ch in slow:
        rebuild_row(session, entity, ch.id)
    if entity == "visit_amendment":
        for visit_id in {str((c.data or {}).get("visit_id")) for c in changes}:
            rebuild_row(session, "visit", visit_id)
    res.applied += len(rows) + len(slow)


def _raw_insert(session: Session, table: str, rows: list[dict[str, Any]], tail: str = "", *,
                converted: bool = False) -> None:
    """executemany straight on the session's sqlite3 connection (same transaction): a big
    first download spends most client time in per-row parameter processing otherwise.
    Every row has the same keys in the same order (built from one template); ``converted``
    rows already hold dates and timestamps as stored text."""
    keys = list(rows[0])
    sql = (f'INSERT INTO "{table}" ({", ".join(keys)}) '
           f'VALUES ({", ".join("?" * len(keys))}) {tail}')
    model = next((m for m in MODELS.values() if m.__tablename__ == table), None)
    timed = [] if converted else [i for i, k in enumerate(keys) if model is not None and isinstance(
        model.__table__.columns[k].type, UTCDateTime | ISODate)]
    if not timed:
        session.connection().exec_driver_sql(sql, [tuple(r.values()) for r in rows])
        return
    values = []
    for row in rows:
        cells = list(row.values())
        for i in timed:
            cells[i] = sql_value(cells[i])
        values.append(tuple(cells))
    session.connection().exec_driver_sql(sql, values)


def _held_locally(
    session: Session, entity: str, ids: list[str]
) -> tuple[dict[str, int], set[str], set[str]]:
    """Base row_versions, ids present in the table, and visits with local amendments."""
    model = MODELS[entity]
    have: dict[str, int] = {}
    present: set[str] = set()
    special: set[str] = set()
    session.flush()  # as the ORM queries did (autoflush); then plain SQL: compiling
    conn = session.connection()  # 500-item IN lists cost more than running them
    for chunk in _chunks(ids):
        marks = ", ".join("?" * len(chunk))
        have.update(conn.exec_driver_sql(
            "SELECT entity_id, row_version FROM base_copy "
            f"WHERE entity = ? AND entity_id IN ({marks})", (entity, *chunk)).all())
        present.update(i for (i,) in conn.exec_driver_sql(
            f'SELECT id FROM "{model.__tablename__}" WHERE id IN ({marks})', tuple(chunk)))
        if entity == "visit":
            special.update(v for (v,) in conn.exec_driver_sql(
                f"SELECT visit_id FROM visit_amendment WHERE visit_id IN ({marks})",
                tuple(chunk)))
    return have, present, special


def reset_scope(session: Session, scope: str) -> int:
    """Resync one scope from version 0 (verify found a mismatch)."""
    dropped = purge_scope(session, scope, dirty_keys(session))
    cur = session.get(ScopeCursorRecord, scope)
    if cur is not None:
        cur.version = 0
    return dropped


def local_digests(session: Session) -> dict[str, ScopeDigest]:
    """(count, digest) of the live rows each scope holds locally, at its cursor's version."""
    out: dict[str, ScopeDigest] = {}
    for cur in session.scalars(select(ScopeCursorRecord)):
        items: list[tuple[str, str, int]] = []
        for entity, model in [*MODELS.items(), ("conflict", SyncConflictRecord)]:
            rows = session.execute(
                select(model.id, model.row_version)
                .join(RowScopeRecord, RowScopeRecord.entity_id == model.id)
                .where(
                    RowScopeRecord.scope_id == cur.scope_id,
                    RowScopeRecord.entity == entity,
                    model.deleted.is_(False),
                )
            )
            items.extend((entity, entity_id, int(rv)) for entity_id, rv in rows)
        count, digest = _digest(items)
        out[cur.scope_id] = ScopeDigest(version=cur.version, count=count, digest=digest)
    return out


def scope_cursors(session: Session) -> dict[str, tuple[int, int]]:
    return {c.scope_id: (c.epoch, c.version) for c in session.scalars(select(ScopeCursorRecord))}


def wal_checkpoint(session: Session) -> None:
    session.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))
