"""Turn server rows into the ``data`` of pulled changes (plain JSON dicts)."""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from sqlalchemy import String, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from fieldcrm.sync.server.fields import SPECS
from fieldcrm.sync.server.merge import MODELS
from fieldcrm.sync.server.models import Conflict, Visit, VisitAmendment

_ACCOUNT_EXTRA = ("needs_assignment", "created_by")


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


_PICKERS: dict[tuple[str, tuple[str, ...]], tuple[tuple[str, ...], Any]] = {}


def _picked(entity: str, row: Any) -> dict[str, Any]:
    """The entity's fields of a plain row, by position (one C call instead of a getattr each)."""
    fields = tuple(row._fields)
    key = (entity, fields)
    if key not in _PICKERS:
        names = tuple(SPECS[entity])
        _PICKERS[key] = names, itemgetter(*(fields.index(n) for n in names))
    names, pick = _PICKERS[key]
    values = pick(row)
    return dict(zip(names, values if len(names) > 1 else (values,), strict=True))


def mutable_data(entity: str, row: Any) -> dict[str, Any]:
    data = _picked(entity, row) if hasattr(row, "_fields") else {
        name: getattr(row, name) for name in SPECS[entity]}
    data.update(id=row.id, row_version=row.row_version, deleted=row.deleted)
    data["field_versions"] = dict(row.field_versions or {})
    if entity == "account":
        data.update({k: getattr(row, k) for k in _ACCOUNT_EXTRA})
    if entity == "territory":
        data["rep_id"] = row.rep_id
    data["updated_at"] = _iso(row.updated_at)
    return data


def visit_data(row: Visit) -> dict[str, Any]:
    return {
        **row.data,
        "id": row.id,
        "account_id": row.account_id,
        "rep_id": row.rep_id,
        "review": row.review,
        "review_reason": row.review_reason,
        "reviewed_by": row.reviewed_by,
        "reviewed_at": _iso(row.reviewed_at),
        "review_note": row.review_note,
        "received_at_server": _iso(row.received_at_server),
        "row_version": 1,
    }


def amendment_data(row: VisitAmendment) -> dict[str, Any]:
    return {
        **row.data,
        "id": row.id,
        "rep_id": row.rep_id,
        "review": row.review,
        "received_at_server": _iso(row.received_at_server),
        "row_version": 1,
    }


def conflict_data(row: Conflict) -> dict[str, Any]:
    return {
        "id": row.id,
        "entity": row.entity,
        "entity_id": row.entity_id,
        "field": row.field,
        "kind": row.kind,
        "kept_value": row.kept_value,
        "rejected_value": row.rejected_value,
        "rejected_mutation_id": row.rejected_mutation_id,
        "user_id": row.user_id,
        "status": row.status,
        "created_at": _iso(row.created_at),
        "row_version": row.row_version,
    }


def load_data(session: Session, entity: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Load ``data`` for many rows of one entity at once (one query per 500 ids)."""
    out: dict[str, dict[str, Any]] = {}
    if entity in MODELS:
        model: Any = MODELS[entity]
        convert = lambda row: mutable_data(entity, row)  # noqa: E731
    else:
        model, convert = {
            "visit": (Visit, visit_data),
            "visit_amendment": (VisitAmendment, amendment_data),
            "conflict": (Conflict, conflict_data),
        }[entity]
    table = model.__table__  # plain rows (same column types), not ORM objects: cheaper
    pg = session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        # PostgreSQL: one array parameter (``= ANY``), not 500 placeholders that psycopg
        # re-parses on every page; rows fetched at once, not one fetchone() each
        where = (table.c.id == any_(bindparam("ids", chunk, type_=ARRAY(String))) if pg
                 else table.c.id.in_(chunk))
        for row in session.execute(select(*table.c).where(where)).all():
            out[row.id] = convert(row)
    return out
