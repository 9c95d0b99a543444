"""The outbox: every local write to a synced row records a mutation here, in the same transaction."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fieldcrm.db.models import OutboxRecord
from fieldcrm.domain.ids import new_id

OPS = ("create", "patch", "delete", "append")


def jsonable(value: Any) -> Any:
    """Return ``value`` as the outbox stores it in JSON (ISO dates and times, lists for sets)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


def mutation_row(*, entity: str, entity_id: str, op: str, fields: dict[str, Any],
                 base_version: int = 0) -> dict[str, Any]:
    """Return the column values of one pending outbox mutation (for single and bulk inserts)."""
    if op not in OPS:
        raise ValueError(f"unknown outbox op {op!r}")
    return {"mutation_id": new_id(), "entity": entity, "entity_id": entity_id, "op": op,
            "base_version": base_version, "state": "pending",
            "fields_json": json.dumps(jsonable(fields), sort_keys=True)}


def enqueue(
    session: Session,
    *,
    entity: str,
    entity_id: str,
    op: str,
    fields: dict[str, Any],
    base_version: int = 0,
) -> OutboxRecord:
    """Add one mutation to the outbox (the caller's transaction commits it with the change)."""
    record = OutboxRecord(**mutation_row(entity=entity, entity_id=entity_id, op=op, fields=fields,
                                         base_version=base_version))
    session.add(record)
    return record


def pending_count(session: Session) -> int:
    """Return how many local changes have not reached the server yet."""
    stmt = select(func.count()).select_from(OutboxRecord).where(
        OutboxRecord.state.in_(("pending", "inflight"))
    )
    return int(session.scalar(stmt) or 0)
