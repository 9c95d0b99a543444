"""Readable names for synced records: "Account", "visit to Bygg AB", a contact's name."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldcrm.db.models import AccountRecord, ContactRecord, TerritoryRow, UserRow, VisitRecord

_ENTITY_TITLES = {"account": "Account", "contact": "Contact", "visit": "Visit",
                  "visit_amendment": "Visit correction", "territory": "Territory",
                  "sale": "Sale", "opportunity": "Opportunity"}


def entity_title(entity: str) -> str:
    return _ENTITY_TITLES.get(entity, entity.replace("_", " ").capitalize())


def row_names(session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """A readable name for each (entity, id): an account's or contact's name, a visit's account."""
    wanted: dict[str, set[str]] = {}
    for entity, entity_id in keys:
        wanted.setdefault(entity, set()).add(entity_id)
    names: dict[tuple[str, str], str] = {}
    simple = {"account": AccountRecord, "contact": ContactRecord, "territory": TerritoryRow,
              "user": UserRow}
    for entity, model in simple.items():
        ids = wanted.get(entity)
        if ids:
            for rid, name in session.execute(select(model.id, model.name).where(model.id.in_(ids))):
                names[(entity, rid)] = name
    visits = wanted.get("visit")
    if visits:
        stmt = (select(VisitRecord.id, AccountRecord.name)
                .join(AccountRecord, AccountRecord.id == VisitRecord.account_id)
                .where(VisitRecord.id.in_(visits)))
        for rid, name in session.execute(stmt):
            names[("visit", rid)] = f"visit to {name}"
    return names
