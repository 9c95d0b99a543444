"""Append-only visits and visit amendments: never conflict, never dropped (SYNC.md Visits)."""

from __future__ import annotations

from typing import Any

from fieldcrm.errors import InvalidInput
from fieldcrm.sync.protocol import Applied, ChangeOp, Op, RejectCode, scope_of_user
from fieldcrm.sync.server.fields import clean_fields
from fieldcrm.sync.server.merge import (
    Finish,
    Reject,
    Tx,
    cleaned,
    indexed_version,
    merge_fields,
    write_fields,
)
from fieldcrm.sync.server.models import Account, Visit, VisitAmendment
from fieldcrm.sync.server.scopes import account_scopes, held_territories, within

ACCEPTED = "accepted"
NEEDS_REVIEW = "needs_review"


def _require_append(tx: Tx) -> None:
    if tx.mutation.op != Op.APPEND:
        raise Reject(
            RejectCode.VALIDATION,
            f"{tx.mutation.entity} is append-only: use op 'append' (corrections are amendments)",
        )


def judge_visit(tx: Tx, account: Account | None, grace_days: float) -> tuple[str, str]:
    """Accept when the rep held the account's scope now or within G; else needs_review."""
    if account is None:
        return NEEDS_REVIEW, "unknown account"
    if account.deleted:
        return NEEDS_REVIEW, "account was deleted"
    if tx.actor.is_manager or account_scopes(account) & tx.actor.scopes:
        return ACCEPTED, ""
    since = within(grace_days, tx.index.now)
    if account.territory_id in held_territories(tx.session, user_id=tx.actor.user_id, since=since):
        return ACCEPTED, "territory held within the grace window"
    return NEEDS_REVIEW, "rep did not hold the account's territory within the grace window"


def append_visit(tx: Tx, grace_days: float) -> Finish:
    _require_append(tx)
    m, s = tx.mutation, tx.session
    fields = cleaned("visit", m.fields, creating=True)
    account = tx.get("account", Account, fields["account_id"], lock=True)
    review, reason = judge_visit(tx, account, grace_days)
    scopes = {scope_of_user(tx.actor.user_id)}
    if review == ACCEPTED and account is not None:
        # A visit under review stays in the rep's own scope: no write outside their scopes.
        scopes |= account_scopes(account)
    if tx.get("visit", Visit, m.entity_id) is not None:
        # Same id already stored (sent again under another mutation id): keep the first.
        first = tx.get("visit", Visit, m.entity_id)
        at = indexed_version(
            tx, scope_id=scope_of_user(first.rep_id), entity="visit", entity_id=m.entity_id
        )
        return lambda _v: Applied(version=at, row_version=1, review=first.review)
    # Flushed with the batch as one multi-row INSERT; a concurrent copy of the same id makes
    # the commit fail and the whole push retry, which then takes the branch above.
    s.add(
        Visit(
            id=m.entity_id,
            account_id=fields["account_id"],
            rep_id=tx.actor.user_id,
            device_id=tx.actor.device_id,
            data=fields,
            occurred_at_client=fields.get("occurred_at") or fields.get("checked_in_at"),
            received_at_server=tx.index.now,
            review=review,
            review_reason=reason,
        )
    )
    tx.batch.absent.discard(("visit", m.entity_id))
    tx.index.stage(scopes, "visit", m.entity_id, ChangeOp.UPSERT, 1)
    if review == ACCEPTED and account is not None:
        _bump_last_visit(tx, account, fields)
    return lambda v: Applied(version=v[min(scopes)], row_version=1, review=review)


def _bump_last_visit(tx: Tx, account: Account, fields: dict[str, Any]) -> None:
    """A completed visit raises the account's ``last_visit_at`` (a max-merged field)."""
    at = fields.get("checked_in_at")
    if fields.get("status", "completed") != "completed" or at is None:
        return
    applied, _ = merge_fields("account", account, {"last_visit_at": at}, account.row_version)
    if applied:
        write_fields(account, applied, tx.index.now)
        tx.index.stage(
            account_scopes(account), "account", account.id, ChangeOp.UPSERT, account.row_version
        )


def _clean_amendment(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - {"visit_id", "changes", "reason"}
    errors = {k: "unknown field for visit_amendment" for k in unknown}
    if not isinstance(fields.get("visit_id"), str):
        errors["visit_id"] = "is required (the visit's id)"
    changes = fields.get("changes", {})
    if not isinstance(changes, dict):
        errors["changes"] = "must be an object of visit fields"
        changes = {}
    reason = fields.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 2000:
        errors["reason"] = "must be a string of at most 2000 characters"
    if "account_id" in changes:
        errors["changes.account_id"] = "cannot be amended"
    try:
        changes = clean_fields("visit", changes, creating=False) if not errors else changes
    except InvalidInput as exc:
        errors.update({f"changes.{k}": v for k, v in exc.errors.items()})
    if errors:
        detail = "; ".join(f"{k} {v}" for k, v in sorted(errors.items()))
        raise Reject(RejectCode.VALIDATION, f"invalid visit_amendment: {detail}")
    return {"visit_id": fields["visit_id"], "changes": changes, "reason": reason}


def append_amendment(tx: Tx) -> Finish:
    _require_append(tx)
    m, s = tx.mutation, tx.session
    fields = _clean_amendment(m.fields)
    # locked: serialises with a manager's review decision on the same visit (review.py)
    visit = s.get(Visit, fields["visit_id"], with_for_update=True)
    scopes = {scope_of_user(tx.actor.user_id)}
    review = NEEDS_REVIEW
    account = None
    if visit is not None:
        if visit.rep_id != tx.actor.user_id and not tx.actor.is_manager:
            raise Reject(
                RejectCode.FORBIDDEN_SCOPE, "only the visit's rep amends it", keep="quarantine"
            )
        account = s.get(Account, visit.account_id)
        scopes = {scope_of_user(visit.rep_id)}
        if visit.review == ACCEPTED and account is not None and not account.deleted:
            scopes |= account_scopes(account)
        review = visit.review
    if tx.get("visit_amendment", VisitAmendment, m.entity_id) is not None:
        at = indexed_version(
            tx,
            scope_id=scope_of_user(tx.actor.user_id),
            entity="visit_amendment",
            entity_id=m.entity_id,
        )
        return lambda _v: Applied(version=at, row_version=1)
    s.add(
        VisitAmendment(
            id=m.entity_id,
            visit_id=fields["visit_id"],
            rep_id=tx.actor.user_id,
            data=fields,
            received_at_server=tx.index.now,
            review=review,
        )
    )
    tx.batch.absent.discard(("visit_amendment", m.entity_id))
    if (
        visit is not None
        and visit.review == ACCEPTED
        and account is not None
        and not account.deleted
    ):
        # Completing a planned visit arrives as an amendment: it raises last_visit_at too.
        status = fields["changes"].get("status", (visit.data or {}).get("status", "completed"))
        _bump_last_visit(tx, account, {**fields["changes"], "status": status})
    tx.index.stage(scopes, "visit_amendment", m.entity_id, ChangeOp.UPSERT, 1)
    return lambda v: Applied(version=v[min(scopes)], row_version=1, review=review)
