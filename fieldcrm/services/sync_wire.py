"""Translate between local rows/outbox entries and the sync protocol's wire shapes."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import inspect

from fieldcrm.db.models import (
    AccountRecord,
    ContactRecord,
    OpportunityRecord,
    OutboxRecord,
    SaleRecord,
    TerritoryRow,
    VisitAmendmentRecord,
    VisitRecord,
)
from fieldcrm.db.types import ISODate, UTCDateTime
from fieldcrm.domain.enums import Role
from fieldcrm.sync.protocol import Mutation

MODELS: dict[str, type[Any]] = {
    "territory": TerritoryRow,
    "account": AccountRecord,
    "contact": ContactRecord,
    "opportunity": OpportunityRecord,
    "sale": SaleRecord,
    "visit": VisitRecord,
    "visit_amendment": VisitAmendmentRecord,
}
"""Synced local tables, in the order a page is applied (parents first)."""
SERVER_ONLY = {"account": ("territory_id", "owner_id")}
LOCAL_ONLY = {"visit": ("rep_id",), "visit_amendment": ("author_id",)}
_NOT_DATA = {"id", "extra_json", "created_at"}
_DROPPED = {"field_versions"}


def loads(text: str) -> Any:
    return json.loads(text) if text else {}


_COLUMNS: dict[type[Any], dict[str, Any]] = {}


def _columns(model: type[Any]) -> dict[str, Any]:
    if model not in _COLUMNS:
        _COLUMNS[model] = {c.key: c.type for c in inspect(model).columns}
    return _COLUMNS[model]


def _to_column(kind: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(kind, UTCDateTime) and isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(kind, ISODate) and isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value


def local_values(entity: str, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split pulled ``data`` into local column values and unknown fields (for ``extra_json``)."""
    data = dict(data)
    if entity == "account" and isinstance(data.get("tags"), list):
        data["tags"] = ",".join(data["tags"])
    if entity == "territory" and isinstance(data.get("geojson"), dict):
        data["geojson"] = json.dumps(data["geojson"], sort_keys=True)
    if entity == "visit_amendment":
        data["author_id"] = data.pop("rep_id", None)
        data["fields_json"] = json.dumps(data.pop("changes", {}), sort_keys=True)
    cols = _columns(MODELS[entity])
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if key in _NOT_DATA or key in _DROPPED:
            continue
        if key in cols:
            values[key] = _to_column(cols[key], value)
        else:
            extra[key] = value
    return values, extra


def overlay_values(entity: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Local column values of an outbox entry's (local-format) fields."""
    cols = _columns(MODELS[entity])
    return {k: _to_column(cols[k], v) for k, v in fields.items() if k in cols}


def _wire_fields(entity: str, fields: dict[str, Any], *, manager: bool) -> dict[str, Any]:
    out = {k: v for k, v in fields.items() if k not in LOCAL_ONLY.get(entity, ())}
    if not manager:
        for key in SERVER_ONLY.get(entity, ()):
            out.pop(key, None)
    if entity == "account" and isinstance(out.get("tags"), str):
        out["tags"] = [t for t in out["tags"].split(",") if t]
    return out


def to_mutation(rec: OutboxRecord, *, role: str) -> Mutation | None:
    """The wire mutation of an outbox entry, or None when nothing of it is for the server.

    Visits are append-only on the server: a planned visit goes as ``append`` and a later
    change to it (complete, cancel) as a ``visit_amendment`` whose id is the mutation id,
    so a resend is the same amendment.
    """
    manager = role in (Role.MANAGER, Role.ADMIN)
    fields = _wire_fields(rec.entity, loads(rec.fields_json), manager=manager)
    entity, entity_id, op = rec.entity, rec.entity_id, rec.op
    base: int | None = None
    if entity == "visit" and op == "create":
        op = "append"
    elif entity == "visit" and op == "patch":
        entity, entity_id, op = "visit_amendment", rec.mutation_id, "append"
        fields = {"visit_id": rec.entity_id, "changes": fields}
    elif entity == "visit_amendment":
        fields = {"visit_id": fields.get("visit_id"), "changes": fields.get("changes", {})}
    elif op in ("patch", "delete"):
        base = _base_version(rec)
    if op == "patch" and not fields:
        return None
    return Mutation(
        mutation_id=rec.mutation_id,
        client_seq=rec.client_seq,
        entity=entity,
        entity_id=entity_id,
        op=op,
        base_version=base,
        fields=fields,
    )


def _base_version(rec: OutboxRecord) -> int:
    """The row_version the edit was made on; 0 means "on my own create", which the server
    acknowledges as row_version 1."""
    return int(rec.base_version) or 1
