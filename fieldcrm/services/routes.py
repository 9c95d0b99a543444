"""Route planning on the local database: stops from accounts, fill-my-day candidates, saving."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, tzinfo

from sqlalchemy.orm import Session

from fieldcrm.domain.records import AccountFilter, Visit
from fieldcrm.geo.routing.export import plan_datetime
from fieldcrm.geo.routing.fill import FillCandidate
from fieldcrm.geo.routing.model import Plan, Stop
from fieldcrm.services import accounts as accounts_service
from fieldcrm.services import visits as visits_service


def _minutes(at: datetime, tz: tzinfo) -> float:
    local = at.astimezone(tz)
    return local.hour * 60.0 + local.minute + local.second / 60.0


def stops_for_accounts(
    *, session: Session, account_ids: Sequence[str], day: date, tz: tzinfo,
    rep_id: str | None = None,
) -> list[Stop]:
    """One stop per account (in the given order); visits already planned that day become
    fixed appointments at their time.

    Raises
    ------
    NotFound
        An account does not exist (or was deleted).
    """
    planned = {v.account_id: v for v in visits_service.agenda(
        session=session, day=day, tz=tz, rep_id=rep_id).planned if v.planned_at is not None}
    out = []
    for account_id in account_ids:
        acc = accounts_service.get_account(session=session, account_id=account_id)
        visit = planned.get(acc.id)
        address = ", ".join(x for x in (acc.street, f"{acc.postcode} {acc.city}".strip()) if x)
        out.append(Stop(
            id=acc.id, name=acc.name, lat=acc.lat, lon=acc.lon, tier=str(acc.tier),
            address=address,
            duration=float(visit.duration_min) if visit and visit.duration_min else None,
            appointment=_minutes(visit.planned_at, tz) if visit else None,
            appointment_day=day if visit else None,
        ))
    return out


def fill_candidates(
    *, session: Session, flt: AccountFilter | None = None, limit: int = 5000,
) -> list[FillCandidate]:
    """Accounts (matching ``flt``) as candidates for `suggest_fill`, with the set cadences."""
    cadence = accounts_service.cadence_days(session)
    page = accounts_service.query_accounts(session=session, flt=flt or AccountFilter(),
                                           limit=limit)
    return [FillCandidate(
        account_id=r.id, name=r.name, tier=str(r.tier), lat=r.lat, lon=r.lon,
        last_visit=r.last_visit_at.date() if r.last_visit_at else None,
        cadence_days=cadence.get(str(r.tier)),
    ) for r in page.rows]


def save_plan(*, session: Session, plan: Plan, rep_id: str | None) -> list[Visit]:
    """Store the plan's visits as planned visits; visits done or already planned are skipped.

    All visits are written in one transaction, or none.

    Raises
    ------
    NotFound
        An account of the plan no longer exists; nothing is written then.
    """
    todo = [v for v in plan.stops if not v.done and v.stop.appointment is None]
    items = [(v.stop.id, plan_datetime(plan, v.start), max(1, round(v.departure - v.start)))
             for v in todo]
    return visits_service.plan_visits(session=session, items=items, rep_id=rep_id)
