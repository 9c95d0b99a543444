"""Export accounts, contacts, visits and sales as CSV, XLSX or GeoJSON (re-importable headers)."""

from __future__ import annotations

import os
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldcrm.dataio.writers import FORMATS, write_rows
from fieldcrm.db.models import AccountRecord, ContactRecord, SaleRecord, VisitRecord
from fieldcrm.errors import InvalidInput

Progress = Callable[[int, int], None]
IsCancelled = Callable[[], bool]

ACCOUNT_COLUMNS = ("id", "name", "status", "tier", "tags", "street", "postcode", "city", "region",
                   "country", "lat", "lon", "geocode_source", "phone", "email", "website", "notes",
                   "last_visit_at")
CHILD_COLUMNS = {
    "contacts": ("id", "account", "account_id", "name", "title", "phone", "email", "notes"),
    "visits": ("id", "account", "account_id", "status", "planned_at", "checked_in_at",
               "duration_min", "outcome", "notes", "next_step", "follow_up_on"),
    "sales": ("id", "account", "account_id", "sold_on", "amount", "currency"),
}
_MODELS = {"contacts": ContactRecord, "visits": VisitRecord, "sales": SaleRecord}


def _account_rows(session: Session) -> tuple[tuple[str, ...], list[list[Any]]]:
    stmt = (select(*(getattr(AccountRecord, c) for c in ACCOUNT_COLUMNS))
            .where(AccountRecord.deleted.is_(False)).order_by(AccountRecord.name))
    rows = []
    for row in session.execute(stmt):
        values = list(row)
        tags = ACCOUNT_COLUMNS.index("tags")
        values[tags] = tuple(t for t in values[tags].split(",") if t)
        rows.append(values)
    return ACCOUNT_COLUMNS, rows


def _child_rows(session: Session, entity: str) -> tuple[tuple[str, ...], list[list[Any]]]:
    model = _MODELS[entity]
    columns = CHILD_COLUMNS[entity]
    own = [c for c in columns if c not in ("account", "amount")]
    extra = {"sales": ["amount_minor"], "visits": ["checkin_lat", "checkin_lon"]}.get(entity, [])
    stmt = (select(AccountRecord.name, AccountRecord.lat, AccountRecord.lon,
                   *(getattr(model, c) for c in own + extra))
            .join(AccountRecord, AccountRecord.id == model.account_id)
            .where(model.deleted.is_(False)).order_by(AccountRecord.name, model.id))
    rows = []
    for account_name, lat, lon, *values in session.execute(stmt):
        record = dict(zip(own + extra, values, strict=True))
        record["account"] = account_name
        if entity == "sales":
            record["amount"] = Decimal(record.pop("amount_minor")) / 100
        if entity == "visits" and record.get("checkin_lat") is not None:
            lat, lon = record["checkin_lat"], record["checkin_lon"]
        rows.append([record.get(c) for c in columns] + [lat, lon])
    return (*columns, "lat", "lon"), rows


def export_entity(
    *,
    session: Session,
    entity: str,
    path: str | os.PathLike[str],
    fmt: str,
    progress: Progress | None = None,
    cancelled: IsCancelled | None = None,
) -> int:
    """Write the live rows of ``entity`` to ``path`` in ``fmt``; return how many were written.

    Contacts, visits and sales carry their account's name (re-importable) and position (for
    GeoJSON; a visit uses its check-in position when it has one). Text that a spreadsheet would
    run as a formula is escaped. The file appears only when complete.

    Raises
    ------
    InvalidInput
        If ``entity`` or ``fmt`` is unknown.
    FieldCrmError
        If the file cannot be written.
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if entity == "accounts":
        headers, rows = _account_rows(session)
    elif entity in CHILD_COLUMNS:
        headers, rows = _child_rows(session, entity)
    else:
        raise InvalidInput(f"Unknown entity {entity!r}; use accounts, contacts, visits or sales.")
    return write_rows(path, fmt, headers, rows, progress=progress, cancelled=cancelled)
