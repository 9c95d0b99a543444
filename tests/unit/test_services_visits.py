"""Visit services: logging, planning, completing, cancelling, amending, agenda and timeline."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from fieldcrm.db.models import OutboxRecord, SaleRecord, VisitAmendmentRecord
from fieldcrm.domain.enums import VisitStatus
from fieldcrm.errors import InvalidInput
from fieldcrm.services import accounts as A
from fieldcrm.services import contacts as C
from fieldcrm.services import visits as V


def test_log_visit_validates_each_field_by_name(db) -> None:
    with db.session() as s:
        acc = A.create_account(session=s, fields={"name": "Sala Bygg AB"})
        now = datetime.now(UTC)
        with pytest.raises(InvalidInput) as info:
            V.log_visit(session=s, account_id=acc.id, rep_id=None, fields={
                "checked_in_at": now, "outcome": "", "duration_min": 0, "checkin_lat": 59.9,
                "follow_up_on": (now - timedelta(days=2)).date()})
        assert set(info.value.errors) == {"outcome", "duration_min", "checkin_lon", "follow_up_on"}
        assert V.list_visits(session=s, account_id=acc.id) == []


def test_logged_visit_updates_last_visit_as_a_max_and_appends_to_outbox(db) -> None:
    with db.session() as s:
        acc = A.create_account(session=s, fields={"name": "Sala Bygg AB"})
        now = datetime.now(UTC)
        V.log_visit(session=s, account_id=acc.id, rep_id=None,
                    fields={"checked_in_at": now, "outcome": "Order taken"})
        V.log_visit(session=s, account_id=acc.id, rep_id=None,  # logged late, happened earlier
                    fields={"checked_in_at": now - timedelta(days=3), "outcome": "Interested"})
        assert A.get_account(session=s, account_id=acc.id).last_visit_at == now
        ops = [(r.entity, r.op) for r in s.scalars(select(OutboxRecord).order_by(OutboxRecord.client_seq))]
        assert ops == [("account", "create"), ("visit", "append"), ("visit", "append")]


def test_plan_complete_cancel_and_amend(db) -> None:
    tz = UTC
    with db.session() as s:
        acc = A.create_account(session=s, fields={"name": "Kalix Maskin AB"})
        today = date.today()
        at = datetime.combine(today, datetime.min.time(), tz) + timedelta(hours=10)
        p1 = V.plan_visit(session=s, account_id=acc.id, planned_at=at, rep_id=None, duration_min=30)
        p2 = V.plan_visit(session=s, account_id=acc.id, planned_at=at + timedelta(hours=2), rep_id=None)
        agenda = V.agenda(session=s, day=today, tz=tz)
        assert [v.id for v in agenda.planned] == [p1.id, p2.id]
        done = V.log_visit(session=s, account_id=acc.id, rep_id=None, planned_visit_id=p1.id,
                           fields={"checked_in_at": datetime.now(UTC), "outcome": "Order taken",
                                   "follow_up_on": today})
        assert done.status is VisitStatus.COMPLETED and done.id == p1.id
        with pytest.raises(InvalidInput, match="already logged"):
            V.log_visit(session=s, account_id=acc.id, rep_id=None, planned_visit_id=p1.id,
                        fields={"checked_in_at": datetime.now(UTC), "outcome": "x"})
        V.cancel_visit(session=s, visit_id=p2.id, reason="Closed for inventory")
        agenda = V.agenda(session=s, day=today, tz=tz)
        assert agenda.planned == () and [v.id for v in agenda.follow_ups] == [p1.id]
        V.amend_visit(session=s, visit_id=p1.id, author_id=None, changes={"notes": "Order was 40 units"})
        [amendment] = s.scalars(select(VisitAmendmentRecord)).all()
        assert json.loads(amendment.fields_json) == {"notes": "Order was 40 units"}


def test_timeline_has_everything_newest_first(db) -> None:
    with db.session() as s:
        acc = A.create_account(session=s, fields={"name": "Gävle Färg AB"})
        C.create_contact(session=s, account_id=acc.id, fields={"name": "Eva Lund"})
        s.add(SaleRecord(id="s1", account_id=acc.id, sold_on=date.today() - timedelta(days=400),
                         amount_minor=1234500, currency="SEK"))
        s.commit()
        V.log_visit(session=s, account_id=acc.id, rep_id=None,
                    fields={"checked_in_at": datetime.now(UTC) + timedelta(minutes=1), "outcome": "Interested",
                            "notes": "Liked the new range", "next_step": "Send quote"})
        entries = V.timeline(session=s, account_id=acc.id)
        assert [e.kind for e in entries] == ["visit", "contact", "created", "sale"]
        assert entries[0].detail == "Liked the new range · Next: Send quote"
        assert entries[-1].title == "Sale 12,345.00 SEK"


def test_amendment_with_a_date_reaches_the_outbox_as_iso_text(db) -> None:
    with db.session() as s:
        acc = A.create_account(session=s, fields={"name": "Ljusdal Bil AB"})
        visit = V.log_visit(session=s, account_id=acc.id, rep_id=None,
                            fields={"checked_in_at": datetime.now(UTC), "outcome": "Interested"})
        follow = date.today() + timedelta(days=7)
        V.amend_visit(session=s, visit_id=visit.id, author_id=None, changes={"follow_up_on": follow})
        last = s.scalars(select(OutboxRecord).order_by(OutboxRecord.client_seq.desc())).first()
        assert json.loads(last.fields_json)["changes"] == {"follow_up_on": follow.isoformat()}


def test_a_same_day_follow_up_is_accepted_west_of_utc(db) -> None:
    with db.session() as s:
        acc = A.create_account(session=s, fields={"name": "Evening AB"})
        # 20:00 in New York on 3 March is 01:00 UTC on 4 March; a follow-up on 3 March is fine.
        when = datetime(2026, 3, 4, 1, 0, tzinfo=UTC)
        V.log_visit(session=s, account_id=acc.id, rep_id=None,
                    fields={"checked_in_at": when, "outcome": "Interested", "follow_up_on": date(2026, 3, 3)})


def test_plan_visits_is_all_or_nothing(db) -> None:
    from fieldcrm.errors import NotFound

    with db.session() as s:
        acc = A.create_account(session=s, fields={"name": "Tranås Bygg AB"})
        at = datetime.now(UTC) + timedelta(days=1)
        with pytest.raises(NotFound):
            V.plan_visits(session=s, items=[(acc.id, at, 30), ("no-such-account", at, 30)], rep_id=None)
        assert V.list_visits(session=s, account_id=acc.id) == []
        done = V.plan_visits(session=s, items=[(acc.id, at, 30), (acc.id, at + timedelta(hours=1), 45)],
                             rep_id=None)
        assert [v.duration_min for v in done] == [30, 45]
