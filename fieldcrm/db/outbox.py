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


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return value


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
    if op not in OPS:
        raise ValueError(f"unknown outbox op {op!r}")
    record = OutboxRecord(
        mutation_id=new_id(),
        entity=entity,
        entity_id=entity_id,
        op=op,
        base_version=base_version,
        fields_json=json.dumps({k: _jsonable(v) for k, v in fields.items()}, sort_keys=True),
        state="pending",
    )
    session.add(record)
    return record


def pending_count(session: Session) -> int:
    """Return how many local changes have not reached the server yet."""
    stmt = select(func.count()).select_from(OutboxRecord).where(
        OutboxRecord.state.in_(("pending", "inflight"))
    )
    return int(session.scalar(stmt) or 0)
