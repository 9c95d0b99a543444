"""The visit form: a visit logged with defaults in a few key presses, validation, planned visits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import func, select

from fieldcrm.db.models import OutboxRecord, VisitRecord
from fieldcrm.domain.enums import DEFAULT_OUTCOMES
from fieldcrm.services.accounts import create_account, get_account
from fieldcrm.services.visits import list_visits, plan_visit
from fieldcrm.ui.panels.visit_form import PlanVisitDialog, VisitFormDialog
from fieldcrm.ui.tasks import TaskRunner

CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def runner(db, qtbot) -> Iterator[TaskRunner]:
    runner = TaskRunner(db)
    yield runner
    runner.shutdown()


@pytest.fixture
def account_id(db) -> str:
    with db.session() as s:
        return create_account(session=s, fields={"name": "Nordic Dental", "city": "Uppsala",
                                                 "lat": 59.8586, "lon": 17.6389}).id


def _form(qtbot, runner, account_id, planned=None) -> VisitFormDialog:
    dialog = VisitFormDialog(runner, account_id, planned)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(dialog.is_ready)
    return dialog


def _count(db, model) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_log_visit_with_defaults_in_a_few_keys(qtbot, db, runner, account_id):
    dialog = _form(qtbot, runner, account_id)
    qtbot.waitUntil(dialog.notes.hasFocus, timeout=2000)  # the rep starts typing notes at once
    assert [dialog.outcome.itemText(i) for i in range(dialog.outcome.count())] == list(DEFAULT_OUTCOMES)
    assert dialog.use_account.isChecked() and not dialog.lat.isEnabled()
    assert dialog.duration.value() == 30 and dialog.follow_up_date() is None
    qtbot.keyClicks(dialog.notes, "Wants the spring catalogue")
    qtbot.keyClick(dialog.notes, Qt.Key.Key_1, CTRL)  # first outcome
    qtbot.keyClick(dialog.notes, Qt.Key.Key_Tab)
    qtbot.keyClicks(dialog.next_step, "Send prices")
    with qtbot.waitSignal(dialog.sig_saved, timeout=5000) as saved:
        qtbot.keyClick(dialog.next_step, Qt.Key.Key_Return, CTRL)
    with db.session() as s:
        (visit,) = list_visits(session=s, account_id=account_id)
        account = get_account(session=s, account_id=account_id)
    assert visit.id == saved.args[0]
    assert (visit.outcome, visit.notes, visit.next_step) == ("Order taken", "Wants the spring catalogue",
                                                             "Send prices")
    assert (visit.checkin_lat, visit.checkin_lon, visit.duration_min) == (59.8586, 17.6389, 30)
    assert abs(visit.checked_in_at - datetime.now(UTC)) < timedelta(minutes=2)
    assert visit.follow_up_on is None and account.last_visit_at == visit.checked_in_at


def test_enter_in_a_line_field_saves_and_quick_follow_up(qtbot, db, runner, account_id):
    dialog = _form(qtbot, runner, account_id)
    dialog.outcome.setFocus()
    qtbot.keyClick(dialog.outcome, Qt.Key.Key_Down)  # the outcome combo is keyboard-reachable
    assert dialog.outcome.currentText() == DEFAULT_OUTCOMES[0]
    qtbot.mouseClick(next(b for b in dialog.findChildren(type(dialog.save_button))
                          if b.text() == "+2 wee&ks"), Qt.MouseButton.LeftButton)
    checkin = dialog.checked_in.date().toPython()
    assert dialog.follow_up_date() == checkin + timedelta(days=14)
    dialog.set_follow_up(None)
    assert dialog.follow_up_date() is None
    dialog.set_follow_up(0, 1)
    with qtbot.waitSignal(dialog.sig_saved, timeout=5000):
        qtbot.keyClick(dialog.next_step, Qt.Key.Key_Return)
    with db.session() as s:
        (visit,) = list_visits(session=s, account_id=account_id)
    assert visit.follow_up_on is not None and 28 <= (visit.follow_up_on - checkin).days <= 31


def test_invalid_input_is_shown_inline_and_nothing_is_written(qtbot, db, runner, account_id):
    dialog = _form(qtbot, runner, account_id)
    before = _count(db, OutboxRecord)
    dialog.set_follow_up(-3)
    dialog.use_typed.setChecked(True)
    qtbot.keyClicks(dialog.lat, "95")
    qtbot.keyClicks(dialog.lon, "x")
    qtbot.keyClick(dialog.notes, Qt.Key.Key_Return, CTRL)
    errors = dialog.form.errors()
    assert set(errors) == {"outcome", "follow_up_on", "checkin_lat", "checkin_lon"}
    assert "Outcome" in errors["outcome"] and "Follow-up" in errors["follow_up_on"]
    assert "Latitude" in errors["checkin_lat"] and "Longitude" in errors["checkin_lon"]
    assert _count(db, VisitRecord) == 0 and _count(db, OutboxRecord) == before


def test_service_errors_land_under_their_field(qtbot, db, runner, account_id):
    dialog = _form(qtbot, runner, account_id)
    dialog.checked_in.setDateTime(dialog.checked_in.dateTime().addSecs(3 * 3600))
    qtbot.keyClick(dialog.notes, Qt.Key.Key_2, CTRL)
    qtbot.keyClick(dialog.notes, Qt.Key.Key_Return, CTRL)
    qtbot.waitUntil(lambda: dialog.form.error("checked_in_at") != "", timeout=5000)
    assert "future" in dialog.form.error("checked_in_at")
    assert dialog.save_button.isEnabled() and _count(db, VisitRecord) == 0


def test_complete_a_planned_visit(qtbot, db, runner, account_id):
    with db.session() as s:
        planned = plan_visit(session=s, account_id=account_id, rep_id=None, duration_min=45,
                             planned_at=datetime.now(UTC) - timedelta(minutes=30))
    dialog = _form(qtbot, runner, account_id, planned.id)
    assert "Completing the visit planned" in dialog._heading.text()
    assert dialog.duration.value() == 45
    qtbot.keyClicks(dialog.notes, "Done")
    qtbot.keyClick(dialog.notes, Qt.Key.Key_3, CTRL)
    with qtbot.waitSignal(dialog.sig_saved, timeout=5000) as saved:
        qtbot.keyClick(dialog.notes, Qt.Key.Key_Enter, CTRL)
    assert saved.args == [planned.id]
    with db.session() as s:
        (visit,) = list_visits(session=s, account_id=account_id)
    assert visit.status.value == "completed" and visit.outcome == DEFAULT_OUTCOMES[2]


def test_plan_visit_dialog(qtbot, db, runner, account_id):
    dialog = PlanVisitDialog(runner, account_id)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(dialog.is_ready)
    with qtbot.waitSignal(dialog.sig_saved, timeout=5000):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    with db.session() as s:
        (visit,) = list_visits(session=s, account_id=account_id)
    assert visit.status.value == "planned" and visit.planned_at > datetime.now(UTC)
    stockholm = visit.planned_at.astimezone(ZoneInfo("Europe/Stockholm"))  # the settings' zone
    assert (stockholm.hour, stockholm.minute, visit.duration_min) == (9, 0, 30)
    assert stockholm.weekday() < 5


def test_typed_position_when_the_account_has_none(qtbot, db, runner):
    with db.session() as s:
        bare = create_account(session=s, fields={"name": "Nowhere AB"}).id
    dialog = _form(qtbot, runner, bare)
    assert not dialog.use_account.isEnabled() and dialog.use_typed.isChecked() and dialog.lat.isEnabled()
    qtbot.keyClick(dialog.notes, Qt.Key.Key_4, CTRL)
    qtbot.keyClicks(dialog.lat, "59,1")
    qtbot.keyClicks(dialog.lon, "18.2")
    with qtbot.waitSignal(dialog.sig_saved, timeout=5000):
        qtbot.keyClick(dialog.lon, Qt.Key.Key_Return)  # Enter in the last field saves
    with db.session() as s:
        (visit,) = list_visits(session=s, account_id=bare)
    assert (visit.checkin_lat, visit.checkin_lon, visit.outcome) == (59.1, 18.2, DEFAULT_OUTCOMES[3])
