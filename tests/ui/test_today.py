"""The Today view: planned visits and follow-ups due; logging and cancelling from it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QInputDialog

from fieldcrm.domain.enums import VisitStatus
from fieldcrm.services.accounts import create_account
from fieldcrm.services.visits import list_visits, log_visit, plan_visit
from fieldcrm.ui.app import pin_refcounts, stop_runner
from fieldcrm.ui.panels.today_panel import TodayPanel
from fieldcrm.ui.tasks import TaskRunner

pin_refcounts()
TZ = ZoneInfo("Europe/Stockholm")  # the default settings' time zone


@pytest.fixture
def setup(db: Any) -> dict[str, Any]:
    """Two accounts: one with a visit planned at noon today, one with a follow-up due today."""
    today = datetime.now(TZ).date()
    with db.session() as s:
        shop = create_account(session=s, fields={"name": "Corner Shop", "lat": 59.86, "lon": 17.64})
        mill = create_account(session=s, fields={"name": "Old Mill", "lat": 59.9, "lon": 17.7})
        planned = plan_visit(session=s, account_id=shop.id, rep_id=None, duration_min=45,
                             planned_at=datetime.combine(today, time(12), TZ))
        log_visit(session=s, account_id=mill.id, rep_id=None, fields={
            "checked_in_at": datetime.now(TZ) - timedelta(days=3), "outcome": "Interested",
            "next_step": "Send the price list", "follow_up_on": today})
    return {"today": today, "shop": shop, "mill": mill, "planned": planned}


@pytest.fixture
def runner(db: Any) -> Iterator[TaskRunner]:
    r = TaskRunner(db)
    yield r
    stop_runner(r)


@pytest.fixture
def panel(qtbot: Any, runner: TaskRunner, setup: dict[str, Any]) -> TodayPanel:
    p = TodayPanel(runner)
    qtbot.addWidget(p)
    p.resize(800, 600)
    p.show()
    day = setup["today"]
    with qtbot.waitSignal(p.sig_loaded, timeout=10_000):
        p.date_edit.setDate(QDate(day.year, day.month, day.day))
        p.refresh()
    return p


def test_shows_planned_visits_and_follow_ups(panel: TodayPanel) -> None:
    assert panel.planned.rowCount() == 1
    cells = [panel.planned.item(0, c).text() for c in range(3)]
    assert cells == ["12:00", "Corner Shop", "45 min"]
    assert panel.planned_title.text() == "Planned visits today (1)"
    assert panel.follow_ups.rowCount() == 1
    assert [panel.follow_ups.item(0, c).text() for c in range(1, 4)] == [
        "Old Mill", "Send the price list", "Interested"]
    assert not panel.log_planned_button.isEnabled()  # nothing selected yet


def test_other_days(panel: TodayPanel, qtbot: Any) -> None:
    with qtbot.waitSignal(panel.sig_loaded, timeout=10_000):
        panel.next_button.click()
    assert panel.planned.rowCount() == 0
    assert "Nothing planned" in panel.empty_hint.text() or panel.follow_ups.rowCount() == 1


def test_logging_the_planned_visit_end_to_end(panel: TodayPanel, qtbot: Any, db: Any,
                                              setup: dict[str, Any]) -> None:
    from fieldcrm.ui.panels.visit_form import VisitFormDialog

    panel.planned.selectRow(0)
    assert panel.log_planned_button.isEnabled()
    panel.log_planned_button.click()
    dialog = panel.findChild(VisitFormDialog)
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(dialog.is_ready, timeout=10_000)
    dialog.outcome.setCurrentIndex(dialog.outcome.findData("Order taken"))
    dialog.notes.setPlainText("Took an order for spring")
    with qtbot.waitSignals([dialog.sig_saved, panel.sig_loaded], timeout=10_000):
        dialog.save_button.click()
    assert panel.planned.rowCount() == 0  # refreshed itself from the visits change
    with db.session() as s:
        visits = list_visits(session=s, account_id=setup["shop"].id)
    assert [(v.id, v.status, v.outcome) for v in visits] == [
        (setup["planned"].id, VisitStatus.COMPLETED, "Order taken")]


def test_cancel_a_planned_visit(panel: TodayPanel, qtbot: Any, db: Any, setup: dict[str, Any],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(QInputDialog, "getText", lambda *_a, **_k: ("Shop closed", True))
    panel.planned.selectRow(0)
    with qtbot.waitSignal(panel.sig_loaded, timeout=10_000):
        panel.cancel_button.click()
    assert panel.planned.rowCount() == 0
    with db.session() as s:
        (visit,) = list_visits(session=s, account_id=setup["shop"].id)
    assert (visit.status, visit.notes) == (VisitStatus.CANCELLED, "Shop closed")


def test_opening_an_account_from_a_follow_up(panel: TodayPanel, qtbot: Any,
                                             setup: dict[str, Any]) -> None:
    panel.follow_ups.selectRow(0)
    with qtbot.waitSignal(panel.sig_account_selected, timeout=1_000) as blocker:
        panel.open_follow_button.click()
    assert blocker.args == [setup["mill"].id]
    item = panel.follow_ups.item(0, 1)
    assert item.data(Qt.ItemDataRole.UserRole).account_id == setup["mill"].id
