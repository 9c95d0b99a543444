"""Translate between local rows/outbox entries and the sync protocol's wire shapes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from pydantic_core import to_json
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
from fieldcrm.db.types import ISODate, UTCDateTime, utcnow
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


def dump_json(value: Any) -> str:
    """Compact JSON text (pydantic-core: several times faster than ``json.dumps``)."""
    return to_json(value, fallback=str).decode()


def dump_sorted(value: dict[str, Any]) -> str:
    """JSON text of a small dict with sorted keys, as ``json.dumps(sort_keys=True)`` orders them."""
    return to_json(dict(sorted(value.items())), fallback=str).decode() if value else "{}"


def sql_value(value: Any) -> Any:
    """A date or datetime as the local columns store it (``UTCDateTime``, ``ISODate``)."""
    if isinstance(value, datetime):  # as UTCDateTime: "%Y-%m-%dT%H:%M:%S.%fZ"
        utc = value.astimezone(UTC)
        if utc.year >= 1000:  # isoformat is faster; strftime does not pad years < 1000
            return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _sql_column(kind: Any, value: Any) -> Any:
    """Like :func:`_to_column`, but straight to the stored text. The server's own timestamps
    (``isoformat()`` in UTC) are rewritten without parsing; anything else is parsed."""
    if isinstance(value, str) and isinstance(kind, UTCDateTime) and value[-6:] == "+00:00":
        if len(value) == 32 and value[19] == "." and value[10] == "T":
            return value[:26] + "Z"
        if len(value) == 25 and value[10] == "T":
            return value[:19] + ".000000Z"
    return sql_value(_to_column(kind, value))


_DEFAULTS: dict[type[Any], dict[str, Any]] = {}


def row_template(model: type[Any]) -> dict[str, Any]:
    """Column defaults of a model for bulk inserts (every row needs every key), as stored text;
    one timestamp for the whole page."""
    if model not in _DEFAULTS:
        out: dict[str, Any] = {}
        for col in model.__table__.columns:
            d = col.default
            if d is None:
                out[col.key] = None
            elif d.is_scalar:
                out[col.key] = sql_value(d.arg)
            else:
                out[col.key] = sql_value(d.arg(None))
        _DEFAULTS[model] = out
    stamp = sql_value(utcnow())
    return {**_DEFAULTS[model], **{k: stamp for k in ("created_at", "updated_at")
                                   if k in _DEFAULTS[model]}}


def local_values(
    entity: str, data: dict[str, Any], *, sql: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split pulled ``data`` into local column values and unknown fields (for ``extra_json``).

    ``sql`` gives dates and timestamps as the text the columns store (for raw bulk inserts).
    """
    data = dict(data)
    if entity == "account" and isinstance(data.get("tags"), list):
        data["tags"] = ",".join(data["tags"])
    if entity == "territory" and isinstance(data.get("geojson"), dict):
        data["geojson"] = json.dumps(data["geojson"], sort_keys=True)
    if entity == "visit_amendment":
        data["author_id"] = data.pop("rep_id", None)
        data["fields_json"] = json.dumps(data.pop("changes", {}), sort_keys=True)
    cols = _columns(MODELS[entity])
    timed = _timed(MODELS[entity])
    convert = _sql_column if sql else _to_column
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if key in _NOT_DATA or key in _DROPPED:
            continue
        if key in timed:
            values[key] = convert(cols[key], value)
        elif key in cols:
            values[key] = value
        else:
            extra[key] = value
    return values, extra


_TIMED: dict[type[Any], frozenset[str]] = {}


def _timed(model: type[Any]) -> frozenset[str]:
    """Columns holding dates or timestamps (the only ones whose values need converting)."""
    if model not in _TIMED:
        _TIMED[model] = frozenset(k for k, t in _columns(model).items()
                                  if isinstance(t, UTCDateTime | ISODate))
    return _TIMED[model]


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
