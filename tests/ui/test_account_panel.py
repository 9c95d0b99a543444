"""Account panel: header, cadence state, contacts, timeline order, nearby accounts, refresh on writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import Qt

from fieldcrm.db.models import AccountRecord, ContactRecord, SaleRecord
from fieldcrm.domain.ids import new_id
from fieldcrm.services.accounts import create_account
from fieldcrm.services.contacts import create_contact, list_contacts
from fieldcrm.services.visits import list_visits, log_visit, plan_visit
from fieldcrm.ui.panels.account_panel import AccountPanel
from fieldcrm.ui.panels.contact_editor import ContactEditorDialog
from fieldcrm.ui.panels.visit_form import VisitFormDialog
from fieldcrm.ui.tasks import TaskRunner
from fieldcrm.ui.widgets.timeline import KIND_ROLE

CTRL = Qt.KeyboardModifier.ControlModifier
NOW = datetime.now(UTC)


@pytest.fixture
def runner(db, qtbot) -> Iterator[TaskRunner]:
    runner = TaskRunner(db)
    yield runner
    runner.shutdown()


@pytest.fixture
def seeded(db) -> dict[str, str]:
    """Three accounts (two 5 km apart, one far), with a contact, a sale and visits on the first."""
    with db.session() as s:
        main = create_account(session=s, fields={
            "name": "Nordic Dental", "status": "customer", "tier": "A", "tags": "dental, key",
            "street": "Kungsgatan 1", "postcode": "753 21", "city": "Uppsala",
            "phone": "018-12 34 56", "lat": 59.8586, "lon": 17.6389}).id
        near = create_account(session=s, fields={"name": "Fyris Vet", "city": "Uppsala",
                                                 "lat": 59.9036, "lon": 17.6389}).id
        far = create_account(session=s, fields={"name": "Gävle Optik", "city": "Gävle",
                                                "lat": 60.6749, "lon": 17.1413}).id
        contact = create_contact(session=s, account_id=main,
                                 fields={"name": "Anna Lind", "title": "Practice manager"}).id
        log_visit(session=s, account_id=main, rep_id=None, fields={
            "checked_in_at": NOW - timedelta(days=20), "outcome": "Interested", "notes": "Liked it",
            "next_step": "Call back", "duration_min": 30})
        planned = plan_visit(session=s, account_id=main, rep_id=None,
                             planned_at=NOW + timedelta(days=2)).id
        s.add(SaleRecord(id=new_id(), account_id=main, sold_on=(NOW - timedelta(days=10)).date(),
                         amount_minor=1234500, currency="SEK"))
        s.get(AccountRecord, main).created_at = NOW - timedelta(days=60)
        s.get(ContactRecord, contact).created_at = NOW - timedelta(days=30)
        s.commit()
    return {"main": main, "near": near, "far": far, "contact": contact, "planned": planned}


def _panel(qtbot, runner, account_id: str) -> AccountPanel:
    panel = AccountPanel(runner)
    qtbot.addWidget(panel)
    panel.resize(1100, 800)
    panel.show()
    with qtbot.waitSignal(panel.sig_loaded, timeout=5000):
        panel.show_account(account_id)
    qtbot.waitUntil(lambda: panel.nearby.list.count() > 0, timeout=5000)
    return panel


def test_shows_header_details_contacts_and_overdue(qtbot, runner, seeded):
    panel = _panel(qtbot, runner, seeded["main"])
    assert panel.current_account_id() == seeded["main"]
    assert panel.name_label.text() == "Nordic Dental"
    assert panel.chips.texts() == ["Customer", "Tier A", "dental", "key"]
    assert "Territory: none" in panel.meta_label.text()
    assert "Kungsgatan 1" in panel.fields["address"].text() and "753 21 Uppsala" in panel.fields["address"].text()
    assert panel.fields["phone"].text() == "+4618123456"
    visits = panel.fields["visits"].text()
    assert "20 days ago" in visits and "overdue by 6 days" in visits  # tier A: every 14 days
    assert panel.contacts.names() == ["Anna Lind — Practice manager"]


def test_timeline_newest_first_grouped_by_day(qtbot, runner, seeded):
    panel = _panel(qtbot, runner, seeded["main"])
    assert panel.timeline.entry_kinds() == ["planned", "sale", "visit", "contact", "created"]
    headings = panel.timeline.headings()
    assert len(headings) == 5 and not any(h.startswith(("Today", "Yesterday")) for h in headings)
    texts = [panel.timeline.item(i).text() for i in range(panel.timeline.count())]
    assert any("Visit: Interested" in t and "Liked it" in t and "Next: Call back" in t for t in texts)
    assert any("Sale 12,345.00 SEK" in t for t in texts)


def test_nearby_lists_close_accounts_and_opens_them(qtbot, runner, seeded):
    panel = _panel(qtbot, runner, seeded["main"])
    assert panel.nearby.ids() == [seeded["near"]]
    assert panel.nearby.list.item(0).text().startswith("  5.0 km   Fyris Vet")
    with qtbot.waitSignal(panel.nearby.list.model().rowsInserted, timeout=5000):
        panel.nearby.radius.setValue(150)
    qtbot.waitUntil(lambda: panel.nearby.ids() == [seeded["near"], seeded["far"]], timeout=5000)
    with qtbot.waitSignal(panel.sig_plan_route) as route:
        panel.nearby.route_button.click()
    assert route.args == [[seeded["main"], seeded["near"], seeded["far"]]]
    with qtbot.waitSignals([panel.sig_account_changed, panel.sig_loaded], timeout=5000):
        panel.nearby.list.itemActivated.emit(panel.nearby.list.item(1))
    assert panel.current_account_id() == seeded["far"] and panel.name_label.text() == "Gävle Optik"


def test_log_visit_from_panel_updates_last_visit_and_timeline(qtbot, db, runner, seeded):
    panel = _panel(qtbot, runner, seeded["main"])
    panel.buttons["log"].click()
    dialog = panel.findChild(VisitFormDialog)
    qtbot.waitUntil(dialog.is_ready)
    qtbot.keyClicks(dialog.notes, "Signed")
    qtbot.keyClick(dialog.notes, Qt.Key.Key_1, CTRL)
    with qtbot.waitSignal(panel.sig_loaded, timeout=5000):
        qtbot.keyClick(dialog.notes, Qt.Key.Key_Return, CTRL)
    assert "today" in panel.fields["visits"].text() and "overdue" not in panel.fields["visits"].text()
    assert panel.timeline.entry_kinds()[:2] == ["planned", "visit"]
    assert panel.timeline.headings()[1].startswith("Today")


def test_complete_planned_visit_from_timeline(qtbot, db, runner, seeded):
    panel = _panel(qtbot, runner, seeded["main"])
    item = next(panel.timeline.item(i) for i in range(panel.timeline.count())
                if panel.timeline.item(i).data(Qt.ItemDataRole.UserRole) == seeded["planned"])
    panel.timeline.itemDoubleClicked.emit(item)
    dialog = panel.findChild(VisitFormDialog)
    qtbot.waitUntil(dialog.is_ready)
    qtbot.keyClick(dialog.notes, Qt.Key.Key_2, CTRL)
    with qtbot.waitSignal(panel.sig_loaded, timeout=5000):
        qtbot.keyClick(dialog.notes, Qt.Key.Key_Return, CTRL)
    with db.session() as s:
        statuses = sorted(v.status.value for v in list_visits(session=s, account_id=seeded["main"]))
    assert statuses == ["completed", "completed"]
    assert "planned" not in panel.timeline.entry_kinds()


def test_contact_add_edit_delete(qtbot, db, runner, seeded):
    panel = _panel(qtbot, runner, seeded["main"])
    panel.buttons["contact"].click()
    dialog = panel.findChild(ContactEditorDialog)
    qtbot.keyClicks(dialog.form.field("name"), "Bo Ek")
    with qtbot.waitSignal(panel.sig_loaded, timeout=5000):
        qtbot.keyClick(dialog.form.field("name"), Qt.Key.Key_Return)
    assert panel.contacts.names() == ["Anna Lind — Practice manager", "Bo Ek"]
    assert "contact" in panel.timeline.entry_kinds()[:2]
    panel.contacts.list.item(1).setSelected(True)
    panel.contacts.edit_button.click()
    editor = [d for d in panel.findChildren(ContactEditorDialog) if d.isVisible()][-1]
    qtbot.waitUntil(editor.is_ready)
    qtbot.keyClicks(editor.form.field("title"), "Owner")
    with qtbot.waitSignal(panel.sig_loaded, timeout=5000):
        qtbot.keyClick(editor.form.field("title"), Qt.Key.Key_Return)
    assert panel.contacts.names()[1] == "Bo Ek — Owner"
    asked: list[str] = []
    panel.confirm = lambda question: asked.append(question) or True
    panel.contacts.list.item(0).setSelected(True)
    with qtbot.waitSignal(panel.sig_loaded, timeout=5000):
        panel.contacts.delete_button.click()
    assert asked == ["Delete the contact Anna Lind?"]
    assert panel.contacts.names() == ["Bo Ek — Owner"]
    with db.session() as s:
        assert [c.name for c in list_contacts(session=s, account_id=seeded["main"])] == ["Bo Ek"]


def test_empty_states(qtbot, db, runner):
    with db.session() as s:
        bare = create_account(session=s, fields={"name": "No Position AB"}).id
    panel = AccountPanel(runner)
    qtbot.addWidget(panel)
    assert panel.current_account_id() is None
    with qtbot.waitSignal(panel.sig_loaded, timeout=5000):
        panel.show_account(bare)
    qtbot.waitUntil(lambda: panel.nearby.list.count() == 1, timeout=5000)
    assert "no position" in panel.nearby.list.item(0).text()
    assert not panel.buttons["map"].isEnabled() and not panel.nearby.route_button.isEnabled()
    assert panel.fields["visits"].text().startswith("Never visited")
    assert panel.contacts.names() == [] and panel.contacts.list.count() == 1


def test_correct_a_logged_visit_and_cancel_a_planned_one(qtbot, db, runner, seeded):
    from PySide6.QtCore import QDate

    from fieldcrm.db.models import VisitAmendmentRecord
    from fieldcrm.ui.widgets.correction import VisitCorrectionDialog

    panel = _panel(qtbot, runner, seeded["main"])
    item = next(panel.timeline.item(i) for i in range(panel.timeline.count())
                if panel.timeline.item(i).data(KIND_ROLE) == "visit")
    panel.timeline.itemDoubleClicked.emit(item)
    dialog = panel.findChild(VisitCorrectionDialog)
    qtbot.waitUntil(dialog.is_ready)
    assert dialog.notes.toPlainText() == "Liked it" and dialog.outcome.currentText() == "Interested"
    dialog.notes.selectAll()
    qtbot.keyClicks(dialog.notes, "Liked it a lot")
    follow = QDate.currentDate().addDays(7)
    dialog.follow_up.setDate(follow)
    with qtbot.waitSignal(panel.sig_loaded, timeout=5000):
        qtbot.keyClick(dialog.next_step, Qt.Key.Key_Return)
    texts = [panel.timeline.item(i).text() for i in range(panel.timeline.count())]
    assert any("Liked it a lot" in t for t in texts)
    with db.session() as s:
        (amendment,) = s.query(VisitAmendmentRecord).all()
        visit = next(v for v in list_visits(session=s, account_id=seeded["main"]) if v.checked_in_at)
    assert "Liked it a lot" in amendment.fields_json and visit.follow_up_on == follow.toPython()
    panel.ask_reason = lambda question: "Closed for the holidays"
    with qtbot.waitSignal(panel.sig_loaded, timeout=5000):
        panel.cancel_planned(seeded["planned"])
    assert "cancelled" in panel.timeline.entry_kinds() and "planned" not in panel.timeline.entry_kinds()
    assert any("Closed for the holidays" in panel.timeline.item(i).text()
               for i in range(panel.timeline.count()))


def test_signal_emits_keep_true_alive(qtbot):
    """PySide6 6.12.0 on Python 3.11 drops a ref to True per emit; the widgets install a fix."""
    import sys

    from fieldcrm.ui.widgets import qtfix

    assert not qtfix.emit_loses_true()  # importing the panels installed the fix
    probe = qtfix._Probe()
    before = sys.getrefcount(True)
    for _ in range(20000):
        probe.sig_probe.emit()
    assert sys.getrefcount(True) >= before - 50
