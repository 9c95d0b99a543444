"""Manager review queues: sync conflicts, quarantined edits, accounts waiting for placement."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldcrm.errors import InvalidInput, NotFound
from fieldcrm.sync.protocol import ChangeOp, ConflictOut, scope_of_user
from fieldcrm.sync.server.admin import Forbidden
from fieldcrm.sync.server.merge import MODELS, row_scopes, write_fields
from fieldcrm.sync.server.models import Account, Conflict, Quarantine, utcnow
from fieldcrm.sync.server.scopes import Actor, IndexWrites


def conflict_out(c: Conflict) -> ConflictOut:
    return ConflictOut(
        id=c.id,
        entity=c.entity,
        entity_id=c.entity_id,
        field=c.field,
        kind=c.kind,
        kept_value=c.kept_value,
        rejected_value=c.rejected_value,
        rejected_mutation_id=c.rejected_mutation_id,
        user_id=c.user_id,
        status=c.status,
        created_at=c.created_at.isoformat(),
    )


def list_conflicts(
    session: Session, *, actor: Actor, status: str | None = "open"
) -> list[ConflictOut]:
    """Managers see the team's conflicts (every user's); a rep sees their own."""
    q = select(Conflict).order_by(Conflict.created_at)
    if status:
        q = q.where(Conflict.status == status)
    if not actor.is_manager:
        q = q.where(Conflict.user_id == actor.user_id)
    return [conflict_out(c) for c in session.scalars(q)]


def resolve_conflict(
    session: Session, *, actor: Actor, conflict_id: str, action: str
) -> ConflictOut:
    """``keep`` the committed value or (managers) ``apply`` the rejected one as a server patch."""
    c = session.get(Conflict, conflict_id, with_for_update=True)
    if c is None or (not actor.is_manager and c.user_id != actor.user_id):
        raise NotFound(f"no conflict {conflict_id!r}")
    if c.status != "open":
        raise InvalidInput(f"conflict {conflict_id} is already {c.status}")
    index = IndexWrites(session=session, now=utcnow())
    if action == "apply":
        if not actor.is_manager:
            raise Forbidden("only managers apply a rejected value; push a new patch instead")
        if c.kind != "field":
            raise InvalidInput("a change to a deleted row cannot be applied")
        row = session.get(MODELS[c.entity], c.entity_id, with_for_update=True)
        if row is None or row.deleted:
            raise InvalidInput(f"{c.entity} {c.entity_id} no longer exists")
        write_fields(row, {c.field: c.rejected_value}, index.now)
        index.stage(
            row_scopes(session, c.entity, row), c.entity, row.id, ChangeOp.UPSERT, row.row_version
        )
    c.status = "applied" if action == "apply" else "kept"
    c.resolved_at, c.resolved_by = index.now, actor.user_id
    c.row_version += 1
    index.stage({scope_of_user(c.user_id)}, "conflict", c.id, ChangeOp.UPSERT, c.row_version)
    session.flush()
    index.flush()
    return conflict_out(c)


def list_quarantine(session: Session, *, limit: int = 500) -> list[dict[str, Any]]:
    """Edits refused for scope reasons (newest first), for the managers' review."""
    rows = session.scalars(select(Quarantine).order_by(Quarantine.id.desc()).limit(limit))
    return [
        {
            "id": q.id,
            "mutation_id": q.mutation_id,
            "user_id": q.user_id,
            "device_id": q.device_id,
            "reason": q.reason,
            "payload": q.payload,
            "created_at": q.created_at.isoformat(),
        }
        for q in rows
    ]


def list_flagged_accounts(session: Session) -> list[dict[str, Any]]:
    """Rep-created accounts waiting for a manager to place them in a territory."""
    rows = session.scalars(
        select(Account)
        .where(Account.needs_assignment.is_(True), Account.deleted.is_(False))
        .order_by(Account.created_at)
    )
    return [
        {
            "id": a.id,
            "name": a.name,
            "lat": a.lat,
            "lon": a.lon,
            "city": a.city,
            "territory_id": a.territory_id,
            "created_by": a.created_by,
            "row_version": a.row_version,
        }
        for a in rows
    ]
