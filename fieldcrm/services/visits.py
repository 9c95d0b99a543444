"""Visit use cases: plan, check in and log, cancel, amend; today's agenda; an account's timeline."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from fieldcrm.db.models import (
    AccountRecord,
    ContactRecord,
    OpportunityRecord,
    SaleRecord,
    VisitAmendmentRecord,
    VisitRecord,
)
from fieldcrm.db.outbox import enqueue
from fieldcrm.db.types import utcnow
from fieldcrm.domain.enums import VisitStatus
from fieldcrm.domain.ids import new_id
from fieldcrm.domain.records import TimelineEntry, Visit
from fieldcrm.errors import InvalidInput, NotFound
from fieldcrm.services.validation import check_coordinates

LOG_FIELDS = ("checked_in_at", "checkin_lat", "checkin_lon", "duration_min", "outcome", "notes",
              "next_step", "follow_up_on")


def to_visit(rec: VisitRecord, account_name: str = "") -> Visit:
    """Return the DTO of a visit row."""
    return Visit(rec.id, rec.account_id, rec.rep_id, VisitStatus(rec.status), rec.planned_at,
                 rec.checked_in_at, rec.checkin_lat, rec.checkin_lon, rec.duration_min,
                 rec.outcome, rec.notes, rec.next_step, rec.follow_up_on, account_name)


def _account(session: Session, account_id: str) -> AccountRecord:
    rec = session.get(AccountRecord, account_id)
    if rec is None or rec.deleted:
        raise NotFound("That account does not exist or was deleted.")
    return rec


def _check_log(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(LOG_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown visit field(s): {', '.join(sorted(unknown))}.")
    out = dict(fields)
    errors = {("checkin_" + k): v for k, v in
              check_coordinates(out.get("checkin_lat"), out.get("checkin_lon")).items()}
    when = out.get("checked_in_at")
    if not isinstance(when, datetime) or when.tzinfo is None:
        errors["checked_in_at"] = "Check-in time is required."
    elif when > utcnow() + timedelta(hours=1):
        errors["checked_in_at"] = "Check-in time is in the future."
    duration = out.get("duration_min")
    if duration is not None and not 0 < int(duration) <= 24 * 60:
        errors["duration_min"] = "Duration must be between 1 minute and 24 hours."
    if not str(out.get("outcome") or "").strip():
        errors["outcome"] = "Choose an outcome."
    follow = out.get("follow_up_on")
    # The check-in's local date may be a day behind UTC's (UTC−12 at the most): compare with it.
    if follow is not None and isinstance(when, datetime) and follow < (when - timedelta(hours=12)).date():
        errors["follow_up_on"] = "Follow-up date is before the visit."
    for key in ("outcome", "notes", "next_step"):
        out[key] = str(out.get(key) or "").strip()
    if errors:
        raise InvalidInput(next(iter(errors.values())), errors)
    return out


def _add_planned(session: Session, account_id: str, planned_at: datetime, rep_id: str | None,
                 duration_min: int | None) -> Visit:
    if planned_at.tzinfo is None:
        raise InvalidInput("Planned time needs a time zone.", {"planned_at": "Planned time is required."})
    account = _account(session, account_id)
    rec = VisitRecord(id=new_id(), account_id=account_id, rep_id=rep_id, status="planned",
                      planned_at=planned_at, duration_min=duration_min)
    session.add(rec)
    session.flush()
    enqueue(session, entity="visit", entity_id=rec.id, op="create",
            fields={"account_id": account_id, "rep_id": rep_id, "status": "planned",
                    "planned_at": planned_at, "duration_min": duration_min})
    return to_visit(rec, account.name)


def plan_visit(*, session: Session, account_id: str, planned_at: datetime, rep_id: str | None,
               duration_min: int | None = None) -> Visit:
    """Put a planned visit in the agenda; commits.

    Raises
    ------
    InvalidInput
        If the time is not timezone-aware.
    NotFound
        If the account does not exist.
    """
    visit = _add_planned(session, account_id, planned_at, rep_id, duration_min)
    session.commit()
    return visit


def plan_visits(*, session: Session, items: list[tuple[str, datetime, int | None]],
                rep_id: str | None) -> list[Visit]:
    """Put several planned visits in the agenda in one transaction: all of them or none.

    ``items`` are ``(account_id, planned_at, duration_min)``.

    Raises
    ------
    InvalidInput, NotFound
        As :func:`plan_visit`; nothing is written then.
    """
    try:
        visits = [_add_planned(session, a, at, rep_id, d) for a, at, d in items]
    except Exception:
        session.rollback()
        raise
    session.commit()
    return visits


def log_visit(*, session: Session, account_id: str, rep_id: str | None, fields: dict[str, Any],
              planned_visit_id: str | None = None) -> Visit:
    """Record a completed visit (completing a planned one if given); commits.

    A completed visit is append-only from then on; corrections go through :func:`amend_visit`.

    Raises
    ------
    InvalidInput
        If a field is invalid (``errors`` names each).
    NotFound
        If the account or the planned visit does not exist.
    """
    clean = _check_log(fields)
    account = _account(session, account_id)
    if planned_visit_id:
        rec = session.get(VisitRecord, planned_visit_id)
        if rec is None or rec.account_id != account_id:
            raise NotFound("That planned visit does not exist.")
        if rec.status != "planned":
            raise InvalidInput("That visit was already logged; add a correction instead.")
        for key, value in clean.items():
            setattr(rec, key, value)
        rec.status = "completed"
        rec.updated_at = utcnow()
        enqueue(session, entity="visit", entity_id=rec.id, op="patch",
                fields={"status": "completed", **clean}, base_version=rec.row_version)
    else:
        rec = VisitRecord(id=new_id(), account_id=account_id, rep_id=rep_id, status="completed",
                          **clean)
        session.add(rec)
        session.flush()
        enqueue(session, entity="visit", entity_id=rec.id, op="append",
                fields={"account_id": account_id, "rep_id": rep_id, "status": "completed", **clean})
    when = clean["checked_in_at"]
    if account.last_visit_at is None or when > account.last_visit_at:
        account.last_visit_at = when  # derived (max); the server derives it from visits too
    session.commit()
    return to_visit(rec, account.name)


def cancel_visit(*, session: Session, visit_id: str, reason: str = "") -> Visit:
    """Cancel a planned visit; commits."""
    rec = session.get(VisitRecord, visit_id)
    if rec is None:
        raise NotFound("That visit does not exist.")
    if rec.status != "planned":
        raise InvalidInput("Only a planned visit can be cancelled.")
    rec.status = "cancelled"
    rec.notes = reason.strip()
    rec.updated_at = utcnow()
    enqueue(session, entity="visit", entity_id=rec.id, op="patch",
            fields={"status": "cancelled", "notes": rec.notes}, base_version=rec.row_version)
    session.commit()
    return to_visit(rec)


def amend_visit(*, session: Session, visit_id: str, author_id: str | None,
                changes: dict[str, Any]) -> Visit:
    """Correct a logged visit with an append-only amendment; commits."""
    rec = session.get(VisitRecord, visit_id)
    if rec is None:
        raise NotFound("That visit does not exist.")
    allowed = {"outcome", "notes", "next_step", "follow_up_on", "duration_min"}
    if not changes or set(changes) - allowed:
        raise InvalidInput("A correction may change outcome, notes, next step, follow-up or duration.")
    amendment = VisitAmendmentRecord(id=new_id(), visit_id=visit_id, author_id=author_id,
                                     fields_json=json.dumps(changes, default=str))
    session.add(amendment)
    for key, value in changes.items():
        setattr(rec, key, value)
    session.flush()
    enqueue(session, entity="visit_amendment", entity_id=amendment.id, op="append",
            fields={"visit_id": visit_id, "author_id": author_id, "changes": changes})
    session.commit()
    return to_visit(rec)


@dataclass(frozen=True, slots=True)
class Agenda:
    """What a rep has on a day: planned visits in time order, and follow-ups that are due."""

    planned: tuple[Visit, ...]
    follow_ups: tuple[Visit, ...]


def agenda(*, session: Session, day: date, tz: tzinfo, rep_id: str | None = None) -> Agenda:
    """Return the planned visits of ``day`` (in time zone ``tz``) and the follow-ups due by then."""
    start = datetime.combine(day, time.min, tz)
    end = start + timedelta(days=1)
    stmt = (select(VisitRecord, AccountRecord.name)
            .join(AccountRecord, AccountRecord.id == VisitRecord.account_id)
            .where(VisitRecord.status == "planned", VisitRecord.planned_at >= start,
                   VisitRecord.planned_at < end, AccountRecord.deleted.is_(False)))
    if rep_id:
        stmt = stmt.where(VisitRecord.rep_id == rep_id)
    planned = tuple(to_visit(v, n) for v, n in session.execute(stmt.order_by(VisitRecord.planned_at)))
    # A follow-up is due when it belongs to the account's latest visit (account.last_visit_at
    # is that visit's time, kept as a max), so no GROUP BY over every visit is needed.
    due = (select(VisitRecord, AccountRecord.name)
           .join(AccountRecord, and_(AccountRecord.id == VisitRecord.account_id,
                                     AccountRecord.last_visit_at == VisitRecord.checked_in_at))
           .where(VisitRecord.follow_up_on.is_not(None), VisitRecord.follow_up_on <= day,
                  VisitRecord.status == "completed", AccountRecord.deleted.is_(False)))
    if rep_id:
        due = due.where(VisitRecord.rep_id == rep_id)
    follow = tuple(to_visit(v, n) for v, n in session.execute(due.order_by(VisitRecord.follow_up_on).limit(500)))
    return Agenda(planned, follow)


def list_visits(*, session: Session, account_id: str) -> list[Visit]:
    """Return every visit of an account, newest first."""
    stmt = (select(VisitRecord).where(VisitRecord.account_id == account_id)
            .order_by(func.coalesce(VisitRecord.checked_in_at, VisitRecord.planned_at).desc()))
    return [to_visit(v) for v in session.scalars(stmt)]


def timeline(*, session: Session, account_id: str, currency_fmt: Any = None) -> list[TimelineEntry]:
    """Return everything that happened with an account, newest first."""
    account = _account(session, account_id)
    entries: list[TimelineEntry] = [TimelineEntry(account.created_at, "created", "Account created")]
    for v in list_visits(session=session, account_id=account_id):
        if v.status is VisitStatus.COMPLETED and v.checked_in_at:
            detail = " · ".join(x for x in (v.notes, f"Next: {v.next_step}" if v.next_step else "") if x)
            entries.append(TimelineEntry(v.checked_in_at, "visit", f"Visit: {v.outcome}", detail, v.id))
        elif v.planned_at:
            kind = "planned" if v.status is VisitStatus.PLANNED else "cancelled"
            entries.append(TimelineEntry(v.planned_at, kind, f"Visit {kind}", v.notes, v.id))
    for s in session.scalars(select(SaleRecord).where(SaleRecord.account_id == account_id,
                                                      SaleRecord.deleted.is_(False))):
        at = datetime.combine(s.sold_on, time(12), account.created_at.tzinfo)
        entries.append(TimelineEntry(at, "sale", f"Sale {s.amount_minor / 100:,.2f} {s.currency}", "", s.id))
    for o in session.scalars(select(OpportunityRecord).where(OpportunityRecord.account_id == account_id,
                                                             OpportunityRecord.deleted.is_(False))):
        entries.append(TimelineEntry(o.updated_at, "opportunity",
                                     f"Opportunity “{o.name}” ({o.stage})",
                                     f"{o.amount_minor / 100:,.2f} {o.currency}", o.id))
    for c in session.scalars(select(ContactRecord).where(ContactRecord.account_id == account_id,
                                                         ContactRecord.deleted.is_(False))):
        entries.append(TimelineEntry(c.created_at, "contact", f"Contact added: {c.name}", c.title, c.id))
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries
