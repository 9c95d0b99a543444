"""Manager review queues: conflicts, quarantined edits, unplaced accounts, visits under review."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldcrm.errors import InvalidInput, NotFound
from fieldcrm.sync.protocol import ChangeOp, ConflictOut, scope_of_user
from fieldcrm.sync.server.admin import Forbidden
from fieldcrm.sync.server.merge import MODELS, merge_fields, row_scopes, write_fields
from fieldcrm.sync.server.models import (
    Account,
    Conflict,
    Quarantine,
    Territory,
    User,
    Visit,
    VisitAmendment,
    utcnow,
)
from fieldcrm.sync.server.scopes import Actor, IndexWrites, account_scopes


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


# --- visits under review ---------------------------------------------------------------------

VISIT_ACCEPTED, VISIT_NEEDS_REVIEW, VISIT_DISMISSED = "accepted", "needs_review", "dismissed"
MAX_NOTE = 200


class VisitReviewRequest(BaseModel):
    """A manager's ruling on a visit under review: publish it, or keep it aside with a note."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["accept", "dismiss"]
    note: str = Field(default="", max_length=MAX_NOTE, pattern=r"^[^\x00]*$")


class ReviewVisitOut(BaseModel):
    """A visit of the review queue, with what a manager needs to rule on it."""

    id: str
    review: Literal["accepted", "needs_review", "dismissed"]
    review_reason: str
    rep_id: str
    rep_name: str
    account_id: str
    account_name: str | None = Field(description="null when the server has no such account")
    account_deleted: bool
    territory_id: str | None
    territory_name: str | None
    status: str | None = Field(description="the visit's own status (completed, planned, ...)")
    occurred_at: str | None = Field(description="the rep's clock; for display only")
    received_at_server: str
    outcome: str
    notes: str
    reviewed_by: str | None = Field(default=None, description="user id of the last decision")
    reviewed_by_name: str | None = None
    reviewed_at: str | None = None
    review_note: str | None = Field(default=None, description="the manager's note, if any")


def _rep_names(session: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.name, User.username).where(User.id.in_(ids)))
    return {i: (n if n and n != u else u) for i, n, u in rows}


def _review_out(
    v: Visit, account: Account | None, territory: Territory | None, names: dict[str, str]
) -> ReviewVisitOut:
    data = v.data or {}
    reviewer = v.reviewed_by
    return ReviewVisitOut(
        id=v.id,
        review=v.review,  # type: ignore[arg-type]
        review_reason=v.review_reason,
        rep_id=v.rep_id,
        rep_name=names.get(v.rep_id, v.rep_id),
        account_id=v.account_id,
        account_name=account.name if account is not None else None,
        account_deleted=bool(account is not None and account.deleted),
        territory_id=account.territory_id if account is not None else None,
        territory_name=territory.name if territory is not None else None,
        status=data.get("status"),
        occurred_at=v.occurred_at_client,
        received_at_server=v.received_at_server.isoformat(),
        outcome=str(data.get("outcome") or ""),
        notes=str(data.get("notes") or ""),
        reviewed_by=reviewer,
        reviewed_by_name=names.get(reviewer, reviewer) if reviewer else None,
        reviewed_at=v.reviewed_at.isoformat() if v.reviewed_at is not None else None,
        review_note=v.review_note,
    )


def list_review_visits(
    session: Session, *, status: str = VISIT_NEEDS_REVIEW, limit: int = 500
) -> list[ReviewVisitOut]:
    """Visits waiting for a manager (or dismissed ones), newest first."""
    q = select(Visit).order_by(Visit.received_at_server.desc(), Visit.id.desc()).limit(limit)
    visits = list(session.scalars(q.where(Visit.review == status)))
    accounts = {
        a.id: a
        for a in session.scalars(
            select(Account).where(Account.id.in_({v.account_id for v in visits}))
        )
    }
    t_ids = {a.territory_id for a in accounts.values() if a.territory_id}
    territories = {
        t.id: t for t in session.scalars(select(Territory).where(Territory.id.in_(t_ids)))
    }
    names = _rep_names(session, {v.rep_id for v in visits} | {v.reviewed_by or "" for v in visits})
    out = []
    for v in visits:
        a = accounts.get(v.account_id)
        t = territories.get(a.territory_id) if a is not None and a.territory_id else None
        out.append(_review_out(v, a, t, names))
    return out


def review_visit(
    session: Session, *, actor: Actor, visit_id: str, action: str, note: str = ""
) -> ReviewVisitOut:
    """Accept a visit under review into its account's scopes, or dismiss it (kept, with a note).

    Accepting is idempotent; a dismissed visit may still be accepted; an accepted one is field
    work of its account and cannot be dismissed. Nothing is ever deleted.

    Raises
    ------
    Forbidden
        The caller is not a manager.
    NotFound
        No such visit.
    InvalidInput
        The account is unknown or deleted (accept), or the visit is already accepted (dismiss).
    """
    if not actor.is_manager:
        raise Forbidden("only managers review visits")
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"the note has {len(note)} characters; at most {MAX_NOTE} fit")
    v = session.get(Visit, visit_id, with_for_update=True)
    if v is None:
        raise NotFound(f"no visit {visit_id!r}")
    account = session.get(Account, v.account_id, with_for_update=True)
    wanted = VISIT_ACCEPTED if action == "accept" else VISIT_DISMISSED
    if v.review != wanted:
        index = IndexWrites(session=session, now=utcnow())
        if wanted == VISIT_ACCEPTED:
            _accept(session, index, v, account)
        elif v.review == VISIT_ACCEPTED:
            raise InvalidInput(
                f"visit {visit_id} is already accepted: it is field work of its account now"
            )
        v.review = wanted  # review_reason keeps why the server flagged it
        v.reviewed_by, v.reviewed_at = actor.user_id, index.now
        v.review_note = note.strip() or None
        index.stage({scope_of_user(v.rep_id)}, "visit", v.id, ChangeOp.UPSERT, 1)
        session.flush()
        index.flush()
    territory = (
        session.get(Territory, account.territory_id)
        if account is not None and account.territory_id
        else None
    )
    names = _rep_names(session, {v.rep_id, v.reviewed_by or ""})
    return _review_out(v, account, territory, names)


def _accept(session: Session, index: IndexWrites, v: Visit, account: Account | None) -> None:
    """Publish the visit and its amendments into the account's scopes (normal index writes)."""
    if account is None:
        raise InvalidInput(
            f"visit {v.id}: its account {v.account_id} is not on the server; dismiss it instead"
        )
    if account.deleted:
        raise InvalidInput(
            f"visit {v.id}: account {account.name!r} was deleted; dismiss the visit instead"
        )
    scopes = account_scopes(account) | {scope_of_user(v.rep_id)}
    index.stage(scopes, "visit", v.id, ChangeOp.UPSERT, 1)
    data = dict(v.data or {})
    amendments = session.scalars(
        select(VisitAmendment).where(VisitAmendment.visit_id == v.id).order_by(VisitAmendment.id)
    )
    for a in amendments:
        a.review = VISIT_ACCEPTED
        data.update((a.data or {}).get("changes") or {})
        index.stage(scopes, "visit_amendment", a.id, ChangeOp.UPSERT, 1)
    at = data.get("checked_in_at")
    if data.get("status", "completed") == "completed" and at is not None:
        applied, _ = merge_fields("account", account, {"last_visit_at": at}, account.row_version)
        if applied:
            write_fields(account, applied, index.now)
            index.stage(
                account_scopes(account), "account", account.id, ChangeOp.UPSERT, account.row_version
            )
