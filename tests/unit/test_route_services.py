"""Route services on a real SQLite file: stops from accounts, appointments, saving a plan."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fieldcrm.errors import NotFound
from fieldcrm.geo.routing.fill import suggest_fill
from fieldcrm.geo.routing.model import REASON_NO_COORDS, Place, PlanSettings
from fieldcrm.geo.routing.solver import plan_route
from fieldcrm.services import accounts as A
from fieldcrm.services import routes as R
from fieldcrm.services import visits as V

TZ = ZoneInfo("Europe/Stockholm")
DAY = date(2026, 11, 24)


def test_plan_from_accounts_keeps_appointments_and_saves_visits(db) -> None:
    with db.session() as s:
        ids = []
        for k in range(5):
            acc = A.create_account(session=s, fields={
                "name": f"Kund {k} AB", "tier": "B", "lat": 59.3 + 0.02 * k, "lon": 18.0 + 0.03 * k,
                "city": "Stockholm"})
            ids.append(acc.id)
        ids.append(A.create_account(session=s, fields={"name": "Utan Adress AB"}).id)
        fixed_at = datetime(2026, 11, 24, 11, 0, tzinfo=TZ)
        V.plan_visit(session=s, account_id=ids[2], planned_at=fixed_at, rep_id=None,
                     duration_min=40)
        stops = R.stops_for_accounts(session=s, account_ids=ids, day=DAY, tz=TZ)
        assert stops[2].appointment == 660.0 and stops[2].duration == 40.0
        home = Place("Home", 59.3, 18.0)
        plan = plan_route(stops, home, home, PlanSettings(day=DAY, start=home, end=home,
                                                          tz="Europe/Stockholm"))
        assert len(plan.stops) == 5
        assert [u.reason for u in plan.unscheduled] == [REASON_NO_COORDS]
        saved = R.save_plan(session=s, plan=plan, rep_id=None)
        assert len(saved) == 4  # the appointment was already in the agenda
        agenda = V.agenda(session=s, day=DAY, tz=TZ)
        assert len(agenda.planned) == 5
        assert [v.account_id for v in agenda.planned] == [v.stop.id for v in plan.stops]
        with pytest.raises(NotFound):
            R.stops_for_accounts(session=s, account_ids=["nope"], day=DAY, tz=TZ)


def test_fill_candidates_feed_suggest_fill(db) -> None:
    with db.session() as s:
        a = A.create_account(session=s, fields={"name": "A-kund", "tier": "A", "lat": 59.31,
                                                "lon": 18.01})
        A.create_account(session=s, fields={"name": "Långt bort", "tier": "A", "lat": 65.0,
                                            "lon": 20.0})
        V.log_visit(session=s, account_id=a.id, rep_id=None, fields={
            "checked_in_at": datetime.now(TZ) - timedelta(days=40), "outcome": "Interested"})
        cands = R.fill_candidates(session=s)
        assert {c.name for c in cands} == {"A-kund", "Långt bort"}
        out = suggest_fill(cands, today=date.today(), near=(59.3, 18.0), radius_km=10)
        assert [x.account_id for x in out] == [a.id]
        assert "overdue" in out[0].reason
