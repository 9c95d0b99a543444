"""Manager queue of visits under review on the sync server: list them, accept or dismiss them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, TypeAdapter, ValidationError

from fieldcrm.errors import InvalidInput, SyncError
from fieldcrm.services.sync_manager import request_json
from fieldcrm.sync.client import SyncClient

MAX_NOTE = 200
NOT_ON_SERVER = "The account is not on the server: dismiss the visit (it is kept)."
DELETED = "The account was deleted: dismiss the visit (it is kept)."


class _ReviewVisitWire(BaseModel):
    """``GET /v1/visits/review`` items (the server's ``ReviewVisitOut``); extra keys ignored."""

    id: str
    review: Literal["accepted", "needs_review", "dismissed"]
    review_reason: str = ""
    rep_id: str
    rep_name: str = ""
    account_id: str
    account_name: str | None = None
    account_deleted: bool = False
    territory_id: str | None = None
    territory_name: str | None = None
    status: str | None = None
    occurred_at: str | None = None
    received_at_server: str
    outcome: str = ""
    notes: str = ""
    reviewed_by: str | None = None
    reviewed_by_name: str | None = None
    reviewed_at: str | None = None
    review_note: str | None = None


_LIST = TypeAdapter(list[_ReviewVisitWire])


@dataclass(frozen=True, slots=True)
class ReviewVisit:
    """One visit of the review queue, readable by a manager."""

    id: str
    review: str
    rep: str
    account: str
    territory: str
    when: str
    received: str
    why: str
    outcome: str
    notes: str
    can_accept: bool
    blocked: str
    """Why the visit cannot be accepted (empty when it can)."""
    decision: str = ""
    """The last manager decision, e.g. ``Dismissed by Eva on 2026-11-22 14:05: duplicate``."""


def _local(iso: str | None) -> str:
    """``2026-11-20 10:30`` in the laptop's time zone; the text as given when unreadable."""
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso[:16].replace("T", " ")


def _why(w: _ReviewVisitWire) -> str:
    """The server's reason in a manager's words."""
    reason = w.review_reason
    if w.review != "needs_review" and w.reviewed_at is None:
        return reason  # a server before the audit columns wrote its decision here
    if w.account_name is None or reason == "unknown account":
        return "Account not on the server"
    if w.account_deleted or reason == "account was deleted":
        return "Account was deleted"
    if "grace window" in reason:
        where = w.territory_name or "the account's territory"
        return f"{w.rep_name or 'The rep'} no longer held {where}"
    return reason


def _decision(w: _ReviewVisitWire) -> str:
    """``Dismissed by X on D: note`` (empty while no manager has ruled)."""
    if w.reviewed_at is None or w.review == "needs_review":
        return ""
    who = w.reviewed_by_name or w.reviewed_by or "a manager"
    text = f"{w.review.capitalize()} by {who} on {_local(w.reviewed_at)}"
    return text + (f": {w.review_note}" if w.review_note else "")


def _view(w: _ReviewVisitWire) -> ReviewVisit:
    blocked = NOT_ON_SERVER if w.account_name is None else DELETED if w.account_deleted else ""
    account = w.account_name if w.account_name is not None else f"(unknown …{w.account_id[-6:]})"
    return ReviewVisit(
        id=w.id,
        review=w.review,
        rep=w.rep_name or f"user …{w.rep_id[-6:]}",
        account=account + (" (deleted)" if w.account_deleted else ""),
        territory=w.territory_name or "",
        when=_local(w.occurred_at),
        received=_local(w.received_at_server),
        why=_why(w),
        outcome=w.outcome,
        notes=w.notes,
        can_accept=not blocked and w.review != "accepted",
        blocked=blocked,
        decision=_decision(w),
    )


def _parse_one(data: object) -> ReviewVisit:
    try:
        return _view(_ReviewVisitWire.model_validate(data))
    except ValidationError as exc:
        raise SyncError(f"The sync server sent an unreadable answer: {exc}", kind="server") from None


def list_review_visits(
    client: SyncClient, *, status: Literal["needs_review", "dismissed"] = "needs_review"
) -> list[ReviewVisit]:
    """Visits waiting for a manager (newest first), or the dismissed ones.

    Raises
    ------
    SyncError
        ``forbidden`` when the caller is not a manager; ``offline``, ``auth``, ``busy``...
    """
    data = request_json(client, "GET", f"/v1/visits/review?status={status}")
    try:
        return [_view(w) for w in _LIST.validate_python(data)]
    except ValidationError as exc:
        raise SyncError(f"The sync server sent an unreadable answer: {exc}", kind="server") from None


def _check_note(note: str) -> str:
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"The note has {len(note)} characters; at most {MAX_NOTE} fit.",
                           {"note": "too long"})
    return note


def accept_visit(client: SyncClient, *, visit_id: str, note: str = "") -> ReviewVisit:
    """Accept a visit: it becomes a normal visit of its account, sent to its territory's reps.

    Raises
    ------
    InvalidInput
        The note is too long.
    SyncError
        ``server`` when the account is unknown or deleted (dismiss it instead).
    """
    body = {"action": "accept", "note": _check_note(note)}
    return _parse_one(request_json(client, "POST", f"/v1/visits/{visit_id}/review", body))


def dismiss_visit(client: SyncClient, *, visit_id: str, note: str = "") -> ReviewVisit:
    """Keep a visit aside as dismissed, with a note; it is never deleted.

    Raises
    ------
    InvalidInput
        The note is too long.
    SyncError
        ``server`` when the visit was accepted already.
    """
    body = {"action": "dismiss", "note": _check_note(note)}
    return _parse_one(request_json(client, "POST", f"/v1/visits/{visit_id}/review", body))
