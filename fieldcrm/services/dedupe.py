"""Find duplicate accounts and merge two of them in one transaction, undoable until the next sync."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldcrm.db.models import (
    AccountRecord,
    ContactRecord,
    Meta,
    OpportunityRecord,
    OutboxRecord,
    SaleRecord,
    VisitRecord,
)
from fieldcrm.db.outbox import enqueue, jsonable
from fieldcrm.db.types import utcnow
from fieldcrm.domain.enums import Role
from fieldcrm.domain.ids import new_id
from fieldcrm.errors import InvalidInput, NotFound
from fieldcrm.geo.dedupe import (
    DEFAULT_THRESHOLD,
    MergeField,
    find_duplicates,
    merge_fields,
    merge_preview,
)
from fieldcrm.services.importing import ACCOUNT_FIELDS

Progress = Callable[[int, int], None]
IsCancelled = Callable[[], bool]
_MERGED = (*ACCOUNT_FIELDS, "last_visit_at")
# Town-level positions are town centres: two shops in one town would look like neighbours.
_PRECISE = frozenset({"manual", "rooftop", "street"})
# Children cannot change account on the server (account_id is fixed at create), so a merge
# re-creates them under the survivor and removes the originals; completed visits are
# append-only, so they are copied and the originals stay with the removed account.
_CHILDREN: dict[str, tuple[Any, tuple[str, ...]]] = {
    "contact": (ContactRecord, ("name", "title", "phone", "phone_raw", "phone_valid", "email",
                                "email_valid", "notes")),
    "sale": (SaleRecord, ("rep_id", "sold_on", "amount_minor", "currency")),
    "opportunity": (OpportunityRecord, ("owner_id", "name", "stage", "amount_minor", "currency",
                                        "expected_close")),
    "visit": (VisitRecord, ("rep_id", "status", "planned_at", "checked_in_at", "checkin_lat",
                            "checkin_lon", "duration_min", "outcome", "notes", "next_step",
                            "follow_up_on")),
}


@dataclass(frozen=True, slots=True)
class DuplicateCandidate:
    """Two stored accounts that are probably one, for the duplicates list."""

    a_id: str
    a_name: str
    a_city: str
    b_id: str
    b_name: str
    b_city: str
    score: float
    reasons: tuple[str, ...]


def find_account_duplicates(*, session: Session, threshold: float = DEFAULT_THRESHOLD,
                            progress: Progress | None = None,
                            cancelled: IsCancelled | None = None) -> list[DuplicateCandidate]:
    """Return likely duplicate pairs among the live accounts, best first."""
    rows = [
        (*r[:6], r.lat if r.geocode_source in _PRECISE else None,
         r.lon if r.geocode_source in _PRECISE else None)
        for r in session.execute(select(
            AccountRecord.id, AccountRecord.name, AccountRecord.city, AccountRecord.phone,
            AccountRecord.email, AccountRecord.website, AccountRecord.lat, AccountRecord.lon,
            AccountRecord.geocode_source,
        ).where(AccountRecord.deleted.is_(False)))
    ]
    columns = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(8)]
    ids, names, cities, phones, emails, sites, lats, lons = columns
    pairs = find_duplicates(ids, names, phones, emails, sites, lats, lons, threshold=threshold,
                            progress=progress, cancelled=cancelled)
    where = {i: (n, c) for i, n, c in zip(ids, names, cities, strict=True)}
    return [DuplicateCandidate(p.a, *where[p.a], p.b, *where[p.b], p.score, p.reasons) for p in pairs]


def _live(session: Session, account_id: str) -> AccountRecord:
    rec = session.get(AccountRecord, account_id)
    if rec is None or rec.deleted:
        raise NotFound("That account does not exist or was deleted.")
    return rec


def _fields(rec: AccountRecord) -> dict[str, Any]:
    values = {k: getattr(rec, k) for k in _MERGED}
    values["tags"] = tuple(t for t in (rec.tags or "").split(",") if t)
    return values


def preview_merge(*, session: Session, survivor_id: str, other_id: str) -> list[MergeField]:
    """Return the fields that differ between two accounts and the proposed choice for each."""
    return merge_preview(_fields(_live(session, survivor_id)), _fields(_live(session, other_id)))


@dataclass(frozen=True, slots=True)
class MergeResult:
    merge_id: str
    survivor_id: str
    removed_id: str
    moved: dict[str, int]


def merge_accounts(*, session: Session, survivor_id: str, other_id: str, actor_role: Role,
                   choices: dict[str, Any] | None = None) -> MergeResult:
    """Merge ``other`` into ``survivor``: fields by ``choices`` (see ``geo.dedupe.merge_fields``),
    contacts, sales, opportunities and visits to the survivor, ``other`` removed. One
    transaction, every change through the outbox; :func:`undo_merge` reverts it until a sync
    sends it. Commits.

    Raises
    ------
    InvalidInput
        If the actor is not a manager (removing an account is theirs), or the ids are the same.
    NotFound
        If either account does not exist.
    """
    if actor_role not in (Role.MANAGER, Role.ADMIN):
        raise InvalidInput("Only a manager can merge accounts.")
    if survivor_id == other_id:
        raise InvalidInput("Choose two different accounts to merge.")
    survivor, other = _live(session, survivor_id), _live(session, other_id)
    merge_id = new_id()
    journal: dict[str, Any] = {"survivor": survivor.id, "other": other.id, "mutations": [],
                               "before": {k: jsonable(v) for k, v in _fields(survivor).items()},
                               "copies": [], "removed": []}
    try:
        merged = merge_fields(_fields(survivor), _fields(other), choices)
    except ValueError as exc:
        raise InvalidInput(f"Cannot merge: {exc}.") from None
    if survivor.last_visit_at and other.last_visit_at:
        merged["last_visit_at"] = max(survivor.last_visit_at, other.last_visit_at)
    merged["tags"] = ",".join(merged.get("tags") or ())
    changed = {k: v for k, v in merged.items() if k in _MERGED and getattr(survivor, k) != v}
    for key, value in changed.items():
        setattr(survivor, key, value)
    survivor.updated_at = utcnow()
    if changed:
        _log(journal, enqueue(session, entity="account", entity_id=survivor.id, op="patch",
                              fields=changed, base_version=survivor.row_version))
    moved = {entity: _move_children(session, entity, other.id, survivor.id, journal)
             for entity in _CHILDREN}
    other.deleted = True
    other.updated_at = utcnow()
    _log(journal, enqueue(session, entity="account", entity_id=other.id, op="delete", fields={},
                          base_version=other.row_version))
    session.add(Meta(key=f"merge:{merge_id}", value=json.dumps(journal)))
    session.commit()
    return MergeResult(merge_id, survivor.id, other.id, moved)


def _log(journal: dict[str, Any], record: OutboxRecord) -> None:
    journal["mutations"].append(record.mutation_id)


def _move_children(session: Session, entity: str, from_id: str, to_id: str,
                   journal: dict[str, Any]) -> int:
    model, keys = _CHILDREN[entity]
    children = session.scalars(select(model).where(model.account_id == from_id,
                                                   model.deleted.is_(False))).all()
    for child in children:
        fields = {"account_id": to_id, **{k: getattr(child, k) for k in keys}}
        copy = model(id=new_id(), **fields)
        session.add(copy)
        append_only = entity == "visit" and child.status != "planned"
        _log(journal, enqueue(session, entity=entity, entity_id=copy.id,
                              op="append" if append_only else "create", fields=fields))
        journal["copies"].append([entity, copy.id])
        if not append_only:
            child.deleted = True
            child.updated_at = utcnow()
            _log(journal, enqueue(session, entity=entity, entity_id=child.id, op="delete",
                                  fields={}, base_version=child.row_version))
            journal["removed"].append([entity, child.id])
        else:
            child.deleted = True  # hidden here; the server keeps it with the removed account
            journal["removed"].append([entity, child.id])
    session.flush()
    return len(children)


def undo_merge(*, session: Session, merge_id: str) -> None:
    """Undo a merge that no sync has sent yet; commits.

    Raises
    ------
    InvalidInput
        If the merge is unknown or a sync has already sent part of it.
    """
    meta = session.get(Meta, f"merge:{merge_id}")
    if meta is None:
        raise InvalidInput("That merge cannot be undone any more.")
    journal = json.loads(meta.value)
    mutations = session.scalars(select(OutboxRecord).where(
        OutboxRecord.mutation_id.in_(journal["mutations"]))).all()
    if len(mutations) != len(journal["mutations"]) or any(m.state != "pending" for m in mutations):
        raise InvalidInput("That merge was already synced; it cannot be undone.")
    for mutation in mutations:
        session.delete(mutation)
    survivor = session.get(AccountRecord, journal["survivor"])
    before = dict(journal["before"])
    before["tags"] = ",".join(before.get("tags") or ())
    if isinstance(before.get("last_visit_at"), str):
        before["last_visit_at"] = datetime.fromisoformat(before["last_visit_at"])
    for key, value in before.items():
        setattr(survivor, key, value)
    session.get(AccountRecord, journal["other"]).deleted = False
    for entity, child_id in journal["copies"]:
        session.delete(session.get(_CHILDREN[entity][0], child_id))
    for entity, child_id in journal["removed"]:
        session.get(_CHILDREN[entity][0], child_id).deleted = False
    session.delete(meta)
    session.commit()


def forget_merges_after_sync(session: Session) -> int:
    """Drop the undo journals of merges whose mutations have all left the outbox (call after a
    successful sync); returns how many were dropped."""
    pending = set(session.scalars(select(OutboxRecord.mutation_id).where(
        OutboxRecord.state.in_(("pending", "inflight")))))  # acked rows stay a while: not pending
    dropped = 0
    for meta in session.scalars(select(Meta).where(Meta.key.like("merge:%"))).all():
        if not pending & set(json.loads(meta.value)["mutations"]):
            session.delete(meta)
            dropped += 1
    session.commit()
    return dropped
