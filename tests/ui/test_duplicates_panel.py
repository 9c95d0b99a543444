"""Duplicates panel and merge dialog on a real demo database with planted duplicates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from PySide6.QtWidgets import QRadioButton
from sqlalchemy import func, select

from fieldcrm.db.models import AccountRecord, ContactRecord, OutboxRecord, SaleRecord
from fieldcrm.domain.enums import Role
from fieldcrm.domain.ids import new_id
from fieldcrm.services.accounts import create_account
from fieldcrm.services.settings import current_user, list_users, set_current_user
from fieldcrm.ui.app import stop_runner
from fieldcrm.ui.panels.duplicates_panel import DuplicatesPanel, moved_text
from fieldcrm.ui.panels.merge_dialog import MergeDialog, show_value
from fieldcrm.ui.tasks import TaskRunner

WAIT = 10_000


@pytest.fixture
def planted(demo_db: Any) -> tuple[Any, str, str]:
    """The demo plus one obvious duplicate pair (same phone, near-identical name)."""
    with demo_db.session() as s:
        a = create_account(session=s, fields={
            "name": "Åkes Bageri AB", "city": "Umeå", "phone": "+46 90 12 34 56",
            "email": "", "tags": ("vip",), "notes": "Likes bread"})
        b = create_account(session=s, fields={
            "name": "Akes Bageri", "city": "Umeå", "phone": "090-12 34 56",
            "email": "ake@bageri.se", "tags": ("north",), "notes": "Closed Mondays"})
        s.add(ContactRecord(id=new_id(), account_id=b.id, name="Eva Ek"))
        s.add(SaleRecord(id=new_id(), account_id=b.id, sold_on=date(2024, 3, 1),
                         amount_minor=100, currency="SEK"))
        s.commit()
        manager = next(u for u in list_users(session=s) if u.role is Role.MANAGER)
        set_current_user(session=s, user_id=manager.id)
        return demo_db, a.id, b.id


@pytest.fixture
def runner(planted: tuple[Any, str, str]) -> Any:
    r = TaskRunner(planted[0])
    yield r
    stop_runner(r)


@pytest.fixture
def panel(qtbot: Any, runner: TaskRunner) -> Iterator[DuplicatesPanel]:
    p = DuplicatesPanel(runner)
    qtbot.addWidget(p)
    p.resize(1000, 500)
    p.show()
    yield p
    qtbot.waitUntil(lambda: runner._running == 0, timeout=WAIT)  # no op left in flight


def _find(qtbot: Any, panel: DuplicatesPanel) -> None:
    panel.find_button.click()
    assert not panel.find_button.isEnabled()
    qtbot.waitUntil(lambda: panel.find_button.isEnabled(), timeout=WAIT)


def _row_of(panel: DuplicatesPanel, a: str, b: str) -> int:
    return next(i for i, p in enumerate(panel.pairs) if {p.a_id, p.b_id} == {a, b})


def _open_dialog(qtbot: Any, panel: DuplicatesPanel, row: int) -> MergeDialog:
    panel.table.selectRow(row)
    assert panel.merge_button.isEnabled()
    panel.merge_button.click()
    dialog = panel.dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=WAIT)
    return dialog


def _live(db: Any, model: Any, account_id: str) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(
            model.account_id == account_id, model.deleted.is_(False))))


def test_find_lists_planted_pair_with_score_and_reasons(qtbot: Any, panel: DuplicatesPanel,
                                                        planted: tuple[Any, str, str]) -> None:
    _, a, b = planted
    _find(qtbot, panel)
    row = _row_of(panel, a, b)
    assert panel.table.rowCount() == len(panel.pairs) >= 1
    names = {panel.table.item(row, 1).text(), panel.table.item(row, 3).text()}
    assert names == {"Åkes Bageri AB", "Akes Bageri"}
    assert panel.table.item(row, 0).text().endswith("%")
    assert "same phone" in panel.table.item(row, 5).text()
    assert "likely duplicate pair" in panel.status.text()
    assert not panel.progress.isVisible() and not panel.cancel_button.isVisible()
    scores = [p.score for p in panel.pairs]
    assert scores == sorted(scores, reverse=True)


def test_merge_with_choices_then_undo(qtbot: Any, panel: DuplicatesPanel,
                                     planted: tuple[Any, str, str]) -> None:
    db, a, b = planted
    _find(qtbot, panel)
    dialog = _open_dialog(qtbot, panel, _row_of(panel, a, b))
    survivor = dialog.plan.survivor_id
    other = b if survivor == a else a
    defaults = dialog.choices()
    assert defaults["notes"] == "both" and defaults["tags"] == "both"
    assert defaults["email"] == ("b" if survivor == a else "a")  # the empty side never wins
    assert "name" in defaults
    dialog.choose("name", "b")  # take the other account's name
    dialog.choose("notes", "a")
    dialog.merge_button.click()
    qtbot.waitUntil(lambda: panel.undo_button.isEnabled() and "Merged" in panel.status.text(),
                    timeout=WAIT)
    assert "moved 1 contact and 1 sale" in panel.status.text()
    assert not panel.table.selectionModel().selectedRows() and not panel.merge_button.isEnabled()
    with db.session() as s:
        kept = s.get(AccountRecord, survivor)
        gone = s.get(AccountRecord, other)
        assert gone.deleted and not kept.deleted
        assert kept.name == gone.name and kept.email == "ake@bageri.se"
        assert kept.notes == ("Likes bread" if survivor == a else "Closed Mondays")
        ops = {(o.entity, o.op) for o in s.scalars(select(OutboxRecord).where(
            OutboxRecord.entity_id.in_([survivor, other])))}
        assert ("account", "delete") in ops and ("account", "patch") in ops
    assert _live(db, ContactRecord, survivor) == 1 and _live(db, SaleRecord, survivor) == 1
    assert all(other not in (p.a_id, p.b_id) for p in panel.pairs)

    panel.undo_button.click()
    qtbot.waitUntil(lambda: "undone" in panel.status.text() or panel.find_button.isEnabled()
                    and "likely" in panel.status.text(), timeout=WAIT)
    qtbot.waitUntil(lambda: panel.find_button.isEnabled() and not panel.undo_button.isEnabled(),
                    timeout=WAIT)
    with db.session() as s:
        assert not s.get(AccountRecord, other).deleted
        assert s.get(AccountRecord, survivor).name == ("Åkes Bageri AB" if survivor == a
                                                        else "Akes Bageri")
    assert _live(db, ContactRecord, b) == 1 and _live(db, ContactRecord, a) == 0
    _row_of(panel, a, b)  # the pair is listed again


def test_swap_survivor_and_no_undo_after_sync(qtbot: Any, panel: DuplicatesPanel,
                                             planted: tuple[Any, str, str]) -> None:
    db, a, b = planted
    _find(qtbot, panel)
    dialog = _open_dialog(qtbot, panel, _row_of(panel, a, b))
    first = dialog.plan.survivor_id
    dialog.swap_button.click()
    qtbot.waitUntil(lambda: dialog.plan.survivor_id != first and dialog.merge_button.isEnabled(),
                    timeout=WAIT)
    dialog.merge_button.click()
    qtbot.waitUntil(lambda: panel.undo_button.isEnabled(), timeout=WAIT)
    merge_id = panel.undo_id
    reopened = DuplicatesPanel(panel.runner)  # a panel opened later still offers the undo
    qtbot.addWidget(reopened)
    qtbot.waitUntil(lambda: reopened.undo_known, timeout=WAIT)
    assert reopened.undo_id == merge_id and reopened.undo_button.isEnabled()
    with db.session() as s:
        assert s.get(AccountRecord, first).deleted
        for m in s.scalars(select(OutboxRecord)):  # as if a sync had sent everything
            m.state = "sent"
        s.commit()
    fresh = DuplicatesPanel(panel.runner)
    qtbot.addWidget(fresh)
    qtbot.waitUntil(lambda: fresh.undo_known, timeout=WAIT)
    assert fresh.undo_id is None and not fresh.undo_button.isEnabled()
    panel.undo_button.click()
    qtbot.waitUntil(lambda: "already synced" in panel.status.text(), timeout=WAIT)
    with db.session() as s:
        assert s.get(AccountRecord, first).deleted


def test_a_rep_cannot_merge(qtbot: Any, panel: DuplicatesPanel,
                            planted: tuple[Any, str, str]) -> None:
    db, a, b = planted
    with db.session() as s:
        rep = next(u for u in list_users(session=s) if u.role is Role.REP)
        set_current_user(session=s, user_id=rep.id)
        assert current_user(session=s).role is Role.REP
    _find(qtbot, panel)
    dialog = _open_dialog(qtbot, panel, _row_of(panel, a, b))
    assert not dialog.merge_button.isEnabled()
    assert "Only a manager" in dialog.message.text()
    assert dialog.findChild(QRadioButton, "merge-email-b").text() == "ake@bageri.se"


def test_cancel_stops_the_search(qtbot: Any, panel: DuplicatesPanel) -> None:
    panel.find_button.click()
    panel.cancel_button.click()
    assert panel.find_button.isEnabled() and "cancelled" in panel.status.text()
    qtbot.wait(500)
    assert "cancelled" in panel.status.text()  # a late result does not overwrite it


def test_moved_text() -> None:
    assert moved_text({"contact": 0, "sale": 0}) == "nothing else to move"
    assert moved_text({"contact": 2, "sale": 1, "opportunity": 3, "visit": 0}) == (
        "moved 2 contacts, 1 sale and 3 opportunities")


def test_show_value_formats() -> None:
    assert show_value(None) == "—" and show_value(("a", "b")) == "a, b"
    assert show_value(59.1234567) == "59.12346" and show_value("x") == "x"


def test_main_window_has_a_data_quality_tab(qtbot: Any, runner: TaskRunner) -> None:
    from fieldcrm.ui.main_window import MainWindow
    from fieldcrm.ui.panels.data_quality_panel import DataQualityPanel
    from fieldcrm.ui.shell_tabs import TAB_TITLES, Tab

    window = MainWindow(runner, restore_state=False)
    qtbot.addWidget(window)
    assert window.tabs.tabText(Tab.DATA_QUALITY) == TAB_TITLES[Tab.DATA_QUALITY] == "Data quality"
    window.tabs.setCurrentIndex(Tab.DATA_QUALITY)
    panel = window.tabs.made(Tab.DATA_QUALITY)
    assert isinstance(panel, DataQualityPanel)
    panel.show_positions()
    assert panel.currentWidget() is panel.positions
    panel.positions.sig_status.emit("3 placed at their town")
    assert window.statusBar().currentMessage() == "3 placed at their town"
