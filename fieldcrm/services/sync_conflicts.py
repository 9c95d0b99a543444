"""Sync conflicts and quarantined edits: list, resolve (accept / override) and export."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from fieldcrm.dataio.writers import write_csv
from fieldcrm.db.engine import Database
from fieldcrm.db.models import BaseCopyRecord, SyncConflictRecord, SyncQuarantineRecord
from fieldcrm.db.outbox import enqueue
from fieldcrm.errors import InvalidInput, NotFound, SyncError
from fieldcrm.services.sync_apply import rebuild_row
from fieldcrm.services.sync_wire import MODELS, loads
from fieldcrm.sync.client import SyncClient


@dataclass(frozen=True, slots=True)
class ConflictItem:
    """One conflict: the value the server kept and mine."""

    id: str
    entity: str
    entity_id: str
    field: str
    kind: str
    kept_value: Any
    my_value: Any
    status: str
    resolution: str


@dataclass(frozen=True, slots=True)
class QuarantineItem:
    """A local edit refused because its territory is no longer mine."""

    mutation_id: str
    entity: str
    entity_id: str
    op: str
    fields: dict[str, Any]
    reason: str
    created_at: str
    name: str = ""  # the record's name when it was refused ("" from before migration 0006)


def list_conflicts(db: Database, *, include_resolved: bool = False) -> list[ConflictItem]:
    """Conflicts stored locally, oldest first."""
    with db.session() as s:
        q = select(SyncConflictRecord).order_by(SyncConflictRecord.created_at, SyncConflictRecord.id)
        if not include_resolved:
            q = q.where(SyncConflictRecord.resolution == "", SyncConflictRecord.status == "open")
        return [
            ConflictItem(r.id, r.entity, r.entity_id, r.field, r.kind, loads(r.kept_json),
                         loads(r.mine_json), r.status, r.resolution)
            for r in s.scalars(q)
        ]


def list_quarantine(db: Database) -> list[QuarantineItem]:
    with db.session() as s:
        rows = s.scalars(select(SyncQuarantineRecord).order_by(SyncQuarantineRecord.created_at))
        return [
            QuarantineItem(r.mutation_id, r.entity, r.entity_id, r.op, loads(r.fields_json),
                           r.reason, r.created_at.isoformat(), r.name)
            for r in rows
        ]


def resolve_conflict(db: Database, *, conflict_id: str, action: str) -> None:
    """``accept`` drops my value; ``override`` sends it again as a new patch on the current
    row_version (the rebase then shows it locally until the server rules).

    Raises
    ------
    NotFound
        No such conflict.
    InvalidInput
        Unknown action, or overriding a deleted row.
    """
    if action not in ("accept", "override"):
        raise InvalidInput("A conflict is resolved with accept or override.")
    with db.session() as s:
        row = s.get(SyncConflictRecord, conflict_id)
        if row is None:
            raise NotFound("That conflict does not exist.")
        if action == "override":
            copy = s.get(BaseCopyRecord, (row.entity, row.entity_id))
            if row.kind != "field" or copy is None or row.entity not in MODELS:
                raise InvalidInput("Only a field conflict on a row you still have can be overridden.")
            enqueue(s, entity=row.entity, entity_id=row.entity_id, op="patch",
                    fields={row.field: _local(row.entity, row.field, loads(row.mine_json))},
                    base_version=copy.row_version)
            s.flush()
            rebuild_row(s, row.entity, row.entity_id)
        row.resolution = "accepted" if action == "accept" else "overridden"
        row.resolution_sent = False
        s.commit()


def _local(entity: str, name: str, value: Any) -> Any:
    if entity == "account" and name == "tags" and isinstance(value, list):
        return ",".join(value)
    return value


def send_resolutions(db: Database, client: SyncClient) -> int:
    """Tell the server about conflicts settled locally (``keep``: an override is a new patch)."""
    with db.session() as s:
        rows = list(s.scalars(select(SyncConflictRecord).where(
            SyncConflictRecord.resolution != "", SyncConflictRecord.resolution_sent.is_(False))))
        sent = 0
        for row in rows:
            if row.kind == "field" and not row.id.startswith("gone:"):
                try:
                    client.resolve_conflict(row.id, "keep")
                except SyncError as exc:
                    if exc.kind in ("offline", "auth", "protocol", "busy"):
                        raise
            row.resolution_sent = True
            sent += 1
        s.commit()
        return sent


def export_unsynced(db: Database, path: Path) -> int:
    """Write conflicts and quarantined edits to a CSV file the rep can send to a manager.

    Raises
    ------
    FieldCrmError
        The file cannot be written (nothing half-written is left).
    """
    items: list[list[str]] = []
    for c in list_conflicts(db, include_resolved=True):
        items.append(["conflict", c.entity, c.entity_id, "", c.field, json.dumps(c.kept_value),
                      json.dumps(c.my_value), c.status or c.resolution])
    for q in list_quarantine(db):
        items.append(["quarantine", q.entity, q.entity_id, q.name, q.op, "",
                      json.dumps(q.fields), q.reason])
    header = ["kind", "entity", "id", "name", "field_or_op", "kept", "mine", "status_or_reason"]
    return write_csv(path, header, items)
