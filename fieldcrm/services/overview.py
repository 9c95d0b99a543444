"""Small reads for the app shell: filter choices, the sync backlog and the rep's day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldcrm.db.models import TerritoryRow
from fieldcrm.db.outbox import pending_count
from fieldcrm.domain.enums import Role
from fieldcrm.services.settings import current_user, list_users, load_settings
from fieldcrm.services.visits import Agenda, agenda


@dataclass(frozen=True, slots=True)
class FilterOptions:
    """Choices for the accounts list's territory and owner filters: (id, name) pairs by name."""

    territories: tuple[tuple[str, str], ...]
    owners: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class DayPlan:
    """The rep's agenda for one day, with the time zone it was computed in."""

    day: date
    agenda: Agenda
    timezone: str
    outcomes: tuple[str, ...]


def filter_options(*, session: Session) -> FilterOptions:
    """Return the territories and owners the accounts list can filter by."""
    stmt = (select(TerritoryRow.id, TerritoryRow.name)
            .where(TerritoryRow.deleted.is_(False)).order_by(TerritoryRow.name))
    territories = tuple((r[0], r[1]) for r in session.execute(stmt))
    owners = tuple((u.id, u.name) for u in list_users(session=session))
    return FilterOptions(territories, owners)


def pending_changes(*, session: Session) -> int:
    """Return how many local changes wait to be synced."""
    return pending_count(session)


def day_plan(*, session: Session, day: date) -> DayPlan:
    """Return the planned visits of ``day`` and the follow-ups due, for the laptop's user.

    A rep sees their own visits; a manager, an admin or a laptop without a user sees everyone's.
    """
    settings = load_settings(session=session)
    try:
        tz = ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    user = current_user(session=session)
    rep_id = user.id if user is not None and user.role is Role.REP else None
    plan = agenda(session=session, day=day, tz=tz, rep_id=rep_id)
    return DayPlan(day, plan, str(tz), settings.outcomes)
